"""The Graphs page (``graph`` runs) with AppTest, on a real attribution graph (fixture_runs.graph_run)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs

import numpy as np
import pytest

import fixture_runs
from app_fixtures import app, runs  # noqa: F401 (pytest fixtures)
from interp.graphs.prune import prune
from interp.graphs.run import read_graph
from interp.runs import runs_root, start_run

PAGE = "views/graphs.py"


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _arr(x) -> np.ndarray:
    if isinstance(x, dict) and "bdata" in x:
        a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return a.reshape([int(n) for n in str(x["shape"]).split(",")]) if "shape" in x else a
    return np.asarray(x)


def _figure(at) -> dict:
    charts = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    assert len(charts) == 1, len(charts)
    return charts[0]


def _traces(at, name: str) -> list[dict]:
    return [t for t in _figure(at)["data"] if t.get("name") == name]


def _feature_points(at) -> int:
    (feats,) = _traces(at, "features")
    return len(_arr(feats["x"]))


def _ref(run) -> str:
    return f"{run.kind}/{run.name}"


@pytest.fixture
def graph_run(runs):
    return runs["graph"]


def test_graphs_page_draws_the_runs_pruned_graph(app, graph_run):
    at = app(PAGE, run=_ref(graph_run))
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    graph, extra = read_graph(graph_run)
    kept = int(extra["node_keep"][: graph.n_feat].sum())
    assert kept == graph_run.metrics["kept_features"] > 1
    assert _feature_points(at) == kept  # every kept feature is one point, and nothing else is
    assert _traces(at, "positive edge") and _traces(at, "negative edge")
    assert _traces(at, "embeddings") and _traces(at, "logits")
    assert any(m.value == f"**Prompt:** {fixture_runs.GRAPH_PROMPT}" for m in at.markdown)
    table = at.dataframe[0].value  # the top logits
    assert list(table["probability"]) == pytest.approx(graph.logit_probs.tolist())
    assert list(table["token"]) == [repr(s) for s in graph.meta["logit_strs"]]
    assert [s.value for s in at.slider] == [0.8, 0.98]  # the thresholds the run was pruned with


def test_a_lower_node_threshold_draws_fewer_features(app, graph_run):
    at = app(PAGE, run=_ref(graph_run))
    before = _feature_points(at)
    at.slider(key="graph_node_threshold").set_value(0.5).run()
    _ok(at)
    assert not at.error
    graph, _ = read_graph(graph_run)
    expected = int(prune(graph, 0.5, 0.98).node_mask[: graph.n_feat].sum())
    assert _feature_points(at) == expected < before
    assert at.query_params["node_threshold"] == "0.5"
    assert len(at.selectbox(key="graph_feature").options) == expected  # the picker follows the pruning
    at.slider(key="graph_node_threshold").set_value(0.8).run()  # back to the run's own: the URL forgets it
    assert "node_threshold" not in at.query_params and _feature_points(at) == before


def test_the_url_reopens_thresholds_and_feature(app, graph_run):
    graph, _ = read_graph(graph_run)
    pruned = prune(graph, 0.6, 0.95)
    feats = np.flatnonzero(pruned.node_mask[: graph.n_feat].numpy())
    node = int(feats[np.argsort(-pruned.node_influence[feats].numpy())][-1])  # the least influential kept one
    at = app(PAGE, run=_ref(graph_run), node_threshold="0.6", edge_threshold="0.95", node=str(node))
    _ok(at)
    assert [s.value for s in at.slider] == [0.6, 0.95]
    assert at.selectbox(key="graph_feature").value == node
    assert _feature_points(at) == len(feats)
    other = fixture_runs.graph_run(runs_root())  # picking another run starts it at its own thresholds
    at.run()
    picker = at.selectbox[0]
    picker.select_index(next(i for i, label in enumerate(picker.options) if label.endswith(other.name))).run()
    _ok(at)
    assert at.query_params["run"] == _ref(other) and "node_threshold" not in at.query_params
    assert [s.value for s in at.slider] == [0.8, 0.98]
    _, extra = read_graph(other)
    kept = np.flatnonzero(extra["node_keep"][: graph.n_feat].numpy())
    top = int(kept[np.argmax(extra["node_influence"][kept].numpy())])
    assert top != node and at.selectbox(key="graph_feature").value == top  # its most influential, not the link's
    assert at.query_params["node"] == str(top)


def test_choosing_a_feature_shows_its_edges(app, graph_run):
    at = app(PAGE, run=_ref(graph_run))
    first = int(at.selectbox(key="graph_feature").value)
    assert len(at.selectbox(key="graph_feature").options) > 1
    at.selectbox(key="graph_feature").select_index(1).run()
    _ok(at)
    node = int(at.selectbox(key="graph_feature").value)
    graph, extra = read_graph(graph_run)
    assert at.query_params["node"] == str(node)
    assert node != first and [_shown(h.value) for h in at.subheader] == [graph.label(node)]
    adj = graph.adjacency.numpy()
    incoming, outgoing = at.dataframe[1].value, at.dataframe[2].value
    src = np.flatnonzero(adj[node])
    top_in = src[np.argsort(-np.abs(adj[node, src]), kind="stable")][:12]
    assert list(incoming["node"]) == [graph.label(int(j)) for j in top_in]
    assert list(incoming["weight"]) == pytest.approx(adj[node, top_in].tolist())
    dst = np.flatnonzero(adj[:, node])
    assert len(outgoing) == min(12, len(dst)) > 0
    assert set(outgoing["node"]) <= {graph.label(int(j)) for j in dst}
    assert list(outgoing["kept"]) == [bool(extra["edge_keep"][graph_label_index(graph, n), node])
                                      for n in outgoing["node"]]
    (ring,) = _traces(at, "selected")
    (feats,) = _traces(at, "features")
    kept = np.flatnonzero(extra["node_keep"][: graph.n_feat].numpy())
    i = list(kept).index(node)
    assert (_arr(ring["x"])[0], _arr(ring["y"])[0]) == (_arr(feats["x"])[i], _arr(feats["y"])[i])
    assert _arr(feats["customdata"]).reshape(-1, 2)[i].tolist() == [int(graph.feat_layer[node]),
                                                                      int(graph.feat_idx[node])]


def graph_label_index(graph, label: str) -> int:
    return next(i for i in range(graph.n_nodes) if graph.label(i) == label)


def test_the_feature_links_to_the_features_page_only_when_it_can_show_it(app, runs):
    root = runs_root()
    linked = fixture_runs.graph_run(root, transcoders=runs["sae"].path)
    at = app(PAGE, run=_ref(linked))
    _ok(at)
    node = int(at.selectbox(key="graph_feature").value)
    graph, _ = read_graph(linked)
    (link,) = [e.proto for e in at.get("page_link")]
    assert link.page == "features"
    assert parse_qs(link.query_string) == {"run": [_ref(runs["sae"])], "feature": [str(int(graph.feat_idx[node]))],
                                           "layer": [str(int(graph.feat_layer[node]))]}
    with start_run("probe", {}, model="toy:toylm", slug="not-features", root=root) as probe:
        pass
    other = fixture_runs.graph_run(root, transcoders=probe.path)
    at = app(PAGE, run=_ref(other))
    _ok(at)
    assert not at.get("page_link")
    assert any("which the Features page does not show" in _shown(c.value) and probe.name in _shown(c.value)
               for c in at.caption)
    with start_run("transcoder", {"kind": "plt"}, model="toy:toylm", slug="tc", root=root) as tc:
        pass  # a transcoder run without feature dashboards (tests/apps/test_features_transcoders.py: with them)
    other = fixture_runs.graph_run(root, transcoders=tc.path)
    at = app(PAGE, run=_ref(other))
    _ok(at)
    assert not at.get("page_link")
    assert any("has no feature dashboards for layer" in _shown(c.value) and tc.name in _shown(c.value)
               for c in at.caption)
    at = app(PAGE, run=_ref(runs["graph"]))  # its transcoders are a folder that is no run
    assert not at.get("page_link")
    assert any("are not a run in this runs folder" in _shown(c.value) for c in at.caption)


def test_a_broken_graph_run_is_one_error_and_the_good_one_stays_selectable(app, graph_run):
    import shutil

    broken = graph_run.path.parent / "20991231-000000-broken-graph"  # the newest: the page's default
    shutil.copytree(graph_run.path, broken)
    data = (broken / "graph.safetensors").read_bytes()
    (broken / "graph.safetensors").write_bytes(data[: len(data) // 2])
    at = app(PAGE, run=f"graph/{broken.name}")
    _ok(at)
    assert len(at.error) == 1 and broken.name in _shown(at.error[0].value), [e.value for e in at.error]
    assert "graph.safetensors" in _shown(at.error[0].value)
    picker = at.selectbox[0]
    good = next(i for i, label in enumerate(picker.options) if label.endswith(f" · {graph_run.name}"))
    picker.select_index(good).run()
    _ok(at)
    assert not at.error and _feature_points(at) == graph_run.metrics["kept_features"]
    assert at.query_params["run"] == _ref(graph_run)


def test_markdown_in_the_prompt_is_shown_as_text(app, runs):
    evil = "[x](http://evil) ![](http://evil/i.png) **b** :red[r]\n# heading"
    run = fixture_runs.graph_run(runs_root(), prompt=evil)
    at = app(PAGE, run=_ref(run))
    _ok(at)
    (prompt,) = [m.value for m in at.markdown if m.value.startswith("**Prompt:**")]
    assert _shown(prompt) == "**Prompt:** " + evil.replace("\n", " ⏎ ")
    assert not any(marker in re.sub(r"\\.", "", prompt[len("**Prompt:**"):])
                   for marker in ("](", "![", "**b**", ":red[", "\n"))


def test_the_runs_page_links_a_graph_run_to_the_graphs_page(app, graph_run):
    at = app(run=_ref(graph_run))
    _ok(at)
    links = dict(zip(at.dataframe[0].value["run"], at.dataframe[0].value["open"]))
    assert links[graph_run.name] == f"./graphs?run={_ref(graph_run)}"
    assert at.get("page_link")[0].proto.page == "graphs"

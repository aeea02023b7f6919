"""The Features page on ``transcoder`` runs (one feature set per layer), and the Graphs page's links into it.

The transcoder run (fixture_runs.transcoder_run) holds the very transcoders the fixture graph is built
on, with real dashboards computed over a capture, so a feature clicked in the graph must land on the
same layer and latent's stored contexts.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import numpy as np
import pytest

import fixture_runs
from app_fixtures import app  # noqa: F401 (pytest fixture)
from interp.graphs.run import read_graph
from interp.runs import runs_root
from interp.viz.sae import context_html

PAGE = "views/features.py"


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _shown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _html(at) -> str:
    return "\n".join(e.proto.body for e in at.get("html"))


def _ref(run) -> str:
    return f"{run.kind}/{run.name}"


def _metrics(at) -> dict[str, str]:
    return {_shown(m.label): m.value for m in at.get("metric")}


@pytest.fixture
def tc_run():
    return fixture_runs.transcoder_run(runs_root())


def _arrays(run, layer: int) -> dict[str, np.ndarray]:
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in run.read_tensors(f"features_L{layer}").items()}


def _expect_page_shows(at, run, layer: int, feature: int) -> None:
    """The page is on ``layer``'s feature set at ``feature``: its numbers and top contexts are that latent's."""
    f, vocab = _arrays(run, layer), run.read_json("vocab")
    assert at.selectbox(key="layer").value == layer and at.number_input(key="feature").value == feature
    assert at.query_params["layer"] == str(layer) and at.query_params["feature"] == str(feature)
    assert f"Feature {feature}" in [_shown(h.value) for h in at.subheader]
    shown = _metrics(at)
    assert shown["max activation"] == f"{float(f['max_act'][feature]):.3f}"
    assert shown[f"fvu_L{layer}"] == f"{fixture_runs.TRANSCODER_METRICS[f'fvu_L{layer}']:.4g}"
    assert "fvu_L" + str(1 - layer) not in shown  # only this layer's
    html = _html(at)
    live = f["top_value"][feature] > 0
    assert live.sum() >= 3
    for toks, acts in zip(f["top_tokens"][feature][live], f["top_acts"][feature][live]):
        assert context_html(toks, acts, vocab, float(f["max_act"][feature]), 4) in html  # the stored window, drawn


def _busy_feature(run, layer: int) -> int:
    """A latent with several top contexts, whose max activation differs between the two layers' sets."""
    f0, f1 = _arrays(run, 0), _arrays(run, 1)
    ok = [i for i in range(32) if (_arrays(run, layer)["top_value"][i] > 0).sum() >= 3
          and f"{f0['max_act'][i]:.3f}" != f"{f1['max_act'][i]:.3f}"]
    assert ok
    return ok[len(ok) // 2]


def test_the_page_shows_a_layer_of_a_transcoder_run_and_switches_layers(app, tc_run):
    i = _busy_feature(tc_run, 1)
    at = app(PAGE, run=_ref(tc_run), layer="1", feature=str(i))
    _ok(at)
    _expect_page_shows(at, tc_run, 1, i)
    assert any("blocks.1.ln2.hook_normalized" in _shown(c.value) and "layer 1" in _shown(c.value) for c in at.caption)
    titles = [m.value for m in at.markdown]
    assert any("Logit effects" in t for t in titles) and any("Nearest features" in t for t in titles)
    at.selectbox(key="layer").select(0).run()
    _ok(at)
    _expect_page_shows(at, tc_run, 0, i)  # the same latent index, now layer 0's


def test_the_graph_pages_feature_link_lands_on_that_layer_and_latent(app, tc_run):
    graph_run = fixture_runs.graph_run(runs_root(), transcoders=tc_run.path)
    graph, extra = read_graph(graph_run)
    kept = np.flatnonzero(extra["node_keep"][: graph.n_feat].numpy())
    layers = graph.feat_layer.numpy()
    node = int(next(n for n in kept if layers[n] == 1))  # a layer-1 feature: a lost layer would show
    at = app("views/graphs.py", run=_ref(graph_run), node=str(node))
    assert not at.exception and at.selectbox(key="graph_feature").value == node
    (link,) = [e.proto for e in at.get("page_link")]
    assert link.page == "features"
    params = {k: v[0] for k, v in parse_qs(link.query_string).items()}
    layer, idx = int(graph.feat_layer[node]), int(graph.feat_idx[node])
    assert params == {"run": _ref(tc_run), "feature": str(idx), "layer": str(layer)}
    at = app(PAGE, **params)  # where the link goes
    _ok(at)
    _expect_page_shows(at, tc_run, layer, idx)


def test_a_transcoder_run_without_dashboards_says_how_to_make_them(app):
    bare = fixture_runs.transcoder_run(runs_root(), features=False)
    at = app(PAGE, run=_ref(bare))
    assert not at.exception and not at.error
    assert any("no feature dashboards" in _shown(i.value) and "interp transcoder features" in i.value for i in at.info)
    graph_run = fixture_runs.graph_run(runs_root(), transcoders=bare.path)
    at = app("views/graphs.py", run=_ref(graph_run))
    assert not at.exception and not at.get("page_link")
    assert any("has no feature dashboards for layer" in _shown(c.value) and bare.name in _shown(c.value)
               for c in at.caption)


def test_the_runs_page_opens_a_transcoder_run_on_the_features_page(app, tc_run):
    at = app(run=_ref(tc_run))
    assert not at.exception
    links = dict(zip(at.dataframe[0].value["run"], at.dataframe[0].value["open"]))
    assert links[tc_run.name] == f"./features?run={_ref(tc_run)}"


def test_try_your_own_text_runs_the_layers_transcoder(app, tc_run):
    import torch

    from interp.datasets import tokenize_corpus
    from interp.models import load_model

    text, i = "Mr. Darcy looked at the sea.", _busy_feature(tc_run, 1)
    at = app(PAGE, run=_ref(tc_run), layer="1", feature=str(i))
    at.text_area(key="own_text").input(text).run()
    at.button(key="own_go").click().run()
    _ok(at)
    model = load_model("toy:toylm", device="cpu")  # the same numbers, independently: layer 1's MLP input, encoded
    toks = tokenize_corpus(model.tokenizer, [text], 128, max_seqs=1)
    n = int(toks.attention_mask[0].sum())
    hook = "blocks.1.ln2.hook_normalized"
    _, cache = model.run_with_cache(toks.tokens[:1, :n], names_filter=lambda h: h == hook)
    with torch.no_grad():
        z = fixture_runs.graph_transcoders()[1].encode(cache[hook][0])  # [pos, d_sae]
    assert any(f"Feature {i} on your text (max {float(z[:, i].max()):.3f})" in m.value for m in at.markdown)
    top = at.dataframe[-1].value
    assert int(top["feature"].iloc[0]) == int(z.max(0).values.argmax())


def test_try_your_own_text_names_a_damaged_transcoder_file(app, tc_run):
    """The dashboards draw without the weights; the live section, which loads them, names the bad file."""
    w = tc_run.path / "transcoders" / "L1" / "weights.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    at = app(PAGE, run=_ref(tc_run), layer="1")
    at.text_area(key="own_text").input("Mr. Darcy looked at the sea.").run()
    at.button(key="own_go").click().run()
    assert not at.exception
    (err,) = [_shown(e.value) for e in at.error]  # one message, from the live section, naming the file
    assert err.startswith("Could not show the live activations") and "L1/weights.safetensors" in err, err

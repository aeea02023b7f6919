"""Graphs: an attribution graph (``graph`` run) over its prompt, re-pruned in the page, one feature at a time.

Reads the run with ``interp.graphs.read_graph`` (once per run and file mtimes: the graph
comes back as a dense n_nodes² matrix, too big to re-read or copy on every rerun, so it
is a cached resource, not cached data), re-prunes with ``interp.graphs.prune.prune`` when
the sliders leave the thresholds the run was pruned with, and draws with
``interp.viz.graphs.graph_figure``. No model or transcoder is loaded. The thresholds and
the chosen feature are mirrored in the URL (``?run=graph/…&node_threshold=0.7&node=12``).
"""

from __future__ import annotations

import inspect
import os

import numpy as np
import pandas as pd
import streamlit as st

import common
from common import plain
from interp.runs import RunError, load_run
from interp.viz.base import display_token
from interp.viz.graphs import clicked_node, graph_figure

META_KEYS = ["n_feat", "n_err", "n_pos", "n_logit", "token_strs", "layers", "logit_pos", "logit_strs"]
FEATURES_PAGE = "views/features.py"
CLICKABLE = "on_select" in inspect.signature(st.plotly_chart).parameters  # Streamlit >= 1.35
K_NODE, K_EDGE, K_FEAT, K_CHART = "graph_node_threshold", "graph_edge_threshold", "graph_feature", "graph_chart"


@st.cache_resource(show_spinner="Reading the graph…", max_entries=4)
def _read(path: str, mtimes: tuple[float, ...]):
    """``read_graph(run)``, any failure turned into a RunError that names the run (a page shows it, once)."""
    from interp.graphs.run import read_graph

    run = load_run(path)
    try:
        return read_graph(run)
    except RunError:
        raise
    except KeyError as exc:
        raise RunError(f"The graph artifact of run {run.name} lacks the tensor {exc}; docs/runs.md lists what a "
                       "graph run must hold.") from exc
    except Exception as exc:  # noqa: BLE001 - shapes or indices that do not fit: the file is not a graph
        raise RunError(f"The graph of run {run.name} cannot be read ({type(exc).__name__}: {exc}); "
                       "re-run `interp graph`.") from exc


@st.cache_resource(show_spinner="Pruning…", max_entries=16)
def _prune(path: str, mtimes: tuple[float, ...], node_t: float, edge_t: float, _graph):
    from interp.graphs.prune import prune

    p = prune(_graph, node_t, edge_t)
    return p.node_mask.numpy(), p.edge_mask.numpy(), p.node_influence.numpy()


def _number(v, default: float) -> float:
    """A threshold from meta.json (run data: a string or null there means the default, not a failed page)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return default
    return v if 0 < v <= 1 else default


def _reset_on_run_change(ref: str) -> None:
    """Another run picked: its own thresholds and features, not the last run's sliders and URL keys.

    (On the first run of the page the URL's keys stay: they are the view a shared link asks for.)
    """
    last = st.session_state.get("_graph_run")
    if last != ref:
        for k in (K_NODE, K_EDGE, K_FEAT, "_graph_click"):
            st.session_state.pop(k, None)
        if last is not None:
            common.qp_set(node_threshold=None, edge_threshold=None, node=None)
        st.session_state["_graph_run"] = ref


def _apply_click(graph, keep) -> None:
    """A feature clicked in the figure (last run's chart state) becomes the selected feature, once per click."""
    state = st.session_state.get(K_CHART) if CLICKABLE else None
    try:
        points = list(state["selection"]["points"]) if state else []
    except (KeyError, TypeError):
        points = []
    sig = repr(points[:1])
    if not points:
        st.session_state.pop("_graph_click", None)
    elif st.session_state.get("_graph_click") != sig:
        st.session_state["_graph_click"] = sig
        node = clicked_node(graph, keep, dict(points[0]))
        if node is not None:
            st.session_state[K_FEAT] = node


def _edges(graph, adj_row: np.ndarray, kept_row: np.ndarray, limit: int = 12) -> pd.DataFrame:
    """The largest |weight| edges of one row/column of the adjacency, with the other end's label."""
    nz = np.flatnonzero(adj_row)
    order = nz[np.argsort(-np.abs(adj_row[nz]), kind="stable")][:limit]
    return pd.DataFrame({"node": [graph.label(int(j)) for j in order], "weight": adj_row[order],
                         "kept": kept_row[order]})


def _feature_link(run, layer: int, idx: int) -> None:
    """A link to the latent on the Features page, when the graph's transcoders are a run it lists and shows.

    The config's path is untrusted text: it is only compared with the listed runs' paths (never
    opened or stat-ed), so a graph run cannot make the page probe the server's folders.
    """
    tc = run.config.get("transcoders")
    if not isinstance(tc, str) or not tc:
        st.caption("This run does not record its transcoders, so there is no feature page to open.")
        return
    runs, _ = common.all_runs()
    wanted = os.path.normpath(os.path.join(str(common.root()), tc))
    match = next((r for r in runs if common.run_ref(r) == tc or str(r.path.resolve()) == wanted), None)
    if match is None:
        st.caption(f"The transcoders ({plain(tc)}) are not a run in this runs folder, so there is no "
                   "feature page to open.")
    elif common.PAGE_FOR_KIND.get(match.kind) != FEATURES_PAGE:
        st.caption(f"Feature {idx} of layer {layer} is in the {plain(match.kind)} run {plain(match.name)}, "
                   "which the Features page does not show.")
    elif match.kind == "transcoder" and f"features_L{layer}" not in match.artifacts:
        st.caption(f"The transcoder run {plain(match.name)} has no feature dashboards for layer {layer}; "
                   f"compute them (`interp transcoder features --run` {plain(match.path)}) to open feature {idx} there.")
    else:
        st.page_link(FEATURES_PAGE, label=f"Open feature {idx} on the Features page →",
                     icon=":material/arrow_forward:",
                     query_params={"run": common.run_ref(match), "feature": str(idx), "layer": str(layer)})


def show_graph(run) -> None:
    meta = common.json_artifact(run, "meta", META_KEYS)
    mtimes = (*common.stamp(run, "graph"), common.stamp(run, "meta")[1])
    graph, extra = _read(str(run.path), mtimes)
    _reset_on_run_change(common.run_ref(run))

    common.metric_row(run.metrics, ["features", "edges", "kept_features", "kept_edges", "top_logit", "top_prob"])
    st.caption(f"{plain(run.model)} · {graph.n_pos} tokens · layers {plain(graph.layers)} · "
               f"{graph.n_feat} active features · transcoders {plain(run.config.get('transcoders', '?'))}")
    common.show_config(run)
    left, right = st.columns([3, 2], gap="large")
    prompt = meta.get("prompt") or run.config.get("prompt") or "".join(graph.token_strs)
    left.markdown(f"**Prompt:** {plain(prompt)}")
    probs = graph.logit_probs.numpy()
    logits = list(graph.meta.get("model_logits") or [])
    right.markdown(f"**Top logits** (next token after position {graph.logit_pos})")
    right.dataframe(pd.DataFrame({
        "token": [repr(display_token(str(s))) for s in graph.meta.get("logit_strs", [])][: len(probs)],
        "probability": probs, **({"logit": logits} if len(logits) == len(probs) else {})}),
        hide_index=True, width="stretch",
        column_config={"probability": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0)})

    run_nt, run_et = _number(meta.get("node_threshold"), 0.8), _number(meta.get("edge_threshold"), 0.98)
    if K_NODE not in st.session_state:
        st.session_state[K_NODE] = round(common.qp_float("node_threshold", min(max(run_nt, 0.5), 1.0), 0.5, 1.0), 2)
    if K_EDGE not in st.session_state:
        st.session_state[K_EDGE] = round(common.qp_float("edge_threshold", min(max(run_et, 0.5), 1.0), 0.5, 1.0), 3)
    c1, c2 = left.columns(2)
    node_t = c1.slider("node threshold", 0.5, 1.0, step=0.01, key=K_NODE,
                       help="keep the features that together carry this fraction of the influence on the logits")
    edge_t = c2.slider("edge threshold", 0.5, 1.0, step=0.005, key=K_EDGE, format="%.3f",
                       help="then keep the edges that carry this fraction of the edge influence")
    if abs(node_t - run_nt) < 1e-9 and abs(edge_t - run_et) < 1e-9:  # the run's own pruning, as recorded
        keep, ekeep, inf = (extra["node_keep"].numpy(), extra["edge_keep"].numpy(),
                            extra["node_influence"].numpy())
    else:
        keep, ekeep, inf = _prune(str(run.path), mtimes, float(node_t), float(edge_t), graph)
    common.qp_set(node_threshold=None if abs(node_t - run_nt) < 1e-9 else node_t,
                  edge_threshold=None if abs(edge_t - run_et) < 1e-9 else edge_t)

    feats = np.flatnonzero(keep[: graph.n_feat])
    feats = feats[np.argsort(-inf[feats], kind="stable")]
    if not feats.size:
        st.info("No feature survives this pruning: raise the node threshold.")
        selected = None
    else:
        _apply_click(graph, keep)
        if st.session_state.get(K_FEAT) not in set(feats.tolist()):
            wanted = common.qp_int("node", -1, -1)
            st.session_state[K_FEAT] = wanted if wanted in set(feats.tolist()) else int(feats[0])
        selected = left.selectbox("feature", feats.tolist(), key=K_FEAT,
                                format_func=lambda i: f"{graph.label(i)} · influence {inf[i]:.3g}",
                                help="kept features, most influential first" +
                                     ("; or click one in the graph" if CLICKABLE else ""))
    common.qp_set(node=selected)
    st.caption(f"{int(keep[:graph.n_feat].sum())} of {graph.n_feat} features and "
               f"{int((ekeep & (graph.adjacency.numpy() != 0)).sum())} edges kept · blue edges excite, red inhibit; "
               "error nodes (diamonds) hold what the transcoders miss")
    fig = graph_figure(graph, keep, ekeep, inf, selected=selected)
    if CLICKABLE:
        st.plotly_chart(fig, key=K_CHART, config=common.CHART_CONFIG, on_select="rerun", selection_mode="points")
    else:
        common.chart(st, fig, key=K_CHART)

    if selected is not None:
        _show_feature(run, graph, selected, ekeep, inf)


def _show_feature(run, graph, i: int, ekeep: np.ndarray, inf: np.ndarray) -> None:
    layer, idx, pos = int(graph.feat_layer[i]), int(graph.feat_idx[i]), int(graph.feat_pos[i])
    adj = graph.adjacency.numpy()
    st.subheader(plain(graph.label(i)))
    st.caption(f"transcoder layer {layer} · feature {idx} · position {pos} (token "
               f"{plain(repr(display_token(graph.token_strs[pos])))}) · activation {float(graph.feat_act[i]):.4g} · "
               f"influence {inf[i]:.4g}")
    left, right = st.columns(2)
    left.markdown("**Incoming edges** (direct effect on this feature's pre-activation)")
    left.dataframe(_edges(graph, adj[i], ekeep[i]), hide_index=True, width="stretch")
    right.markdown("**Outgoing edges** (this feature's direct effect on later nodes)")
    right.dataframe(_edges(graph, adj[:, i], ekeep[:, i]), hide_index=True, width="stretch")
    _feature_link(run, layer, idx)


st.title("Graphs")
common.show_run(["graph"], "graph run", show_graph)

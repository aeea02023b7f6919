"""Circuits: discovered graphs and their faithfulness (``circuit`` runs), patching sweeps (``patching`` runs)."""

import html

import pandas as pd
import streamlit as st

import common
from common import plain
from interp.viz.circuits import circuit_graph_figure, faithfulness_figure, patching_heatmap
from interp.viz.recovery import edge_category, recovery_graph_figure


def show_circuit(run):
    graph = common.json_artifact(run, "graph", ["nodes", "edges"])
    common.metric_row(run.metrics, ["edges_kept", "edges_total", "fraction_kept", "metric_recovered",
                                    "faithfulness_auc"])
    st.caption(f"{plain(run.model)} · {plain(graph.get('method', run.config.get('method', '?')))} · "
               f"metric {plain(run.config.get('metric', '?'))} · ablation {plain(run.config.get('ablation', '?'))}")
    common.show_config(run)
    only = st.toggle("circuit edges only", value=True, key="circuit_only")
    common.chart(st, circuit_graph_figure(graph, only_circuit=only), key="graph")
    if "faithfulness" in run.artifacts:
        fa = common.json_artifact(run, "faithfulness", ["fraction_kept", "metric_recovered"])
        ablation = html.escape(str(fa.get("ablation", "?")))  # plotly titles read HTML tags (links among them)
        common.chart(st, faithfulness_figure(fa, title=f"Faithfulness ({ablation} ablation"
                                                       + (f", AUC {fa['auc']:.3f})" if "auc" in fa else ")")),
                     key="faith")
    if "adversarial" in run.artifacts:
        adv = common.json_artifact(run, "adversarial")
        st.markdown("**Adversarial evaluation**: KL(full model ‖ circuit) per input; the worst inputs")
        common.metric_row({f"KL p{k}": v for k, v in adv.get("percentiles", {}).items()}
                          | ({"mean KL": adv["mean_kl"]} if "mean_kl" in adv else {}),
                          [*(f"KL p{k}" for k in adv.get("percentiles", {})), "mean KL"])
        st.dataframe(pd.DataFrame(adv.get("worst", [])), hide_index=True)
    with st.expander("edges"):
        st.dataframe(pd.DataFrame(graph["edges"]).sort_values("score", key=abs, ascending=False),
                     hide_index=True)


def show_patching(run):
    t = common.tensors(run, "results")
    meta = common.json_artifact(run, "meta")
    st.caption(f"{plain(run.model)} · metric {plain(meta.get('metric'))} · {plain(meta.get('direction'))} · "
               f"clean {plain(meta.get('clean_value'))} / corrupt {plain(meta.get('corrupt_value'))} "
               "(shown normalised: 1 = clean, 0 = corrupt)")
    common.show_config(run)
    sweeps = [k for k in ("resid_pre", "attn_out", "mlp_out") if k in t]
    if not sweeps and "heads" not in t:
        raise ValueError(f"the results artifact holds none of resid_pre/attn_out/mlp_out/heads "
                         f"(it has {sorted(t)}).")
    for k in sweeps:
        common.chart(st, patching_heatmap(t[k], k, meta.get("pos_labels"), title=f"{k}: layer × position"),
                     key=f"patch_{k}")
    if "heads" in t:
        common.chart(st, patching_heatmap(t["heads"], "heads", title="heads: layer × head"), key="patch_heads")


def show_recovery(run):
    rec = common.json_artifact(run, "recovery", ["rows", "truth"])
    graphs = common.json_artifact(run, "graphs")
    st.caption("Circuit discovery on compiled models, whose circuits are known by construction: edge ROC-AUC "
               "against the ground truth (random ranking ≈ 0.5), precision and recall at the chosen threshold.")
    common.metric_row(run.metrics, ["min_auc_zero_acdc", "min_auc_zero_eap_ig", "min_auc_zero_eap",
                                    "random_auc_mean"])
    common.show_config(run)
    cols = ["model", "ablation", "method", "auc", "auc_raw", "random_auc", "precision", "recall", "edges_kept",
            "threshold"]
    st.dataframe(pd.DataFrame(rec["rows"]).reindex(columns=cols), hide_index=True)
    keys = [k for k in graphs if isinstance(graphs[k], dict)]
    if not keys:
        st.info("This run has no graphs to compare.")
        return
    key = st.selectbox("circuit", keys, format_func=lambda k: " · ".join(k.split("|")), key="recovery_graph")
    graph = graphs[key]
    spec = key.split("|")[0]
    truth = rec["truth"].get(spec, {})
    st.caption(f"{plain(spec)}: {plain(truth.get('description', ''))} · "
               f"{plain(truth.get('n_true', '?'))} true edges of {plain(truth.get('n_edges', '?'))}")
    common.chart(st, recovery_graph_figure(graph, title=f"found vs ground truth: {html.escape(key)}"),
                 key="recovery")
    with st.expander("edges"):
        table = pd.DataFrame(graph["edges"])
        table["category"] = [edge_category(e) or "" for e in graph["edges"]]
        st.dataframe(table, hide_index=True)


common.run_sections("Circuits", [("discovered circuit", ["circuit"], "circuit run", show_circuit),
                                  ("activation patching", ["patching"], "patching run", show_patching),
                                  ("ground truth", ["circuit-recovery"], "circuit-recovery run", show_recovery)])

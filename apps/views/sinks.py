"""Sinks: where attention goes when it has nowhere to go (``sinks`` and ``sink-emergence`` runs).

Layer x head maps of the sink rate (fraction of samples with alpha_0 > epsilon) and
the mean sink score alpha_k at a chosen key position, attention mass per token
category, every head on the run's example text, the sink heads and massive
activations found, and sink-rate (alpha_0, loss) curves over training from emergence runs.
"""

import pandas as pd
import streamlit as st

import common
from common import plain
from interp.viz.attention import head_grid, head_heatmap
from interp.viz.sinks import category_mass_bars, emergence_curves


def show_sinks(run):
    t = common.tensors(run, "sinks", ["sink_rate"])
    meta = common.json_artifact(run, "meta")
    common.metric_row(run.metrics, ["sink_rate", "n_sink_heads", "n_massive"])
    eps = meta.get("epsilon", run.config.get("epsilon"))
    st.caption(f"{plain(run.model)} · ε = {plain(eps)}")
    common.show_config(run)
    c1, c2 = st.columns(2)
    common.chart(c1, head_heatmap(t["sink_rate"], title=f"Sink rate (α₀ > {eps})", zmin=0, zmax=1,
                                 colorscale="Oranges"), key="rate")
    if "alpha" in t:
        k_max = int(t["alpha"].shape[2]) - 1
        k = c2.number_input("key position for α_k", 0, k_max, 0, key="alpha_k")
        common.chart(c2, head_heatmap(t["alpha"][:, :, int(k)], title=f"Mean sink score α_{int(k)}",
                                     zmin=0, zmax=1, colorscale="Oranges"), key="alpha")
    if "mass" in t and meta.get("categories"):
        common.chart(st, category_mass_bars(t["mass"], meta["categories"]), key="mass")
    if "example_pattern" in t:
        tokens = meta.get("example_tokens")
        pattern = t["example_pattern"]  # [layer, head, q, k]
        sink = t["mass"][..., 0] if "mass" in t and t["mass"].shape[:2] == pattern.shape[:2] else None
        common.chart(st, head_grid(pattern, sink, title="Every head on one example" + (
            f" (titles: mean mass on {meta['categories'][0]} over the corpus)" if sink is not None and
            meta.get("categories") else ""), tokens=tokens if tokens and len(tokens) == pattern.shape[-1] else None),
            key="example")
    if meta.get("sink_heads"):
        st.markdown("**Sink heads**")
        st.dataframe(pd.DataFrame(meta["sink_heads"]), hide_index=True)
    if meta.get("massive"):
        st.markdown("**Massive activations**")
        st.dataframe(pd.DataFrame(meta["massive"]), hide_index=True)


def show_emergence(run):
    curves = common.json_artifact(run, "curves", ["runs"])
    common.show_config(run)
    metrics = [m for m in ("sink_rate", "alpha0", "first_mass", "loss") if all(m in c for c in curves["runs"])]
    if not metrics:
        raise ValueError("the curves artifact's runs share no curve (sink_rate, alpha0, first_mass or loss).")
    metric = st.radio("curve", metrics, horizontal=True, key="emergence_metric")
    common.chart(st, emergence_curves(curves, metric), key="emergence")
    st.dataframe(pd.DataFrame([{k: c.get(k) for k in ("label", "bos", "seq_len", "lr", "weight_decay")}
                               | {"final sink rate": c["sink_rate"][-1] if c.get("sink_rate") else None}
                               for c in curves["runs"]]), hide_index=True)


common.run_sections("Sinks", [("sink metrics", ["sinks"], "sinks run", show_sinks),
                              ("emergence over training", ["sink-emergence"], "sink-emergence run", show_emergence)])

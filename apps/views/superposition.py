"""Superposition: toy models of superposition (Elhage et al. 2022), a known answer for feature geometry.

Reads a ``superposition`` run's ``results`` artifact (docs/runs.md): the sparse model's feature directions
(a regular pentagon is the known answer), the dense model's kept features, the SAE's decoder rows against
the true directions, and the phase diagram of 2 features in 1 dimension.
"""

import pandas as pd
import streamlit as st

import common
from interp.viz.superposition import directions_figure, phase_figure


def show(run):
    res = common.json_artifact(run, "results", ["pentagon_W", "pentagon_gaps_deg", "dense_norms", "sae", "phase"])
    common.metric_row(run.metrics, ["pentagon_features", "pentagon_max_gap_error_deg", "dense_features", "sae_mcc",
                                    "sae_max_angle_deg"])
    common.show_config(run)
    left, right = st.columns(2)
    common.chart(left, directions_figure(res["pentagon_W"], res["sae"].get("W_dec"),
                                         "5 sparse features in 2 dimensions (SAE decoder rows dotted)"), key="pentagon")
    with right:
        st.markdown("**Adjacent angles** (a regular pentagon: 72° each)")
        st.dataframe(pd.DataFrame({"gap (deg)": [round(g, 2) for g in res["pentagon_gaps_deg"]]}), hide_index=True)
        st.markdown("**Dense features** (importance decaying): ||W_i|| per feature, the 2 most important kept")
        st.dataframe(pd.DataFrame({"feature": list(range(len(res["dense_norms"]))),
                                   "norm": [round(n, 3) for n in res["dense_norms"]]}), hide_index=True)
    common.chart(st, phase_figure(res["phase"]), key="phase")


common.run_sections("Superposition", [("toy models of superposition", ["superposition"], "superposition run", show)])

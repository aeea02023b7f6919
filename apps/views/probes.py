"""Probes: what a linear probe reads from each layer, against a control task (``probe`` runs).

Accuracy (or R²) by layer on the task, on the control task (random labels per
token type, Hewitt & Liang 2019), their difference (selectivity) and the same probe
on a randomly initialised model.
"""

import pandas as pd
import streamlit as st

import common
from interp.viz.probes import probe_accuracy_figure


def show_probe(run):
    res = common.json_artifact(run, "results", ["rows"])
    if not res["rows"]:
        raise ValueError("the results artifact has no rows (no hook was probed).")
    common.metric_row(run.metrics, ["best_accuracy", "best_selectivity"])
    metric = res.get("metric", "accuracy")
    st.caption(f"{run.model} · task {res.get('task', run.config.get('task', '?'))} · "
               f"{run.config.get('probe', '?')} probe · chance {res.get('chance')} · "
               f"best hook `{run.metrics.get('best_hook', '?')}`")
    common.show_config(run)
    common.chart(st, probe_accuracy_figure(res, title=f"{metric} by layer"), key="curves")
    st.dataframe(pd.DataFrame(res["rows"]), hide_index=True, width="stretch")


st.title("Probes")
common.show_run(["probe"], "probe run", show_probe)

"""Probes: what a linear probe reads from each layer, against a control task (``probe`` runs).

Accuracy (or R²) by layer on the task, on the control task (random labels per
token type, Hewitt & Liang 2019), their difference (selectivity) and the same probe
on a randomly initialised model. A second section shows ``fourier`` runs: the
modular-addition model's key frequencies and its restricted / excluded losses
(Nanda et al. 2023), the known answer the modadd probes are read against. A third shows
``othello`` runs: ``toy:othello``'s board read by per-square probes (mine/theirs vs
black/white vs a random model), the intervention rates, and one position drawn three ways.
"""

import pandas as pd
import streamlit as st

import common
from common import plain
from interp.viz.othello import othello_board_figure
from interp.viz.probes import fourier_norms_figure, probe_accuracy_figure


def show_probe(run):
    res = common.json_artifact(run, "results", ["rows"])
    if not res["rows"]:
        raise ValueError("the results artifact has no rows (no hook was probed).")
    common.metric_row(run.metrics, ["best_accuracy", "best_selectivity"])
    metric = res.get("metric", "accuracy")
    st.caption(f"{plain(run.model)} · task {plain(res.get('task', run.config.get('task', '?')))} · "
               f"{plain(run.config.get('probe', '?'))} probe · chance {plain(res.get('chance'))} · "
               f"best hook {plain(run.metrics.get('best_hook', '?'))}")
    common.show_config(run)
    common.chart(st, probe_accuracy_figure(res, title=f"{metric} by layer"), key="curves")
    st.dataframe(pd.DataFrame(res["rows"]), hide_index=True, width="stretch")


def show_fourier(run):
    res = common.json_artifact(run, "results", ["key_freqs", "embed_norms", "clean_loss", "restricted_loss",
                                                "excluded_loss", "chance_loss"])
    common.metric_row(run.metrics, ["key_freqs", "key_norm_fraction", "clean_loss", "restricted_loss",
                                    "excluded_loss", "chance_loss"])
    st.caption(f"{plain(run.model)} · p = {plain(res.get('p', '?'))} · restricted = only the key frequencies' "
               "cos/sin w(a+b) directions of the logits kept; excluded = those removed; chance = ln p")
    common.show_config(run)
    common.chart(st, fourier_norms_figure(res["embed_norms"], res["key_freqs"], res.get("logit_norms")), key="fourier")
    losses = {"clean": res["clean_loss"], "restricted": res["restricted_loss"], "excluded": res["excluded_loss"],
              "chance (ln p)": res["chance_loss"]}
    st.dataframe(pd.DataFrame({"logits": list(losses), "loss": list(losses.values())}), hide_index=True)


def show_othello(run):
    res = common.json_artifact(run, "results", ["legal_top1", "layers", "best", "intervention", "example"])
    common.metric_row(run.metrics, ["legal_top1", "mine_accuracy", "colour_accuracy", "random_model_accuracy",
                                    "intervention_success", "intervention_null"])
    inter, best, ex = res["intervention"], res["best"], res["example"]
    st.caption(f"{plain(run.model)} · best layer {plain(res.get('best_layer'))} ({plain(best.get('hook'))}) · "
               f"intervention: {plain(inter.get('n_trials'))} trials, random direction "
               f"{plain(inter.get('random_direction'))}, chance {plain(round(float(inter.get('chance', 0)), 4))}")
    common.show_config(run)
    st.dataframe(pd.DataFrame(res["layers"]), hide_index=True)
    side = "black" if ex.get("to_move", 1) == 1 else "white"
    common.chart(st, othello_board_figure(ex["mine"], ex["probe_probs"], ex["move_probs"], ex.get("legal"),
                                          title=f"game {ex.get('game')}, position {ex.get('pos')} ({side} to move)"),
                 key="othello_board")


common.run_sections("Probes", [
    ("linear probes", ["probe"], "probe run", show_probe),
    ("modular addition: Fourier", ["fourier"], "fourier run", show_fourier),
    ("othello world model", ["othello"], "othello run", show_othello),
])

"""Runs: every run in the runs folder, filterable by kind and model, one click from its page."""

from urllib.parse import quote

import pandas as pd
import streamlit as st

import common
from common import plain
from interp.runs import RunError


def _artifact_note(run, name: str) -> str:
    """A warning for an artifact that is missing or not read ("" when it is there).

    A path outside the run folder is not even checked for existence: the page would
    otherwise answer "is there a file at X?" for any X a run.json names.
    """
    try:
        path = run.artifact(name)
    except RunError:
        return "  ⚠️ outside the run folder, not read"
    return "" if path.exists() else "  ⚠️ missing"


st.title("Runs")
with common.guard("the run list"):
    runs, problems = common.all_runs()
    st.caption(f"{len(runs)} runs in {plain(common.root())}")
    for path, err in problems:
        st.warning(f"Unreadable run {plain(f'{path.parent.name}/{path.name}')}: {plain(err)}")
    if not runs:
        st.info("No runs yet. `interp demo` writes a first set (captures, head scores, and the analyses' runs); "
                "every analysis (`interp sae`, probes, patching, sinks…) records one here.")
        st.stop()

    kinds = sorted({r.kind for r in runs})
    models = sorted({str(r.model) for r in runs})
    c1, c2, c3 = st.columns([2, 2, 3])
    linked = [k for k in (common.qp_get("kind") or "").split(",") if k in kinds]
    want_kinds = c1.multiselect("kind", kinds, default=linked)
    want_models = c2.multiselect("model", models)
    text = c3.text_input("search (name, config, metrics)", "")
    common.qp_set(kind=",".join(want_kinds) or None)
    shown = [r for r in runs if (not want_kinds or r.kind in want_kinds)
             and (not want_models or str(r.model) in want_models)
             and (not text or text.lower() in (r.name + str(r.config) + str(r.metrics)).lower())]

    def headline(r):  # the first few scalar metrics, for the table
        return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in list(r.metrics.items())[:5] if isinstance(v, (int, float, str)))

    table = pd.DataFrame([{
        "created": r.created[:19].replace("T", " "), "kind": r.kind, "model": r.model, "status": r.status,
        "run": r.name, "metrics": headline(r),
        "open": (f"./{common.PAGE_FOR_KIND[r.kind].split('/')[-1][:-3]}?run={quote(common.run_ref(r), safe='/')}"
                 if r.kind in common.PAGE_FOR_KIND else None),
    } for r in shown])
    if table.empty:
        st.info("No run matches these filters.")
        st.stop()
    event = st.dataframe(
        table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key="runs_table",
        column_config={"open": st.column_config.LinkColumn("open", display_text="open ↗"),
                       "metrics": st.column_config.TextColumn("metrics", width="large")})

    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    refs = [common.run_ref(r) for r in shown]
    wanted = common.qp_get("run")
    index = rows[0] if rows else (refs.index(wanted) if wanted in refs else 0)
    pick = st.selectbox("details of", range(len(shown)), index=index, format_func=lambda i: common.run_label(shown[i]))
    run = shown[pick]
    common.qp_set(run=common.run_ref(run))

    st.subheader(f"{plain(run.kind)} · {plain(run.name)}")
    if run.kind in common.PAGE_FOR_KIND:
        page = common.PAGE_FOR_KIND[run.kind]
        params = {"run": common.run_ref(run)}
        if run.kind == "heads" and run.model:
            params = {"model": run.model}
        st.page_link(page, label=f"Open on the {page.split('/')[-1][:-3].title()} page →",
                     icon=":material/arrow_forward:",
                     query_params=params)
    if run.error:
        st.error(f"This run {plain(run.status)}: {plain(run.error)}")
    c1, c2 = st.columns(2)
    c1.markdown("**config**")
    c1.json(run.config)
    c2.markdown("**metrics**")
    c2.json(run.metrics)
    st.markdown("**artifacts**")
    for name, rel in run.artifacts.items():
        st.markdown(f"- {plain(name)} → {plain(rel)}" + _artifact_note(run, name))
    st.caption(f"{plain(run.path)} · interp {plain(run.interp)} · git {plain(str(run.git_sha)[:10])}")

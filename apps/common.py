"""What every dashboard page shares: the runs folder, picking a run, URL state, caching, errors.

Pages are short scripts (apps/views/*.py) that read runs as docs/runs.md says,
through ``interp.runs`` only. Three rules live here so each page gets them for free:

* **Shareable state**: the chosen run, feature, layer and head are mirrored in
  ``st.query_params`` (``?run=sae/20261123-...&feature=12``), so a copied link
  reopens the same view. A run is named by its path relative to the runs folder.
* **Caching**: artifacts are read once per (run, artifact, run.json mtime) with
  ``st.cache_data`` and returned as numpy; models and SAEs are kept with
  ``st.cache_resource``.
* **No tracebacks**: :func:`guard` turns any error on a page into an ``st.error``
  message that names the problem (a missing or corrupt run says which file).
* **Run text is text**: anything a run provides (model, status, error, config values,
  paths, exception messages quoting them) goes through :func:`plain` before it reaches
  a Markdown-rendering call (``st.markdown/caption/error/warning/info``, titles,
  expander and metric labels), so a run.json cannot put links, images or styling on a page.
"""

from __future__ import annotations

import contextlib
import re
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import streamlit as st

from interp.runs import Run, RunError, load_run, runs_root, scan_runs

APP_DIR = Path(__file__).resolve().parent

# Which page shows a run of each kind (paths relative to apps/dashboard.py).
PAGE_FOR_KIND = {
    "sae": "views/features.py",
    "sinks": "views/sinks.py",
    "sink-emergence": "views/sinks.py",
    "circuit": "views/circuits.py",
    "patching": "views/circuits.py",
    "circuit-recovery": "views/circuits.py",
    "probe": "views/probes.py",
    "fourier": "views/probes.py",
    "heads": "views/attention.py",
    "graph": "views/graphs.py",
    "superposition": "views/superposition.py",
    "transcoder": "views/features.py",  # one feature set per layer
}


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")
_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x85\u2028\u2029]+\s*")


def plain(text: Any) -> str:
    """``text`` escaped to show literally, on one line, inside Streamlit Markdown.

    Run folders are shared and downloaded, so a model name like ``[x](http://evil)`` or an
    error holding ``![](http://evil/img.png)`` or ``:red[...]`` must render as those characters,
    not as a link, an image fetched from elsewhere, or styling. Every Markdown / Streamlit
    special character gets a backslash (CommonMark escapes any ASCII punctuation, and an
    escaped one starts no link, emphasis, directive, math or HTML), and line breaks become
    " ⏎ " so text cannot start a heading or list of its own. Use it outside backticks: a
    code span shows backslashes literally.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ⏎ ", str(text)))


def root() -> Path:
    """The runs folder the dashboard browses ($INTERP_RUNS, set by ``interp dashboard --runs``)."""
    return runs_root().resolve()


def run_ref(run: Run) -> str:
    """A run's name in URLs: its folder relative to the runs root (``sae/20261123-101500-toylm``)."""
    try:
        return run.path.resolve().relative_to(root()).as_posix()
    except ValueError:
        return str(run.path)


def all_runs(kinds: Sequence[str] | None = None) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Readable runs (newest first) and unreadable ones, restricted to ``kinds`` if given."""
    runs, problems = scan_runs(root())
    if kinds is not None:
        runs = [r for r in runs if r.kind in kinds]
        problems = [(p, e) for p, e in problems if p.parent.name in kinds]
    return runs, problems


def qp_get(key: str) -> str | None:
    v = st.query_params.get(key)
    return v if v not in (None, "") else None


def qp_int(key: str, default: int, lo: int = 0, hi: int | None = None) -> int:
    """An integer from the URL, clamped to [lo, hi]; anything unparsable gives ``default``."""
    try:
        v = int(qp_get(key) or default)
    except ValueError:
        v = default
    v = max(lo, v)
    return min(v, hi) if hi is not None else v


def qp_float(key: str, default: float, lo: float, hi: float) -> float:
    """A number from the URL, clamped to [lo, hi]; anything unparsable (or NaN) gives ``default``."""
    try:
        v = float(qp_get(key) or default)
    except ValueError:
        v = default
    return default if v != v else min(max(lo, v), hi)


def qp_set(**values: Any) -> None:
    """Write values to the URL (None removes a key); only touches keys that changed."""
    for k, v in values.items():
        if v is None:
            if k in st.query_params:
                del st.query_params[k]
        elif st.query_params.get(k) != str(v):
            st.query_params[k] = str(v)


def run_label(run: Run) -> str:
    status = "" if run.status == "complete" else f" [{run.status}]"
    return f"{run.created[:19].replace('T', ' ')} · {run.model or '-'} · {run.name}{status}"


def select_run(kinds: Sequence[str], label: str = "Run", key: str = "run") -> Run | None:
    """A run picker for ``kinds``; defaults to the URL's ``run`` and writes the choice back.

    Shows an explanation (not an error) when there are no runs of these kinds yet,
    and an ``st.error`` for unreadable ones or a URL naming a run that is not there.
    """
    runs, problems = all_runs(kinds)
    for path, err in problems:
        st.error(f"Unreadable run {plain(path.name)}: {plain(err)}")
    wanted = qp_get(key)
    if wanted and not any(run_ref(r) == wanted for r in runs):
        if wanted.split("/", 1)[0] in kinds or not runs:
            msg = _missing_run_message(wanted)
            st.error(f"The link names run {plain(repr(wanted))}, which cannot be shown: {msg}")
        wanted = None
    if not runs:
        st.info(f"No {' / '.join(f'`{k}`' for k in kinds)} runs in {plain(root())} yet. "
                "This page shows them once an analysis writes one (see docs/runs.md); "
                "`interp demo` writes a set of runs to start from.")
        return None
    refs = [run_ref(r) for r in runs]
    index = refs.index(wanted) if wanted in refs else 0
    choice = st.selectbox(label, range(len(runs)), index=index, format_func=lambda i: run_label(runs[i]),
                          key=f"_select_{key}_{'_'.join(kinds)}")
    run = runs[choice]
    qp_set(**{key: run_ref(run)})
    if run.status != "complete":
        st.warning(f"This run's status is {plain(repr(run.status))}" + (f": {plain(run.error)}" if run.error else "")
                   + "; its artifacts may be incomplete.")
    return run


def show_run(kinds: Sequence[str], label: str, body: Callable[[Run], None], key: str = "run") -> Run | None:
    """Pick a run of ``kinds`` and draw it with ``body(run)``, errors shown as messages (see guard)."""
    run = select_run(kinds, label, key)
    if run is not None:
        with guard(f"{run.kind} run {run.name}"):
            body(run)
    return run


def run_sections(title: str, sections: Sequence[tuple[str, Sequence[str], str, Callable[[Run], None]]]) -> None:
    """A page over several run kinds: ``(name, kinds, picker label, body)`` per section, one shown at a time.

    The section opened is the one whose kinds include the URL's run, so a link to any
    of them lands on the right view.
    """
    st.title(title)
    wanted_kind = (qp_get("run") or "").split("/", 1)[0]
    names = [s[0] for s in sections]
    default = next((i for i, s in enumerate(sections) if wanted_kind in s[1]), 0)
    choice = st.radio("show", names, index=default, horizontal=True, key=f"_section_{title}",
                      label_visibility="collapsed")
    _, kinds, label, body = sections[names.index(choice)]
    show_run(kinds, label, body)


def _missing_run_message(ref: str) -> str:
    """Why the URL's run ``ref`` cannot be shown (Markdown-escaped).

    Only the runs the root lists are looked at: a ref such as ``sae/../../../home/x`` is never
    turned into a path and loaded, or the page would tell anyone with a link which folders on
    the server hold a run.json. A listed run of another kind, or one that scan_runs found
    unreadable, gets its specific reason; anything else the same generic message.
    """
    runs, problems = scan_runs(root())
    if any(run_ref(r) == ref for r in runs):
        return "it is not a run of the kind this page shows."
    for path, err in problems:
        if path.relative_to(root()).as_posix() == ref:
            return plain(err)
    return f"it is not among the runs in {plain(root())}."


def stamp(run: Run, artifact: str | None = None) -> tuple[float, float]:
    """Cache key part: when run.json and the artifact last changed (0 when missing)."""
    def stat(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    try:
        art = run.artifact(artifact) if artifact in run.artifacts else None
    except RunError:  # outside the run folder: not even its mtime is looked at (reading it fails later)
        art = None
    return stat(run.path / "run.json"), stat(art) if art is not None else 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _tensors(path: str, name: str, mtime: tuple[float, float]) -> dict[str, np.ndarray]:
    run = load_run(path)
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in run.read_tensors(name).items()}


@st.cache_data(show_spinner=False, max_entries=64)
def _json(path: str, name: str, mtime: tuple[float, float]) -> Any:
    return load_run(path).read_json(name)


def tensors(run: Run, name: str, required: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """A safetensors artifact as numpy arrays (cached); a RunError names any required tensor it lacks."""
    out = _tensors(str(run.path), name, stamp(run, name))
    missing = [k for k in required if k not in out]
    if missing:
        raise RunError(f"The {name!r} artifact of run {run.name} lacks tensors {missing} "
                       f"(it has {sorted(out)}); docs/runs.md lists what a {run.kind} run must hold.")
    return out


def json_artifact(run: Run, name: str, required: Sequence[str] = (), holds: type = dict) -> Any:
    """A JSON artifact (cached); a RunError names the run if it is not a ``holds`` (an object, or a list for
    ``vocab``) or lacks a required key, instead of an AttributeError from the page's first ``.get``."""
    out = _json(str(run.path), name, stamp(run, name))
    if not isinstance(out, holds):
        raise RunError(f"The {name!r} artifact of run {run.name} holds a JSON {type(out).__name__}, not "
                       f"{'an object' if holds is dict else 'a ' + holds.__name__}; docs/runs.md lists what a "
                       f"{run.kind} run must hold.")
    missing = [k for k in required if k not in out]
    if missing:
        raise RunError(f"The {name!r} artifact of run {run.name} lacks keys {missing}; "
                       f"docs/runs.md lists what a {run.kind} run must hold.")
    return out


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model(spec: str) -> Any:
    from interp.models import load_model

    return load_model(spec)


@contextlib.contextmanager
def guard(what: str = "this page") -> Iterator[None]:
    """Show any error raised inside as an ``st.error`` message instead of a traceback."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - a page must never show a raw traceback
        known = isinstance(exc, (RunError, ValueError, KeyError, FileNotFoundError, ImportError))
        st.error(f"Could not show {plain(what)}: {plain(exc)}" if known else
                 f"Could not show {plain(what)}: unexpected {type(exc).__name__}: {plain(exc)}")
        with st.expander("technical details"):
            st.code("".join(traceback.format_exception_only(type(exc), exc)).strip()
                    + "\n\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:]), language="text")


def show_config(run: Run) -> None:
    """A run's config, metrics and artifacts, folded away."""
    with st.expander("run details: config, metrics, artifacts"):
        st.caption(f"{plain(run.path)} · created {plain(run.created)} · interp {plain(run.interp)} · "
                   f"git {plain(str(run.git_sha)[:10])}")
        c1, c2 = st.columns(2)
        c1.markdown("**config**")
        c1.json(run.config, expanded=False)
        c2.markdown("**metrics**")
        c2.json(run.metrics, expanded=True)
        st.markdown("**artifacts** " + ", ".join(f"{plain(k)} → {plain(v)}" for k, v in run.artifacts.items()))


CHART_CONFIG = {"displayModeBar": "hover", "displaylogo": False}


def chart(where: Any, fig: Any, key: str) -> None:
    """A plotly figure in ``where`` (st or a column), its toolbar shown only on hover."""
    where.plotly_chart(fig, key=key, config=CHART_CONFIG)


def metric_row(metrics: dict[str, Any], keys: Sequence[str]) -> None:
    """The run's headline scalar metrics as st.metric tiles (only the ones present)."""
    present = [(k, metrics[k]) for k in keys if isinstance(metrics.get(k), (int, float, str))]
    if not present:
        return
    for col, (k, v) in zip(st.columns(len(present)), present):  # labels and values render Markdown
        col.metric(plain(k), f"{v:.4g}" if isinstance(v, float) else plain(v) if isinstance(v, str) else str(v))


def token_strings(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """Display strings for token ids, decoded one by one (so 'Ġthe' shows as ' the')."""
    if tokenizer is None:
        return [str(int(i)) for i in ids]
    return [tokenizer.decode([int(i)]) for i in ids]

"""The dashboard on runs it cannot trust: links to folders it does not list, Markdown in run text, broken runs.

A runs folder is shared and downloaded; a run.json or an artifact is data anyone can
edit. These tests hold the dashboard to three promises: a ``?run=`` link only ever
reaches the runs the root lists, text from a run is shown as text (never as a link,
image or styling), and a broken run costs one message on its page, never the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import fixture_runs
from app_fixtures import APP, app, runs  # noqa: F401 (pytest fixtures)
from interp.runs import Run, load_run, runs_root

EVIL = "[x](http://evil) ![](http://evil/img.png) **b** :red[r]"
EVIL_NAME = "20990101-000000-[y](javascript:alert(1)) **b** :red[r]"  # a folder name needs no '/'
MARKERS = ("](", "![", "**b**", ":red[")  # what Markdown would turn into a link, an image, bold, colour
PAGE_KINDS = {"views/features.py": ["sae", "transcoder"], "views/sinks.py": ["sinks", "sink-emergence"],
              "views/circuits.py": ["circuit", "patching", "circuit-recovery"], "views/probes.py": ["probe", "othello"], "views/graphs.py": ["graph"],
              "views/superposition.py": ["superposition"]}


def _linked(page: str, **params: str):
    """An AppTest on ``page`` opened with exactly ``params`` in its URL.

    (The ``app`` fixture sets them before the Runs page runs first, and that page
    rewrites ``run`` to a run it lists: a link to anything else never reaches ``page``.)
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page(page)
    for k in list(at.query_params):
        del at.query_params[k]
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(text: str) -> str:
    """What Markdown renders for ``text``: backslash escapes dropped."""
    return re.sub(r"\\(.)", r"\1", text)


def _ref(run: Run) -> str:
    return f"{run.path.parent.name}/{run.path.name}"


def _markdown_texts(at) -> list[str]:
    """Every string the page hands to a Markdown-rendering element."""
    out = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header",
                                "subheader") for e in at.get(kind)]
    out += [e.label for e in at.get("expander")]
    out += [s for m in at.get("metric") for s in (m.label, m.value)]
    return out


def _unescaped_markdown(texts: list[str]) -> list[str]:
    """The texts in which a marker survives once every backslash-escaped character is removed."""
    return [t for t in texts if any(m in re.sub(r"\\.", "", t) for m in MARKERS)]


def _clone(run: Run, name: str) -> Path:
    """A copy of ``run``'s folder under another name (a second run of the same kind to break)."""
    path = run.path.parent / name
    shutil.copytree(run.path, path)
    return path


def _edit_json(path: Path, **fields) -> None:
    obj = json.loads(path.read_text())
    obj.update(fields)
    path.write_text(json.dumps(obj))


# --- ?run= only reaches the listed runs ---------------------------------------------------------------

def test_a_link_outside_the_listed_runs_gets_one_generic_message(app, runs, tmp_path):
    outside = tmp_path / "outside"
    real = fixture_runs.probe_run(outside)  # a readable run.json the link should not be able to find
    corrupt = fixture_runs.corrupt_run(outside, "sae")
    base = runs_root().resolve() / "sae"
    messages = {}
    for target in (real.path, corrupt, outside / "no-such-folder", Path("/")):
        ref = "sae/" + os.path.relpath(target, base)
        at = _linked("views/features.py", run=ref)
        _ok(at)
        msg = [_shown(e.value) for e in at.error if "The link names run" in _shown(e.value)]
        assert len(msg) == 1, (ref, [e.value for e in at.error])
        messages[target] = msg[0].replace(repr(ref), "REF")
        assert "not among the runs in" in messages[target]
        assert at.html  # the listed sae run is still shown
    assert len(set(messages.values())) == 1, messages  # the same words whatever lies at the path: no oracle


def test_a_link_to_a_listed_unreadable_run_still_says_why(app, runs):
    bad = fixture_runs.corrupt_run(runs_root(), "sae")
    at = _linked("views/features.py", run=f"sae/{bad.name}")
    _ok(at)
    assert any("The link names run" in _shown(e.value) and "not valid JSON" in _shown(e.value) for e in at.error)


# --- run text is shown as text -------------------------------------------------------------------------

def _poison(run: Run) -> Run:
    """``run`` with Markdown in every field a page shows, in an artifact name and path, and in its JSON artifacts."""
    f = run.path / "run.json"
    obj = json.loads(f.read_text())
    obj.update(model=EVIL, status="failed " + EVIL, error=EVIL + "\n# a heading\n- a list", interp=EVIL,
               git_sha=EVIL, config={k: EVIL for k in obj["config"]}, metrics={k: EVIL for k in obj["metrics"]},
               artifacts={**obj["artifacts"], EVIL: "../../" + EVIL})
    f.write_text(json.dumps(obj))
    for name, edit in {"meta": {"metric": EVIL, "direction": EVIL}, "graph": {"method": EVIL},
                       "results": {"task": EVIL}, "adversarial": {"percentiles": {EVIL: 0.5}},
                       "faithfulness": {"ablation": EVIL}}.items():
        if name in obj["artifacts"] and obj["artifacts"][name].endswith(".json"):
            _edit_json(run.path / obj["artifacts"][name], **edit)
    return load_run(run.path)


@pytest.mark.parametrize("page, kind", [("views/runs.py", "sae"), ("views/runs.py", "probe")]
                         + [(page, k) for page, kinds in PAGE_KINDS.items() for k in kinds])
def test_run_text_is_escaped_on_every_page(app, runs, page, kind):
    evil = _poison(runs[kind])
    broken = runs_root() / kind / EVIL_NAME  # an unreadable run whose error quotes its folder name
    broken.mkdir()
    (broken / "run.json").write_text('{"kind": ')
    at = app(page, run=_ref(evil))
    _ok(at)
    texts = _markdown_texts(at)
    assert not _unescaped_markdown(texts), _unescaped_markdown(texts)
    shown = "\n".join(_shown(t) for t in texts)
    assert EVIL in shown  # shown, as the characters it is made of
    assert EVIL_NAME in shown  # the unreadable run is named
    if page != "views/runs.py":
        assert any(EVIL in _shown(w.value) for w in at.warning)  # the status warning quotes the error


def test_a_link_and_a_model_spec_with_markdown_are_escaped(app, runs):
    for page, params in (("views/features.py", {"run": "sae/" + EVIL}), ("views/attention.py", {"model": EVIL})):
        at = _linked(page, **params)
        _ok(at)
        texts = _markdown_texts(at)
        assert not _unescaped_markdown(texts), _unescaped_markdown(texts)
        shown = [_shown(e.value) for e in at.error] + [_shown(w.value) for w in at.warning]
        assert any(EVIL in t for t in shown), page  # the features page errors; the attention page asks first


def test_the_attention_page_escapes_a_heads_run_name(app, runs):
    path = _clone(runs["heads"], EVIL_NAME)  # same model (toy:induction), newest: its scores are shown
    _edit_json(path / "run.json", created="2099-01-01T00:00:00.000Z")
    at = app("views/attention.py", model="toy:induction")
    _ok(at)
    texts = _markdown_texts(at)
    assert not _unescaped_markdown(texts), _unescaped_markdown(texts)
    assert any(EVIL_NAME in _shown(c.value) for c in at.caption)


# --- a broken run costs one message, not the page --------------------------------------------------------

def _broken_runs(run: Run) -> dict[str, Path]:
    """Copies of ``run`` broken each way a page can meet: (name of the damage -> run folder)."""
    out = {}
    wrong = _clone(run, f"{run.name}-wrong-types")
    _edit_json(wrong / "run.json", created=123, metrics=[1, 2])
    out["wrong-typed run.json"] = wrong
    cut = _clone(run, f"{run.name}-cut-run-json")
    (cut / "run.json").write_bytes((cut / "run.json").read_bytes()[:40])
    out["truncated run.json"] = cut
    for name, rel in run.artifacts.items():
        if not rel.endswith((".json", ".safetensors")):
            continue
        for damage, data in (("truncated", lambda b: b[: len(b) // 2]), ("garbage", lambda b: b"\x00garbage" * 3)):
            path = _clone(run, f"{run.name}-{damage}-{name}")
            (path / rel).write_bytes(data((path / rel).read_bytes()))
            out[f"{damage} {rel}"] = path
        if rel.endswith(".json"):
            path = _clone(run, f"{run.name}-list-{name}")
            (path / rel).write_text(json.dumps([1, 2]) if name != "vocab" else json.dumps({"a": 1}))
            out[f"{rel} of the wrong JSON type"] = path
            path = _clone(run, f"{run.name}-keys-{name}")
            (path / rel).write_text(json.dumps({"unexpected": 1}) if name != "vocab" else "[]")
            out[f"{rel} without its keys"] = path  # a page may do without optional keys: no error needed
    return out


# Artifacts a page does not read to draw a run: damage there need not be reported (the page must still not crash).
# A transcoder run's weights are read only when "try your own text" loads the transcoders.
UNREAD = {"transcoder": ("transcoders/", "history.json")}


@pytest.mark.parametrize("page, kind", [(page, k) for page, kinds in PAGE_KINDS.items() for k in kinds])
def test_each_broken_run_is_one_message_and_the_others_stay_selectable(app, runs, page, kind):
    broken = _broken_runs(runs[kind])
    good = _ref(runs[kind])
    unreadable = {broken["wrong-typed run.json"].name, broken["truncated run.json"].name}
    for damage, path in broken.items():
        layer = re.search(r"/L(\d+)/", damage)  # a transcoder run's layer-l files are read when layer l is shown
        at = _linked(page, run=f"{kind}/{path.name}", **({"layer": layer.group(1)} if layer else {}))
        _ok(at)
        errors = [_shown(e.value) for e in at.error]
        for name in unreadable:  # listed as unreadable, by name
            assert any(f"Unreadable run {name}" in e for e in errors), (damage, errors)
        unread = any(part in damage for part in UNREAD.get(kind, ()))
        if "without its keys" not in damage and not unread:
            assert any(path.name in e for e in errors), (damage, errors)  # the bad run is named
        labels = at.selectbox[0].options  # the run picker's labels, as shown
        assert any(label.endswith(f" · {runs[kind].name}") for label in labels), damage  # the good run is there
        if path.name in unreadable:
            continue
        failed = [e for e in errors if e.startswith("Could not show")]
        assert all(path.name in e for e in failed) and len(failed) <= 1, (damage, errors)  # one note, naming it
        if "without its keys" not in damage and not unread:
            assert failed and f"{kind} run {path.name}:".lower() in failed[0].lower(), (damage, errors)
    at = app(page, run=good)  # and the good run, picked by link, still draws
    _ok(at)
    assert not [e for e in at.error if "Could not show" in e.value]


def test_the_runs_page_lists_the_good_runs_beside_broken_ones(app, runs):
    broken = _broken_runs(runs["probe"])
    at = app()
    _ok(at)
    table = at.dataframe[0].value
    assert {r.name for r in runs.values()} <= set(table["run"])
    for name in (broken["wrong-typed run.json"].name, broken["truncated run.json"].name):
        assert any(name in _shown(w.value) for w in at.warning)


def test_the_attention_page_survives_a_broken_heads_run(app, runs):
    path = _clone(runs["heads"], "20990101-000000-broken-heads")
    _edit_json(path / "run.json", created="2099-01-01T00:00:00.000Z")  # newest: the one the page reads
    (path / "scores.json").write_text('{"previous_token": [[0.1, 0.2], [0.3')
    at = app("views/attention.py", model="toy:induction")
    _ok(at)
    assert any(f"heads run {path.name}:" in _shown(e.value) and "scores.json" in _shown(e.value)
               for e in at.error), [e.value for e in at.error]  # the run is named, not "the attention patterns"
    assert len(at.get("plotly_chart")) == 3  # the live patterns are all still drawn


def test_an_sae_whose_cfg_json_is_a_list_is_named_on_the_features_page(app, runs):
    run = runs["sae"]
    (run.path / "sae" / "cfg.json").write_text("[1, 2]")
    at = app("views/features.py", run=_ref(run))
    at.button(key="own_go").click().run()
    _ok(at)
    assert any("cfg.json" in _shown(e.value) and run.name in _shown(e.value) and "not an object" in _shown(e.value)
               for e in at.error), [e.value for e in at.error]
    assert at.html  # the stored panels above are still shown

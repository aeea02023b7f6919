"""Malformed run.json files: every reader names the file, the listing keeps showing the good runs."""

from __future__ import annotations

import json
import random

import pytest

from interp.cli import main
from interp.runs import RunError, list_runs, load_run, scan_runs, start_run


def _variants() -> list[bytes]:
    good = {"kind": "sae", "config": {}, "model": "toy:toylm", "created": "2026-11-30T00:00:00.000Z", "interp": "0.1.0",
            "git_sha": None, "status": "complete", "error": None, "metrics": {"fvu": 0.1}, "artifacts": {"sae": "sae"},
            "external": []}
    out: list[bytes] = []
    odd_values = [None, 123, 1.5, True, [], [1, 2], {}, {"a": 1}, "text", ""]
    for key in good:  # every field with every wrong-typed value
        for v in odd_values:
            out.append(json.dumps({**good, key: v}).encode())
    out.append(json.dumps({**good, "artifacts": {"sae": 7}}).encode())
    out += [json.dumps({**good, "external": v}).encode() for v in ([1], [None], [["sae"]], [{"a": 1}], ["sae", 2])]
    out += [json.dumps({**good, "artifacts": {"sae": p}}).encode() for p in ("../../x", "/etc/passwd", "a\u0000b")]
    text = json.dumps(good).encode()
    out += [text[:n] for n in range(0, len(text), 5)]  # truncations
    out.append(b"[" * 100_000 + b"]" * 100_000)  # nested far beyond the recursion limit
    out.append(b'{"kind": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    rng = random.Random(0)
    out += [bytes(rng.randrange(256) for _ in range(200)) for _ in range(10)]  # binary
    out += [b"null", b"[]", b"42", b'"sae"', b"\xff\xfe{"]
    return out


def test_each_malformed_run_json_is_a_named_error_or_a_valid_run(tmp_path):
    variants = _variants()
    assert len(variants) > 150
    for i, data in enumerate(variants):
        d = tmp_path / "sae" / f"run-{i:04d}"
        d.mkdir(parents=True)
        (d / "run.json").write_bytes(data)
        try:
            run = load_run(d)
        except RunError as exc:
            assert str(d / "run.json") in str(exc)
            continue
        # what loads must be usable by every reader: sortable, printable
        assert isinstance(run.created, str) and isinstance(run.metrics, dict) and isinstance(run.kind, str)
        assert isinstance(run.external, list) and all(isinstance(n, str) for n in run.external)
        for name in run.artifacts:  # a path is either inside the run folder or a RunError, never followed
            try:
                assert run.artifact(name).is_relative_to(d.resolve())
            except RunError as exc:
                assert str(d) in str(exc)


def test_listing_shows_the_good_runs_and_names_the_bad(tmp_path, capsys):
    with start_run("sae", {"a": 1}, model="toy:toylm", root=tmp_path) as good:
        good.metrics["fvu"] = 0.25
    for i, data in enumerate([b'{"kind": "sae", "created": 123}', b'{"kind": "sae", "created": null}',
                              b'{"kind": null}', b'{"kind": "sae", "metrics": [1, 2]}', b"[" * 100_000]):
        d = tmp_path / "sae" / f"bad-{i}"
        d.mkdir()
        (d / "run.json").write_bytes(data)
    runs, problems = scan_runs(tmp_path)
    assert [r.path for r in runs] == [good.path] and len(problems) == 5
    assert [r.path for r in list_runs(tmp_path)] == [good.path]
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert str(good.path) in out and err.count("unreadable run") == 5 and "Traceback" not in err


@pytest.mark.parametrize("data, says", [(b'{"kind": "sae", "created": 123}', "field 'created' is int"),
                                        (b'{"kind": "sae", "artifacts": {"x": 1}}', "not relative paths"),
                                        (b"[" * 100_000, "nested too deeply")])
def test_the_error_says_what_is_wrong(tmp_path, data, says):
    (tmp_path / "run.json").write_bytes(data)
    with pytest.raises(RunError, match=says):
        load_run(tmp_path)

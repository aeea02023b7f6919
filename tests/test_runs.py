"""The run registry: atomic run.json, statuses, listing, and clear errors for broken runs."""

from __future__ import annotations

import json

import pytest

from interp.runs import RunError, list_runs, load_run, runs_root, scan_runs, start_run


def test_create_list_load(tmp_path):
    with start_run("capture", {"hooks": ["a"]}, model="toy:toylm", root=tmp_path) as run:
        (run.path / "x.txt").write_text("hi")
        run.add_artifact("x", "x.txt")
        run.metrics["tokens"] = 5
    assert run.path.parent == tmp_path / "capture"
    loaded = load_run(run.path)
    assert loaded.status == "complete" and loaded.metrics == {"tokens": 5}
    assert loaded.artifact("x").read_text() == "hi"
    assert loaded.model == "toy:toylm" and loaded.interp and loaded.created.endswith("Z")
    with pytest.raises(RunError, match="no artifact 'y'"):
        loaded.artifact("y")
    import time

    time.sleep(0.002)
    start_run("sae", {}, model="minilm", root=tmp_path).save()
    assert [r.kind for r in list_runs(tmp_path)] == ["sae", "capture"]  # newest first
    assert [r.kind for r in list_runs(tmp_path, kind="capture")] == ["capture"]
    assert [r.model for r in list_runs(tmp_path, model="minilm")] == ["minilm"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_run_records_error(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with start_run("capture", {}, root=tmp_path) as run:
            1 / 0
    loaded = load_run(run.path)
    assert loaded.status == "failed" and "ZeroDivisionError" in loaded.error


def test_same_second_runs_get_distinct_folders(tmp_path):
    paths = {start_run("x", {}, slug="same", root=tmp_path).path for _ in range(3)}
    assert len(paths) == 3


def test_broken_runs_are_reported_not_raised(tmp_path):
    good = start_run("capture", {}, root=tmp_path)
    bad = tmp_path / "capture" / "20260101-000000-bad"
    bad.mkdir()
    (bad / "run.json").write_text("{oops")
    runs, problems = scan_runs(tmp_path)
    assert [r.path for r in runs] == [good.path]
    assert problems and problems[0][0] == bad and "not valid JSON" in problems[0][1]
    with pytest.raises(RunError, match="run.json"):
        load_run(bad)
    with pytest.raises(RunError, match="not a run folder"):
        load_run(tmp_path)


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_RUNS", str(tmp_path / "elsewhere"))
    run = start_run("probe", {"a": 1})
    assert runs_root() == tmp_path / "elsewhere" and run.path.is_relative_to(tmp_path / "elsewhere")
    assert json.loads((run.path / "run.json").read_text())["config"] == {"a": 1}


def test_bad_kind_rejected(tmp_path):
    with pytest.raises(RunError, match="kind"):
        start_run("../evil", {}, root=tmp_path)


def test_run_writes_json_and_tensor_artifacts_it_can_read_back(tmp_path):
    import torch

    with start_run("demo-kind", {"a": 1}, model="toy:x", root=tmp_path) as run:
        run.write_json("scores", {"x": [1, 2], "t": torch.tensor(0.5)})
        run.write_tensors("acts", {"w": torch.arange(6.0).reshape(2, 3)}, file="sub/acts.safetensors")
    again = load_run(run.path)
    assert again.artifacts == {"scores": "scores.json", "acts": "sub/acts.safetensors"}
    assert again.read_json("scores") == {"x": [1, 2], "t": 0.5}
    assert torch.equal(again.read_tensors("acts")["w"], torch.arange(6.0).reshape(2, 3))
    assert not list(run.path.rglob("*.tmp"))  # atomic: no temporary files left behind


def test_a_running_run_whose_process_is_gone_reads_as_interrupted(tmp_path):
    import subprocess
    import sys

    run = start_run("capture", {}, model="toy:toylm", root=tmp_path)  # left "running" by this live process
    assert load_run(run.path).status == "running"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    obj = json.loads((run.path / "run.json").read_text())
    (run.path / "run.json").write_text(json.dumps({**obj, "pid": child.pid}))
    again = load_run(run.path)
    assert again.status == "interrupted" and f"pid {child.pid}" in again.error
    assert json.loads((run.path / "run.json").read_text())["status"] == "running"  # the file is not rewritten
    (run.path / "run.json").write_text(json.dumps({**obj, "pid": child.pid, "host": "another-machine"}))
    assert load_run(run.path).status == "running"  # another host's process cannot be checked from here
    (run.path / "run.json").write_text(json.dumps({**obj, "pid_started": obj["pid_started"] - 1000}))
    assert load_run(run.path).status == "interrupted"  # same pid, another (earlier) process: reused pid


# --- artifact paths stay inside the run folder ------------------------------------------------------

def _crafted_run(tmp_path, artifacts, external=()):
    """A run.json written by hand (as a downloaded or edited run could be), next to a secret outside it."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": "hunter2"}')
    d = tmp_path / "runs" / "probe" / "20260101-000000-crafted"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"kind": "probe", "status": "complete", "artifacts": artifacts,
                                            "external": list(external)}))
    return load_run(d), secret


@pytest.mark.parametrize("rel", ["../../../secret.json", "sub/../../../../secret.json", "{secret}"])
def test_an_artifact_outside_the_run_folder_is_refused_and_not_read(tmp_path, monkeypatch, rel):
    import interp.runs

    run, secret = _crafted_run(tmp_path, {"results": rel.format(secret=tmp_path / "secret.json")})
    opened = []
    monkeypatch.setattr(interp.runs, "read_json", lambda path, *a: opened.append(path))
    for read in (run.artifact, run.read_json, run.read_tensors, lambda n: run.artifact(n, external_ok=True)):
        with pytest.raises(RunError, match="points outside the run folder") as err:
            read("results")
        assert str(run.path) in str(err.value) and "'results'" in str(err.value)
        assert str(secret.resolve()) in str(err.value) and "not read" in str(err.value)
    assert not opened  # refused before any file was opened
    with pytest.raises(RunError, match='add \'results\' to "external"'):  # the reader that may follow says how
        run.artifact("results", external_ok=True)


def test_an_external_artifact_is_followed_only_when_listed_and_asked_for(tmp_path):
    run, secret = _crafted_run(tmp_path, {"results": "../../../secret.json"}, external=["results"])
    assert run.artifact("results", external_ok=True) == secret.resolve()
    with pytest.raises(RunError, match="points outside"):
        run.read_json("results")  # the generic readers never follow it
    with pytest.raises(RunError, match="points outside"):
        run.artifact("results")


def test_add_artifact_external_records_a_resolved_path_and_the_name(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "store"
    elsewhere.mkdir(parents=True)
    with start_run("capture", {}, root=tmp_path / "runs") as run:
        run.add_artifact("store", elsewhere, external=True)
        run.add_artifact("inside", "inside.txt")
        (run.path / "inside.txt").write_text("x")
    again = load_run(run.path)
    assert again.external == ["store"] and again.artifacts["store"] == elsewhere.resolve().as_posix()
    assert again.artifact("store", external_ok=True) == elsewhere.resolve()
    assert again.artifact("inside").read_text() == "x"
    assert json.loads((run.path / "run.json").read_text())["external"] == ["store"]


@pytest.mark.parametrize("value, says", [("store", "field 'external' is str, not list"),
                                         ([1, "a"], "field 'external' holds"), ({"a": 1}, "is dict, not list")])
def test_a_wrong_typed_external_field_is_a_named_error(tmp_path, value, says):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "sae", "external": value}))
    with pytest.raises(RunError, match=says) as err:
        load_run(tmp_path)
    assert str(tmp_path / "run.json") in str(err.value)


def test_an_unusable_artifact_path_is_a_named_error(tmp_path):
    run, _ = _crafted_run(tmp_path, {"results": "a\u0000b"})
    with pytest.raises(RunError, match="unusable path"):
        run.read_json("results")

"""The ``feature-circuit`` run: what the pipeline writes, SAEs saved and reloaded, and the thin CLI.

Small settings throughout (8 prompts of segment 8, 128-latent SAEs trained for a few hundred
rows): these check the plumbing; tests/circuits/test_feature_circuits.py holds the known answers.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from interp.circuits.feature_pipeline import FeatureCircuitConfig, load_saes, run_feature_circuit
from interp.cli import build_parser, main
from interp.models import load_model
from interp.runs import list_runs

SMALL = FeatureCircuitConfig(n_prompts=8, segment_len=8, n_random=1, check_nodes=2, top_nodes=20,
                             sae_d_sae=128, sae_seqs=128, sae_epochs=2)


@pytest.fixture(scope="module")
def model():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_model("toy:induction", device="cpu")
    torch.set_num_threads(n)


def test_the_run_records_nodes_curves_checks_and_its_saes_which_reproduce_it(model, tmp_path):
    result, run = run_feature_circuit(SMALL, root=tmp_path, model=model, progress=False)
    assert run.kind == "feature-circuit" and run.status == "complete" and run.model == "toy:induction"
    hooks = ["blocks.0.hook_attn_out", "blocks.1.hook_attn_out"]
    assert run.config["hooks"] == hooks and run.config["sae_sources"] == {h: "trained" for h in hooks}
    m = run.metrics
    assert m["splice_error"] < 1e-5 and m["n_nodes"] == 2 * 17 * 129 and m["budget_nodes"] == int(0.05 * m["n_nodes"])
    assert m["random_at_budget"] < m["recovered_at_budget"]
    nodes = run.read_json("nodes")["nodes"]
    assert len(nodes) == 20 and [n["rank"] for n in nodes] == list(range(20))
    assert [abs(n["ig"]) for n in nodes] == sorted((abs(n["ig"]) for n in nodes), reverse=True)
    first = nodes[0]
    assert first["node"].startswith(first["hook"] + ":") and first["pos"] is not None
    scores = run.read_tensors("scores")
    assert set(scores) == {f"{k}/{h}" for k in ("ig", "atp") for h in hooks}
    assert scores[f"ig/{hooks[0]}"].shape == (17, 129)
    largest = max(float(scores[f"ig/{h}"].abs().max()) for h in hooks)
    assert largest > 0 and abs(first["ig"]) == pytest.approx(largest)
    curves = run.read_json("faithfulness")
    assert set(curves) == {"ig", "atp"} and curves["ig"]["nodes_kept"][0] == 0
    assert curves["ig"]["metric_recovered"][-1] == pytest.approx(1.0)
    checks = run.read_json("checks")
    assert {c["hook"] for c in checks["hooks"]} == set(hooks) and len(checks["nodes"]) >= 2
    # The SAEs it trained are saved in the run; passing the run back reuses them and gives the same scores.
    again, run2 = run_feature_circuit(dataclasses.replace(SMALL, saes=(str(run.path),)), root=tmp_path, model=model,
                                      progress=False)
    assert set(run2.config["sae_sources"]) == set(hooks) and "trained" not in run2.config["sae_sources"].values()
    assert not any(a.startswith("sae:") for a in run2.artifacts)
    for h in hooks:
        torch.testing.assert_close(again.scores["ig"].scores[h], result.scores["ig"].scores[h])


def test_sae_sets_that_cannot_be_spliced_are_refused(model, tmp_path):
    _, run = run_feature_circuit(dataclasses.replace(SMALL, hooks=("blocks.0.hook_attn_out",), check_nodes=0),
                                 root=tmp_path, model=model, progress=False)
    folder = run.artifact("sae:blocks.0.hook_attn_out")
    assert list(load_saes(model, [str(folder)])) == ["blocks.0.hook_attn_out"]
    with pytest.raises(ValueError, match="Two SAEs read"):
        load_saes(model, [str(folder), str(folder)])
    _, loaded = run_feature_circuit(dataclasses.replace(SMALL, saes=(str(folder),), check_nodes=0), root=tmp_path,
                                    model=model, progress=False)
    with pytest.raises(ValueError, match="did not train"):
        load_saes(model, [str(loaded.path)])
    with pytest.raises(ValueError, match="Unknown method"):
        run_feature_circuit(dataclasses.replace(SMALL, saes=(str(folder),), method="acdc"), root=tmp_path,
                            model=model, progress=False)


def test_the_features_command_parses_runs_and_prints_the_numbers(tmp_path, capsys):
    args = build_parser().parse_args(["circuits", "features", "--summed", "--sae", "a,b", "--runs", "x"])
    assert args.summed and args.sae == "a,b" and args.method == "ig" and args.steps == 10 and args.k == 4
    assert main(["circuits", "features", "--prompts", "4", "--segment", "6", "--d-sae", "64", "--random", "1",
                 "--hooks", "blocks.1.hook_attn_out", "--summed", "--runs", str(tmp_path)]) == 0
    (run,) = list_runs(root=tmp_path, kind="feature-circuit")
    assert run.config["per_position"] is False and run.config["hooks"] == ["blocks.1.hook_attn_out"]
    assert run.metrics["n_nodes"] == 65
    out = capsys.readouterr().out
    assert str(run.path) in out and "recover" in out and "patched whole hook" in out

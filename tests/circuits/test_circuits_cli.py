"""``interp circuits induction|fourier`` are registered and parse their options; the induction report
lists every number; ``interp circuits fourier`` writes its run and prints the known answer."""

from __future__ import annotations

from interp.circuits.pipeline import report
from interp.cli import build_parser, main
from interp.runs import list_runs


def test_circuits_command_parses():
    args = build_parser().parse_args(["circuits", "induction", "--tau", "0.02", "--ablation", "mean", "--runs", "x"])
    assert args.tau == 0.02 and args.ablation == "mean" and args.runs == "x" and args.prompts == 32
    assert callable(args.func)


def test_report_lists_every_number():
    summary = {"edges_kept": 3, "fraction_kept": 0.25, "metric_recovered": 0.91, "faithfulness_auc": 0.7,
               "edges_for_90pct": 3, "recovered_at_budget": 0.1, "prev_to_induction_key_edges": ["L0H1->L1H0.k"],
               "adversarial_percentiles": {"50": 0.01, "90": 0.02, "99": 0.03}, "adversarial_recovered_mean": 0.9,
               "nodes": ["input", "L0H1", "L1H0", "logits"]}
    out = {"prev_token_head": "L0H1", "induction_heads": ["L1H0"], "induction_head": "L1H0",
           "losses": {"clean": {"first_half": 4.1, "repeat": 0.4}}, "clean_value": 7.0, "corrupt_value": 0.0,
           "edges_total": 12, "budget_edges": 1, "circuits": {"acdc": summary}, "ranking_auc": {"eap": 0.5}, "runs": []}
    text = report(out)
    for piece in ("L0H1", "kept 3/12 (25.0%)", "recovered 0.910", "AUC 0.700", "0.010/0.020/0.030", "eap 0.500"):
        assert piece in text, piece


def test_fourier_command_writes_a_fourier_run(tmp_path, capsys):
    args = build_parser().parse_args(["circuits", "fourier", "--runs", "x"])
    assert args.model == "toy:modadd" and args.max_k == 8 and args.runs == "x"
    assert main(["circuits", "fourier", "--max-k", "4", "--runs", str(tmp_path)]) == 0
    (run,) = list_runs(root=tmp_path, kind="fourier")
    assert run.config == {"model": "toy:modadd", "p": 113, "max_k": 4} and run.status == "complete"
    assert run.metrics["n_key_freqs"] <= 4
    text = capsys.readouterr().out
    assert f"key frequencies {run.read_json('results')['key_freqs']}" in text and str(run.path) in text

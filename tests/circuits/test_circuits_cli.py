"""``interp circuits induction`` is registered, parses its options, and reports a result dict as text."""

from __future__ import annotations

from interp.circuits.cli import report
from interp.cli import build_parser


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

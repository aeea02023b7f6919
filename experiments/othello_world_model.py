"""``toy:othello``'s three known answers: legal moves, a linear mine/theirs board, and edits that work.

(a) top-1 predicted move legal on held-out random games; (b) per-square
LogisticProbes at every layer in mine/theirs/empty terms, and at the best middle layer
the same probes in black/white/empty terms, on a randomly initialised model and on a
control task (random labels per input token); (c) flipping one square along the
probes' directions at that layer, scored by whether the model's top-N moves become
exactly the edited board's N legal moves (with the unedited, random-direction and
chance rates beside it). Writes an ``othello`` run (Probes page, "othello world model").

    python experiments/othello_world_model.py [--games 600] [--trials 300] [--model toy:othello] [--runs DIR]
"""

from __future__ import annotations

import argparse


def summary_lines(result) -> list[str]:
    b, i = result.best, result.intervention
    lines = [f"(a) top-1 legal move: {result.legal_top1:.4f} over {result.n_positions} held-out positions",
             "(b) mine/theirs probe accuracy by layer (mean over 36 squares): "
             + ", ".join(f"L{r['layer']} {r['mine']:.4f}" for r in result.layers),
             f"    best middle layer {result.best_layer} ({b['hook']}): mine/theirs {b['mine']:.4f} · "
             f"black/white {b['colour']:.4f} · random model {b['random_model']:.4f} · "
             f"control task {b['control']:.4f} (selectivity {b['selectivity']:+.4f})",
             f"(c) intervention, {i['n_trials']} trials at {i['hook']}: edited board's moves predicted "
             f"{i['success']:.3f} · without the edit {i['null']:.3f} · random direction {i['random_direction']:.3f} "
             f"· chance {i['chance']:.4f} · still the original moves {i['still_original']:.3f}"]
    return lines


def main(argv: list[str] | None = None):
    import torch

    from interp.probes.othello_run import OthelloConfig, othello_world_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:othello")
    ap.add_argument("--games", type=int, default=600, help="held-out games to probe on")
    ap.add_argument("--trials", type=int, default=300, help="intervention trials (at most one per game)")
    ap.add_argument("--scale", type=float, default=4.0, help="edit size: new probe margin / old margin")
    ap.add_argument("--edit-layer", type=int, default=3, help="layer to edit at (-1: the best probe layer)")
    ap.add_argument("--edit-layers", type=int, default=1, help="edit at the best layer and this many - 1 after it")
    ap.add_argument("--layers", type=int, nargs="+", default=None, help="layers to probe (0 = embeddings; default all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (probes are small matmuls)")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = OthelloConfig(n_games=args.games, seed=args.seed, layers=args.layers, n_trials=args.trials,
                        intervention_scale=args.scale, edit_layers=args.edit_layers,
                        intervention_layer=None if args.edit_layer < 0 else args.edit_layer)
    result, run = othello_world_model(args.model, cfg, root=args.runs)
    print("\n".join(summary_lines(result)))
    print(f"run: {run.path}")
    return run


if __name__ == "__main__":
    main()

"""The ``othello`` run: ``toy:othello``'s three known answers in one result.

(a) top-1 legality of the predicted next move on held-out games; (b) the board read by
per-square linear probes, mine/theirs against black/white against a random model and
a control task, layer by layer; (c) the board edited along the probes' directions
(:mod:`interp.probes.othello_intervention`). :func:`othello_world_model` is the
pipeline (model spec + config -> result -> run); ``experiments/othello_world_model.py``
prints it. The run's ``results.json`` also holds one example position (the real board,
the probes' reading, the model's move distribution) that the Probes page draws.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp.hooks.hooked import forward
from interp.models.othello.data import GameBatch, game_batch, legal_top1
from interp.probes.controls import random_model
from interp.probes.othello import BoardProbeConfig, BoardRows, board_rows, layer_hook, layer_sweep, read_board
from interp.probes.othello_intervention import pick_trials, run_interventions
from interp.probes.report import probe_report
from interp.runs import Run, start_run


@dataclass
class OthelloConfig:
    """What the world-model check uses; held-out games come from ``seed`` (training draws from another stream)."""

    n_games: int = 600
    seed: int = 1
    layers: list[int] | None = None  # residual streams to probe (0 = embeddings); None: all
    n_trials: int = 300
    intervention_layer: int | None = 3  # where to edit (None: the best probe layer); 3 and scale 4 were the best
    intervention_scale: float = 4.0  # of a small grid (layers 3-6 x scales 1-8 x 1-3 layers) on seed-1 games
    edit_layers: int = 1  # edit at that layer and the next edit_layers - 1 probed layers
    probe: BoardProbeConfig = field(default_factory=BoardProbeConfig)


@dataclass
class OthelloResult:
    legal_top1: float
    n_positions: int
    layers: list[dict[str, Any]]  # per layer: layer, hook, mine (mean test accuracy over squares)
    best_layer: int
    best: dict[str, Any]  # at the best layer: mine, colour, random_model, control, per-square arrays
    intervention: dict[str, Any]
    example: dict[str, Any]  # one position for the dashboard
    probes: list[Any] = field(default_factory=list, repr=False)  # the best layer's mine/theirs probes

    def results(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "probes"}


def heldout_games(config: OthelloConfig, n_ctx: int) -> GameBatch:
    return game_batch(config.n_games, n_ctx, np.random.default_rng([config.seed, 20_000]))


@torch.no_grad()
def model_logits(model: Any, batch: GameBatch, batch_games: int = 200) -> torch.Tensor:
    """[games, pos, 33] next-move logits of every game."""
    tokens = torch.from_numpy(batch.tokens)
    return torch.cat([forward(model, tokens[i:i + batch_games]).logits.float().cpu()
                      for i in range(0, len(tokens), batch_games)])


def example_position(model: Any, batch: GameBatch, rows: BoardRows, best: Any, logits: torch.Tensor,
                     game: int = 0, pos: int = 12) -> dict[str, Any]:
    """The real board, the probes' reading and the model's move distribution at one position."""
    pos = min(pos, int(batch.lengths[game]) - 2)
    row = int(torch.nonzero((rows.game == game) & (rows.pos == pos))[0, 0])
    reading = read_board(best.probes, rows.acts[best.hook][row:row + 1])[0]  # [36, 3]
    return {"game": game, "pos": pos, "to_move": int(batch.to_move[game, pos]),
            "tokens": batch.tokens[game, :pos + 1].tolist(),
            "mine": batch.mine_theirs()[game, pos].tolist(),
            "probe_probs": reading.tolist(),
            "move_probs": torch.softmax(logits[game, pos], -1).tolist(),
            "legal": batch.legal[game, pos].tolist()}


def compute_othello(model: Any, config: OthelloConfig | None = None) -> OthelloResult:
    """All three known answers of one model (a bridge from ``load_model``) on held-out games."""
    config = config or OthelloConfig()
    n_layers, n_ctx = model.cfg.n_layers, model.cfg.n_ctx
    layers = list(range(n_layers + 1)) if config.layers is None else list(config.layers)
    batch = heldout_games(config, n_ctx)
    logits = model_logits(model, batch)
    rows = board_rows(model, batch, [layer_hook(layer) for layer in layers])
    split = rows.split(config.probe.seed)
    sweep = layer_sweep(rows, layers, split, "mine", config.probe)
    middle = [s for s, layer in zip(sweep, layers) if 0 < layer < n_layers] or sweep
    best = max(middle, key=lambda s: s.mean)
    best_layer = layers[sweep.index(best)]
    colour = layer_sweep(rows, [best_layer], split, "colour", config.probe)[0]
    rand_rows = board_rows(random_model(model, seed=1), batch, [best.hook])
    p_cfg = config.probe
    reports = [probe_report(rows.acts[best.hook], rows.mine[:, s].contiguous(), rand_rows.acts[best.hook], types=rows.tokens,
                            split=split, l2=p_cfg.l2, lr=p_cfg.lr, batch_size=p_cfg.batch_size,
                            max_epochs=p_cfg.max_epochs, patience=p_cfg.patience, seed=p_cfg.seed)
               for s in range(rows.mine.shape[1])]
    trials = pick_trials(batch, config.n_trials, seed=config.seed)
    at = best_layer if config.intervention_layer not in layers else config.intervention_layer
    edits = [(s.hook, s.probes) for s in sweep[layers.index(at):][:config.edit_layers]]
    inter = run_interventions(model, batch, edits, trials, scale=config.intervention_scale, seed=config.seed)
    return OthelloResult(
        legal_top1=legal_top1(logits, batch),
        n_positions=int(batch.valid.sum()),
        layers=[{"layer": layer, "hook": s.hook, "mine": s.mean} for layer, s in zip(layers, sweep)],
        best_layer=best_layer,
        best={"hook": best.hook, "mine": best.mean, "colour": colour.mean,
              "random_model": float(np.mean([r.random_model for r in reports])),
              "control": float(np.mean([r.control for r in reports])),
              "selectivity": float(np.mean([r.selectivity for r in reports])),
              "mine_by_square": best.accuracy.tolist(), "colour_by_square": colour.accuracy.tolist(),
              "random_by_square": [r.random_model for r in reports]},
        intervention=inter.row() | {"trials": [{"game": t.game, "pos": t.pos, "square": t.square} for t in trials]},
        example=example_position(model, batch, rows, best, logits),
        probes=best.probes,
    )


def write_othello_run(result: OthelloResult, *, spec: str, config: dict[str, Any], root: str | Path | None = None,
                      slug: str | None = None) -> Run:
    """Save ``results.json``, the best layer's 36 probes (``probes/<square>``) and the headline metrics."""
    inter = result.intervention
    with start_run("othello", config, model=spec, slug=slug or "othello", root=root) as run:
        run.write_json("results", result.results())
        for s, probe in enumerate(result.probes):
            probe.save(run.path / "probes" / f"square_{s:02d}")
        if result.probes:
            run.add_artifact("probes", "probes")
        run.metrics.update({
            "legal_top1": round(result.legal_top1, 4), "best_layer": result.best_layer,
            "mine_accuracy": round(result.best["mine"], 4), "colour_accuracy": round(result.best["colour"], 4),
            "random_model_accuracy": round(result.best["random_model"], 4),
            "intervention_success": round(inter["success"], 4), "intervention_null": round(inter["null"], 4),
            "intervention_random_direction": round(inter["random_direction"], 4),
            "intervention_chance": round(inter["chance"], 6),
        })
    return run


def othello_world_model(spec: str = "toy:othello", config: OthelloConfig | None = None, *,
                        root: str | Path | None = None) -> tuple[OthelloResult, Run]:
    """Pipeline: load ``spec``, compute the three known answers, write the ``othello`` run."""
    from interp.models import load_model

    config = config or OthelloConfig()
    torch.manual_seed(config.seed)
    result = compute_othello(load_model(spec), config)
    return result, write_othello_run(result, spec=spec, config=asdict(config), root=root)

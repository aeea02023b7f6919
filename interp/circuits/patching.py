"""Activation patching sweeps: which activations carry the difference between two prompts.

Run the model on one prompt while overwriting a single activation with its value
from the other prompt, and watch a metric (Meng et al. 2022; Wang et al. 2022;
best practices from Heimersheim & Nanda 2024 and Zhang & Nanda 2024):

* **denoising** (clean -> corrupt): run the *corrupt* prompt, patch in a *clean*
  activation. A high normalised value means this activation alone is *sufficient*
  to restore the behaviour.
* **noising** (corrupt -> clean): run the *clean* prompt, patch in a *corrupt*
  activation. A low value means the activation is *necessary*.

Both are reported normalised, ``(m - m_corrupt) / (m_clean - m_corrupt)`` (1 =
clean, 0 = corrupt), for the metrics of :mod:`interp.circuits.metrics`.

Sweeps (each a tensor, the shapes of the ``patching`` run in docs/runs.md):

* ``resid_pre [layer, pos]``  ``blocks.L.hook_resid_pre`` at one position;
* ``attn_out [layer, pos]``   ``blocks.L.hook_attn_out`` at one position;
* ``mlp_out [layer, pos]``    ``blocks.L.hook_mlp_out`` at one position (models with MLPs);
* ``heads [layer, head]``     ``blocks.L.attn.hook_z`` of one head at every position.

Every cell's value is what one patched forward pass of the whole task would give, but
the sweep does less work to get it (``cells_per_pass`` and the tests check it equals
one cell at a time):

* a cell whose source activation equals the target's (e.g. ``resid_pre`` of layer 0
  at a position the corruption left alone, or the BOS position everywhere) is a
  no-op patch: its value is the unpatched target's, without a forward pass;
* causal models: tokens after the last metric position cannot change the metric, so
  runs stop there, and the unembedding is computed only at the metric positions
  (:class:`ReadOut`; a 4096-token vocabulary makes it most of a small model's work);
* a patched pass starts at its cells' layer ``L``: nothing before ``L`` differs from
  the target run, so a single row runs up to ``blocks.L.hook_resid_pre`` and the target
  run's residual there is swapped in (checked once per sweep against the target run;
  models that refuse get the next option);
* several cells share one forward pass: at ``blocks.L.hook_resid_pre`` the batch is
  repeated once per cell, each copy patched at its own cell (``cells_per_pass``).

Positions are aligned because the corruption keeps the token count (symmetric token
replacement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from interp.circuits.metrics import METRICS, Task, metric_per_input, normalise
from interp.hooks.hooked import TRIM_HOOK, Hook, forward

SWEEPS = ("resid_pre", "attn_out", "mlp_out", "heads")
DIRECTIONS = ("denoising", "noising")
_HOOK = {"resid_pre": "blocks.{}.hook_resid_pre", "attn_out": "blocks.{}.hook_attn_out",
         "mlp_out": "blocks.{}.hook_mlp_out", "heads": "blocks.{}.attn.hook_z"}
# Automatic cells_per_pass: about this many rows (cells x inputs) per forward pass. On CPU a row costs
# the same in any batch above ~16 rows and more in big ones (attention falls out of cache).
ROWS_PER_PASS = 64


@dataclass
class PatchingResult:
    """Normalised sweep values (1 = clean, 0 = corrupt), the raw endpoints and the task's size."""

    metric: str
    direction: str
    sweeps: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [layer, pos] or [layer, head]
    clean_value: float = 0.0
    corrupt_value: float = 0.0
    pos_labels: list[str] = field(default_factory=list)
    n_prompts: int = 0  # clean/corrupt pairs the values average over


@dataclass
class ReadOut:
    """Where a task reads the logits, so a run computes nothing the metric does not read.

    Causal models only (others keep every position): ``n_pos`` tokens are run (up to
    the last metric position), and the pass trims the residual stream at the
    unembedding's input to the ``cols`` positions any input reads (``logits_at`` of
    :func:`~interp.hooks.hooked.forward`), so the unembedding runs on those alone.
    ``task`` is the task restricted to ``cols``; metrics of trimmed logits on it equal
    metrics of full logits on the full task.
    """

    n_pos: int
    cols: torch.Tensor | None  # [n_cols] positions whose logits are computed (None: all)
    task: Task

    @classmethod
    def of(cls, model: Any, task: Task) -> "ReadOut":
        causal = getattr(model.cfg, "attention_dir", "causal") == "causal"
        if not causal or TRIM_HOOK not in getattr(model, "hook_dict", {}):
            return cls(task.clean.shape[1], None, task)
        cols = task.positions.any(0).nonzero().flatten()
        pick = lambda t: None if t is None else t[:, cols]  # noqa: E731
        sub = Task(pick(task.clean), pick(task.corrupt), pick(task.positions), pick(task.answer), pick(task.wrong))
        return cls(int(cols.max()) + 1, cols, sub)

    def tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, : self.n_pos]

    def logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Full logits [batch, pos, vocab] -> the read positions [batch, n_cols, vocab]."""
        return logits if self.cols is None else logits[:, self.cols.to(logits.device)]

    def run(self, model: Any, tokens: torch.Tensor, fwd_hooks: Sequence[Hook] = (),
            check: bool = False) -> torch.Tensor:
        """Logits [batch, n_cols, vocab] of one pass over ``tokens`` (already cut to ``n_pos``) with ``fwd_hooks``.

        ``check=False`` (the default): the pass does not look the trim hook up in
        ``model.hook_dict`` again (:meth:`of` found it before setting ``cols``); a sweep
        runs thousands of these passes."""
        return forward(model, tokens, fwd_hooks=fwd_hooks, logits_at=self.cols, check=check).logits

    def values(self, metric: str, logits: torch.Tensor, clean_logits: torch.Tensor | None, k: int) -> torch.Tensor:
        """The metric of ``k`` stacked copies: logits [k * batch, n_cols, vocab] -> [k, batch]."""
        chunks = logits.reshape(k, -1, *logits.shape[1:]).unbind(0)
        return torch.stack([metric_per_input(metric, c, self.task, clean_logits) for c in chunks])


def fan_out(act: torch.Tensor, k: int, batch: int) -> torch.Tensor:
    """The batch repeated ``k`` times along dim 0 (once: a tensor already fanned out is returned as is)."""
    return act if k == 1 or act.shape[0] != batch else act.repeat(k, *[1] * (act.dim() - 1))


def _cell_hooks(chunk: list[tuple[str, int, int]], source: dict[str, torch.Tensor], batch: int,
                fan_name: str | None, start: torch.Tensor | None = None) -> list[tuple[str, Callable]]:
    """One hook per hook name: fan the batch out into ``len(chunk)`` copies, patch copy ``c`` at cell ``c``.

    start: the target run's activation at ``fan_name`` [batch, ...]: it replaces whatever the
    run computed there (the run before it may then be a single row)."""
    k = len(chunk)
    by_name: dict[str, list[tuple[int, str, int]]] = {} if fan_name is None else {fan_name: []}
    for c, (s, layer, j) in enumerate(chunk):
        by_name.setdefault(_HOOK[s].format(layer), []).append((c, s, j))

    def make(name: str, items: list[tuple[int, str, int]]) -> Callable:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            if name == fan_name:
                out = start.repeat(k, *[1] * (start.dim() - 1)) if start is not None else fan_out(act, k, batch)
            else:
                out = act
            if not items:
                return out
            out = out.clone() if out is act else out
            view = out.view(k, batch, *out.shape[1:])  # [copy, batch, pos, ...]
            src = source[name]
            for c, s, j in items:
                if s == "heads":
                    view[c, :, :, j] = src[:, :, j].to(out)
                else:
                    view[c, :, j] = src[:, j].to(out)
            return out

        return fn

    return [(name, make(name, items)) for name, items in by_name.items()]


def _endpoint_run(model: Any, tokens: torch.Tensor, hooks: list[str], ro: ReadOut,
                  source: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Trimmed logits of one run, and per hook either its activations (``source`` None) or which
    cells differ from ``source``: [pos] for position sweeps, [head] for ``hook_z``; with ``source``,
    also every ``blocks.L.hook_resid_pre`` (keys ``L``): where patched runs of layer ``L`` start."""
    found: dict[Any, torch.Tensor] = {}

    def save(name: str) -> Callable:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            if source is None:
                found[name] = act.detach().clone()
            else:
                ne = act != source[name].to(act)  # [batch, pos, ...]
                found[name] = ne.any(dim=(0, 1, 3)) if name.endswith("hook_z") else ne.flatten(2).any(-1).any(0)
            return act

        return fn

    def start(layer: int) -> Callable:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            found[layer] = act.detach()
            return act

        return fn

    starts = [] if source is None else [(f"blocks.{n}.hook_resid_pre", start(n)) for n in range(model.cfg.n_layers)]
    logits = ro.run(model, ro.tokens(tokens), [(h, save(h)) for h in hooks] + starts, check=True)
    missing = [h for h in hooks if h not in found]
    if missing:
        raise ValueError(f"Hooks {missing} did not fire on this model; check the names against model.hook_dict.")
    return logits, found


def patching_sweep(
    model: Any,
    task: Task,
    metric: str = "logit_diff",
    direction: str = "denoising",
    sweeps: Sequence[str] = ("resid_pre", "attn_out", "mlp_out", "heads"),
    progress: bool = True,
    cells_per_pass: int = 0,
) -> PatchingResult:
    """Run the requested sweeps; each cell's value is that of one patched run, normalised (1 = clean).

    cells_per_pass: how many cells share a forward pass (0 = about ``ROWS_PER_PASS``
    rows per pass; 1 = one cell per pass). The values do not depend on it.
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {METRICS}.")
    if direction not in DIRECTIONS:
        raise ValueError(f"Unknown direction {direction!r}; choose 'denoising' (clean -> corrupt) or 'noising'.")
    unknown = [s for s in sweeps if s not in SWEEPS]
    if unknown:
        raise ValueError(f"Unknown sweeps {unknown}; choose from {SWEEPS}.")
    if cells_per_pass < 0:
        raise ValueError(f"cells_per_pass must be >= 0 (0 = automatic), got {cells_per_pass}.")
    if getattr(model.cfg, "attn_only", False):
        sweeps = [s for s in sweeps if s != "mlp_out"]  # no MLPs to patch
    n_layers, n_pos, n_heads, batch = model.cfg.n_layers, task.clean.shape[1], model.cfg.n_heads, len(task)
    ro = ReadOut.of(model, task)
    hooks = [_HOOK[s].format(layer) for s in sweeps for layer in range(n_layers)]
    target, source_tokens = (task.corrupt, task.clean) if direction == "denoising" else (task.clean, task.corrupt)
    source_logits, source = _endpoint_run(model, source_tokens, hooks, ro, None)
    target_logits, differs = _endpoint_run(model, target, hooks, ro, source)
    clean_logits = source_logits if direction == "denoising" else target_logits  # [batch, n_cols, vocab]
    source_v, target_v = (ro.values(metric, lg, clean_logits, 1).mean().item() for lg in (source_logits, target_logits))
    clean_v, corrupt_v = (source_v, target_v) if direction == "denoising" else (target_v, source_v)
    result = PatchingResult(metric, direction, clean_value=clean_v, corrupt_value=corrupt_v,
                            pos_labels=task.pos_labels or [str(i) for i in range(n_pos)], n_prompts=batch)
    unpatched = normalise(target_v, clean_v, corrupt_v)  # the value of a no-op patch
    for s in sweeps:  # cells after the last read position (causal models) or with equal activations: no-ops
        result.sweeps[s] = torch.full((n_layers, n_heads if s == "heads" else n_pos), float(unpatched))
    cells = [(s, layer, j) for layer in range(n_layers) for s in sweeps
             for j in range(n_heads if s == "heads" else ro.n_pos) if bool(differs[_HOOK[s].format(layer)][j])]
    k = cells_per_pass or max(1, ROWS_PER_PASS // batch)
    bar = tqdm(total=len(cells), desc=f"patching ({direction})", disable=not progress)
    run = _CellRunner(model, ro, source, differs, ro.tokens(target), target_logits)
    for (s, layer, j), value in run(ro.tokens(target), cells, k, metric, clean_logits, bar):
        result.sweeps[s][layer, j] = normalise(value, clean_v, corrupt_v)
    bar.close()
    return result


class _CellRunner:
    """Runs chunks of cells, each chunk in one forward pass, the cheapest way the model allows:

    * ``start``: the pass runs one row up to the cells' layer ``L``, where the target run's
      ``blocks.L.hook_resid_pre`` (``starts[L]``) is swapped in, repeated once per cell: the
      layers before ``L`` are not recomputed at all. Checked once against the target run;
    * ``fan``: the batch runs once up to ``L``, then is repeated once per cell;
    * ``repeat``: the tokens are repeated once per cell (models that keep per-batch state).
    A pass that raises moves to the next mode.
    """

    def __init__(self, model: Any, ro: ReadOut, source: dict, found: dict, tokens: torch.Tensor,
                 target_logits: torch.Tensor) -> None:
        self.model, self.ro, self.source, self.batch = model, ro, source, tokens.shape[0]
        self.starts = {key: v for key, v in found.items() if isinstance(key, int)}
        self.mode = "start" if self._starts_ok(tokens, target_logits) else "fan"

    def _starts_ok(self, tokens: torch.Tensor, target_logits: torch.Tensor) -> bool:
        """Does a one-row prefix with the last layer's start swapped in give the target run's logits?"""
        last = self.model.cfg.n_layers - 1
        hook = (f"blocks.{last}.hook_resid_pre", lambda act, hook: self.starts[last].clone())
        try:
            logits = self.ro.run(self.model, tokens[:1], [hook])
        except RuntimeError:
            return False
        return logits.shape == target_logits.shape and torch.allclose(logits, target_logits, atol=1e-4, rtol=1e-4)

    def _pass(self, tokens: torch.Tensor, chunk: list[tuple[str, int, int]]) -> torch.Tensor:
        layer, k = chunk[0][1], len(chunk)
        name = f"blocks.{layer}.hook_resid_pre"
        if self.mode == "start":
            hooks = _cell_hooks(chunk, self.source, self.batch, name, self.starts[layer])
            return self.ro.run(self.model, tokens[:1], hooks)
        if self.mode == "fan":
            hooks = _cell_hooks(chunk, self.source, self.batch, name if k > 1 else None)
            return self.ro.run(self.model, tokens, hooks)
        hooks = _cell_hooks(chunk, self.source, self.batch, None)
        return self.ro.run(self.model, tokens.repeat(k, 1), hooks)

    def __call__(self, tokens: torch.Tensor, cells: list[tuple[str, int, int]], k: int, metric: str,
                 clean_logits: torch.Tensor, bar: Any) -> list[tuple[tuple[str, int, int], float]]:
        """(cell, raw metric of the run patched at that cell) for every cell, ``k`` cells of one layer per pass."""
        chunks, out = [], []
        for layer in sorted({c[1] for c in cells}):
            same = [c for c in cells if c[1] == layer]
            chunks += [same[i : i + k] for i in range(0, len(same), k)]
        for chunk in chunks:
            while True:
                try:
                    logits = self._pass(tokens, chunk)
                    break
                except RuntimeError:
                    if self.mode == "repeat":
                        raise
                    self.mode = {"start": "fan", "fan": "repeat"}[self.mode]
            out += zip(chunk, self.ro.values(metric, logits, clean_logits, len(chunk)).mean(1).tolist())
            bar.update(len(chunk))
        return out

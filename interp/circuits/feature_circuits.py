"""Sparse feature circuits (Marks et al. 2024): which SAE latents, at several hooks, carry a task.

An edge circuit (:mod:`interp.circuits.attribution`) says *which components* matter;
a feature circuit says *which SAE latents* do. Splice an SAE into each of several hooks
(e.g. every layer's ``hook_attn_out``) *with its error term*::

    x = decode(encode(x)) + err,    err = x - decode(encode(x))

so the spliced model is the model exactly (every later computation sees ``x``), and
every latent of every hook, plus each hook's error ``err`` (what the SAE misses), is a
*node*. A node's score estimates ``metric(node patched) - metric(clean)`` on a
clean/corrupt :class:`~interp.circuits.metrics.Task`, where "patched" puts in the
node's value on the corrupted input (``ablation="corrupt"``) or its mean over the clean
inputs (``"mean"``):

* **attribution patching** (``steps = 1``): ``grad_z metric · (z_patch - z_clean)`` for
  a latent, ``grad_x metric · (err_patch - err_clean)`` (summed over d_model) for an
  error, from one forward and one backward pass; ``grad_z = grad_x · d decode / d z``,
  and ``grad_x`` is the true model's gradient at the hook (the splice is exact);
* **integrated gradients** (``steps > 1``, the IG of Marks et al.): each hook in turn is
  moved from its clean to its patched activation, ``x_alpha = x_clean + alpha (x_patch -
  x_clean)``, ``alpha = k / steps, k = 0..steps-1`` (the convention of
  :mod:`interp.circuits.attribution`, so ``steps = 1`` is attribution patching), and
  the gradients there are averaged. Since ``decode`` is affine this is the straight path
  in latent space too; the scores of one hook sum to about the effect of patching the
  whole hook (completeness), which attribution patching misses where the metric curves.

Nodes are (hook, latent) summed over positions, or (hook, position, latent) with
``per_position=True`` (Marks et al. use positions for templatic tasks).

**Faithfulness** (:func:`faithfulness`): keep the top-N nodes by ``|score|``, ablate every
other latent and error to its patch value, at every hook, in one forward pass where each
hook's latents are re-encoded from the activation that arrives (so a kept node is
computed from what the circuit upstream of it computes, not pinned to its clean value),
and report ``(m(circuit) - m(nothing kept)) / (m(everything kept) - m(nothing kept))``
over a grid of N, against N random nodes. With corrupt ablation at hooks that together
carry every path, "nothing kept" is the corrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from interp.circuits.faithfulness import auc
from interp.circuits.metrics import Task, metric_per_input
from interp.hooks.hooked import cache_hooks, forward

ABLATIONS = ("corrupt", "mean")
Values = dict[str, tuple[torch.Tensor, torch.Tensor]]  # hook -> (z [b, pos, d_sae], err [b, pos, d_in])


@dataclass
class NodeScores:
    """Per-hook node scores ``[P, d_sae + 1]``: latents, then the error in the last column.

    ``P`` is 1 (summed over positions) or the number of positions (``per_position``).
    """

    scores: dict[str, torch.Tensor]  # hook -> [P, d_sae + 1]
    method: str  # "atp" or "ig"
    steps: int

    @property
    def hooks(self) -> list[str]:
        return list(self.scores)

    def flat(self) -> torch.Tensor:
        """All scores in one vector [n_nodes] (the order of :meth:`labels`)."""
        return torch.cat([s.flatten() for s in self.scores.values()])

    def unflat(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A vector [n_nodes] back to per-hook tensors shaped like ``scores``."""
        out, at = {}, 0
        for h, s in self.scores.items():
            out[h] = flat[at : at + s.numel()].reshape(s.shape)
            at += s.numel()
        return out

    def labels(self) -> list[str]:
        """``"blocks.0.hook_attn_out:17"``, ``"...:err"``, with ``"@5"`` (position) when per position."""
        out = []
        for h, s in self.scores.items():
            p_count, width = s.shape
            for p in range(p_count):
                at = f"@{p}" if p_count > 1 else ""
                out += [f"{h}:{i}{at}" for i in range(width - 1)] + [f"{h}:err{at}"]
        return out

    @property
    def n_nodes(self) -> int:
        return sum(s.numel() for s in self.scores.values())


def check_saes(model: Any, saes: dict[str, Any]) -> None:
    """Named errors for an empty SAE set, an unknown hook or an SAE of the wrong width."""
    if not saes:
        raise ValueError("A feature circuit needs at least one SAE: pass {hook: sae}.")
    from interp.hooks.capturing import check_hook_names

    check_hook_names(model, list(saes))
    widths = {h: int(a.shape[-1]) for h, a in cache_hooks(model, torch.zeros(1, 2, dtype=torch.long),
                                                             list(saes)).items()}
    for h, sae in saes.items():
        d_in = int(sae.cfg.d_in)
        if widths[h] != d_in:
            raise ValueError(f"The SAE for {h!r} reads d_in={d_in} but the model's {h} has width {widths[h]}: "
                             "it was trained on another model or hook.")


def encode(sae: Any, x: torch.Tensor) -> torch.Tensor:
    """Latents [..., d_sae] of activations [..., d_in] (any leading shape)."""
    return sae.encode(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


def decode(sae: Any, z: torch.Tensor) -> torch.Tensor:
    """Reconstruction [..., d_in] of latents [..., d_sae]."""
    return sae.decode(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)


def decoder_matrix(sae: Any) -> torch.Tensor:
    """``d decode / d z`` [d_sae, d_in]: decode is affine, so ``decode(I) - decode(0)`` whatever its scaling."""
    p = next(sae.parameters())
    with torch.no_grad():
        eye = torch.eye(sae.cfg.d_sae, device=p.device, dtype=p.dtype)
        return (sae.decode(eye) - sae.decode(torch.zeros_like(eye[:1]))).float()


def _batches(task: Task, batch_size: int) -> Iterator[Task]:
    for lo in range(0, len(task), batch_size):
        yield task.subset(slice(lo, lo + batch_size))


def hook_values(model: Any, saes: dict[str, Any], tokens: torch.Tensor) -> Values:
    """Each hook's latents and error on ``tokens`` [batch, pos] in the plain model (no grad)."""
    acts = cache_hooks(model, tokens, list(saes))
    out = {}
    with torch.no_grad():
        for h, sae in saes.items():
            z = encode(sae, acts[h])
            out[h] = (z, acts[h] - decode(sae, z))
    return out


def patch_values(model: Any, saes: dict[str, Any], task: Task, ablation: str,
                 batch_size: int = 32) -> Callable[[Task], Values]:
    """``sub -> `` what each node takes when patched on the inputs ``sub`` (a batch of ``task``): its value on
    the corrupted input, or its mean (per position) over all of ``task``'s clean inputs (computed once)."""
    if ablation == "corrupt":
        return lambda sub: hook_values(model, saes, sub.corrupt)
    if ablation == "mean":
        sums: dict[str, list[torch.Tensor]] = {}
        for sub in _batches(task, batch_size):
            for h, (z, e) in hook_values(model, saes, sub.clean).items():
                part = [z.sum(0, keepdim=True), e.sum(0, keepdim=True)]
                sums[h] = part if h not in sums else [a + b for a, b in zip(sums[h], part)]
        means = {h: (z / len(task), e / len(task)) for h, (z, e) in sums.items()}
        return lambda sub: means
    raise ValueError(f"Unknown feature-circuit ablation {ablation!r}; choose one of {ABLATIONS}.")


def splice_hook(sae: Any, keep: torch.Tensor | None = None, patch: tuple[torch.Tensor, torch.Tensor] | None = None,
                errors: bool = True) -> Callable[..., torch.Tensor]:
    """A hook that splices ``sae`` in with its error term: ``decode(z') + err'``.

    ``keep`` [P, d_sae + 1] bool (None: keep all): latents / error outside it take their
    ``patch`` values (z [b|1, pos, d_sae], err [b|1, pos, d_in]); kept ones are computed from
    the activation that arrives. ``errors=False`` drops the error term (the plain SAE splice).
    """

    def fn(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
        z = encode(sae, act)  # [batch, pos, d_sae]
        err = act - decode(sae, z)  # [batch, pos, d_in]
        if keep is not None:
            k = keep.to(act.device)
            z = torch.where(k[:, :-1], z, patch[0].to(z))
            err = torch.where(k[:, -1:], err, patch[1].to(err))
        return decode(sae, z) + err if errors else decode(sae, z)

    return fn


def _grads(model: Any, sub: Task, metric: str, probe_at: Sequence[str],
           replace: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """``sum over inputs of d metric / d activation`` at each hook of ``probe_at`` [batch, pos, d_in].

    A zero "probe" added at each hook carries the gradient (the model's weights need none).
    ``replace``: hook -> the activation to put there instead [batch, pos, d_in].
    """
    probes: dict[str, torch.Tensor] = {}

    def hook_fn(name: str) -> Callable[..., torch.Tensor]:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            base = replace[name].to(act) if replace and name in replace else act
            probes[name] = torch.zeros_like(base, requires_grad=True)
            return base + probes[name]

        return fn

    names = list(dict.fromkeys([*probe_at, *(replace or {})]))
    logits = forward(model, sub.clean, fwd_hooks=[(h, hook_fn(h)) for h in names], grad=True).logits
    value = metric_per_input(metric, logits, sub).sum()
    grads = torch.autograd.grad(value, [probes[h] for h in probe_at])
    return {h: g.detach() for h, g in zip(probe_at, grads)}


def _score(saes: dict[str, Any], h: str, g: torch.Tensor, clean: Values, patch: Values,
           per_position: bool) -> torch.Tensor:
    """Scores [P, d_sae + 1] summed over inputs, from the metric's gradient g [b, pos, d_in] at hook h."""
    (z_c, e_c), (z_p, e_p) = clean[h], patch[h]
    gz = g.float() @ decoder_matrix(saes[h]).T.to(g.device)  # [b, pos, d_sae]
    lat = gz * (z_p - z_c).float()  # [b, pos, d_sae]
    err = (g.float() * (e_p - e_c).float()).sum(-1, keepdim=True)  # [b, pos, 1]
    s = torch.cat([lat, err], -1).sum(0)  # [pos, d_sae + 1]
    return (s if per_position else s.sum(0, keepdim=True)).cpu()


def node_attribution(model: Any, saes: dict[str, Any], task: Task, *, metric: str = "logit_diff", steps: int = 1,
                     ablation: str = "corrupt", per_position: bool = False, batch_size: int = 32,
                     progress: bool = True) -> NodeScores:
    """Attribution patching (``steps = 1``) or integrated-gradients scores of every node (module docstring).

    Scores are means over the task's inputs: each estimates ``metric(node patched) - metric(clean)``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1 (1 = attribution patching), got {steps}.")
    check_saes(model, saes)
    total: dict[str, torch.Tensor] = {}
    jobs = [None] if steps == 1 else list(saes)  # attribution patching: every hook from one pass
    patched = patch_values(model, saes, task, ablation, batch_size)
    bar = tqdm(total=len(jobs) * -(-len(task) // batch_size), desc="feature attribution", disable=not progress)
    for sub in _batches(task, batch_size):
        clean, patch = hook_values(model, saes, sub.clean), patched(sub)
        for job in jobs:
            if job is None:
                grads = _grads(model, sub, metric, list(saes))
            else:
                h, sae = job, saes[job]
                x_c = decode(sae, clean[h][0]) + clean[h][1]  # [b, pos, d_in]
                x_p = (decode(sae, patch[h][0]) + patch[h][1]).expand_as(x_c)
                reps = sub.subset(torch.arange(len(sub)).repeat(steps))  # steps copies of the batch
                alpha = (torch.arange(steps, dtype=x_c.dtype, device=x_c.device) / steps).repeat_interleave(len(sub))
                x_a = x_c.repeat(steps, 1, 1) + alpha[:, None, None] * (x_p - x_c).repeat(steps, 1, 1)
                g = _grads(model, reps, metric, [h], replace={h: x_a})[h]  # [steps * b, pos, d_in]
                grads = {h: g.reshape(steps, len(sub), *g.shape[1:]).mean(0)}
            for h, g in grads.items():
                s = _score(saes, h, g, clean, patch, per_position)
                total[h] = s if h not in total else total[h] + s
            bar.update(1)
    bar.close()
    return NodeScores({h: s / len(task) for h, s in total.items()}, "atp" if steps == 1 else "ig", steps)


def keep_masks(scores: NodeScores, flat_keep: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat keep vector [n_nodes] bool -> per-hook masks [P, d_sae + 1]."""
    return scores.unflat(flat_keep)


def circuit_metric(model: Any, saes: dict[str, Any], task: Task, keeps: Sequence[dict[str, torch.Tensor] | None], *,
                   metric: str = "logit_diff", ablation: str = "corrupt", batch_size: int = 32,
                   errors: bool = True) -> list[float]:
    """Mean metric with each keep set (hook -> [P, d_sae + 1] bool; None keeps everything) spliced in."""
    sums = [0.0] * len(keeps)
    patched = patch_values(model, saes, task, ablation, batch_size)
    for sub in _batches(task, batch_size):
        patch = patched(sub)
        for i, keep in enumerate(keeps):
            hooks = [(h, splice_hook(sae, None if keep is None else keep[h], patch[h], errors))
                     for h, sae in saes.items()]
            logits = forward(model, sub.clean, fwd_hooks=hooks).logits
            sums[i] += float(metric_per_input(metric, logits, sub).sum())
    return [s / len(task) for s in sums]


def node_patching(model: Any, saes: dict[str, Any], task: Task, scores: NodeScores, nodes: Sequence[int], *,
                  metric: str = "logit_diff", ablation: str = "corrupt", batch_size: int = 32) -> torch.Tensor:
    """Exact ``metric(node patched) - metric(clean)`` of each flat node index, one pass per node: [len(nodes)]."""
    clean = metric_mean(model, task, metric, batch_size)
    keeps = []
    for n in nodes:
        flat = torch.ones(scores.n_nodes, dtype=torch.bool)
        flat[int(n)] = False
        keeps.append(keep_masks(scores, flat))
    return torch.tensor(circuit_metric(model, saes, task, keeps, metric=metric, ablation=ablation,
                                       batch_size=batch_size)) - clean


def metric_mean(model: Any, task: Task, metric: str = "logit_diff", batch_size: int = 32,
                tokens: str = "clean") -> float:
    """The plain model's mean metric on the task's clean (or corrupt) prompts."""
    total = 0.0
    for sub in _batches(task, batch_size):
        logits = forward(model, getattr(sub, tokens)).logits
        total += float(metric_per_input(metric, logits, sub).sum())
    return total / len(task)


def default_ns(n_nodes: int) -> list[int]:
    """0, then counts spaced ~1.5x apart (1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 75, 100, ...), and every node."""
    grid = [0, *[round(m * 10 ** e) for e in range(7) for m in (1, 1.5, 2, 3, 5, 7.5)]]
    return sorted({k for k in grid if 0 <= k <= n_nodes} | {n_nodes})


@dataclass
class Faithfulness:
    """The faithfulness curve of a ranking and of random node sets of the same sizes."""

    ns: list[int]
    recovered: list[float]  # top-N by |score|
    random_mean: list[float]  # mean over n_random random N-node sets
    random_max: list[float]
    full_value: float  # metric with every node kept (= the clean metric: the splice is exact)
    empty_value: float  # metric with every node ablated
    n_nodes: int
    errors_only: float  # recovered by the error nodes alone (every latent ablated): what the SAEs miss

    def to_json(self) -> dict[str, Any]:
        fr = [n / self.n_nodes for n in self.ns]
        return {"nodes_kept": self.ns, "fraction_kept": fr, "metric_recovered": self.recovered,
                "random_recovered_mean": self.random_mean, "random_recovered_max": self.random_max,
                "full_value": self.full_value, "empty_value": self.empty_value, "n_nodes": self.n_nodes,
                "errors_only": self.errors_only, "auc": auc(fr, self.recovered),
                "random_auc": auc(fr, self.random_mean)}


def faithfulness(model: Any, saes: dict[str, Any], task: Task, scores: NodeScores, ns: Sequence[int] | None = None, *,
                 metric: str = "logit_diff", ablation: str = "corrupt", n_random: int = 5, seed: int = 0,
                 batch_size: int = 32, progress: bool = True) -> Faithfulness:
    """Metric recovered by the top-N nodes (by |score|) and by random N-node sets, for each N of ``ns``."""
    n = scores.n_nodes
    ns = sorted({int(k) for k in (ns if ns is not None else default_ns(n)) if 0 <= k <= n})
    order = scores.flat().abs().argsort(descending=True)
    gen = torch.Generator().manual_seed(seed)

    def top(k: int, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = torch.zeros(n, dtype=torch.bool)
        flat[idx[:k]] = True
        return keep_masks(scores, flat)

    kw = dict(metric=metric, ablation=ablation, batch_size=batch_size)
    errors = {h: torch.zeros_like(s, dtype=torch.bool).index_fill_(1, torch.tensor([s.shape[1] - 1]), True)
              for h, s in scores.scores.items()}  # every error node, no latent
    full, empty, err_only = circuit_metric(model, saes, task, [None, top(0, order), errors], **kw)
    norm = lambda v: (v - empty) / (full - empty)  # noqa: E731
    if abs(full - empty) < 1e-9:
        raise ValueError(f"Ablating every node leaves the metric at {full:.4g}: nothing to recover. Use hooks "
                         "that carry the task, another ablation, or a task whose corruption changes the metric.")
    rec, r_mean, r_max = [], [], []
    for k in tqdm(ns, desc="faithfulness", disable=not progress):
        rec.append(norm(circuit_metric(model, saes, task, [top(k, order)], **kw)[0]))
        rand = [norm(v) for v in circuit_metric(model, saes, task,
                                                 [top(k, torch.randperm(n, generator=gen)) for _ in range(n_random)],
                                                 **kw)] if 0 < k < n else [rec[-1]]
        r_mean.append(sum(rand) / len(rand))
        r_max.append(max(rand))
    return Faithfulness(ns, rec, r_mean, r_max, full, empty, n, norm(err_only))

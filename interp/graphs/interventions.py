"""Interventions on features, and what the graph predicts for them.

Three ways to ablate (or clamp) a set of features at their positions and read the
change of the target logits:

* :func:`predicted_effects`: the graph's own prediction, linear: the change propagates
  along the graph's feature-to-feature edges (per unit of activation, which is what a
  feature's active linearisation gives) to the logits;
* :func:`replacement_effects`: the local replacement model run live: attention and
  norms frozen as in the graph, but every feature recomputed through its transcoder's
  nonlinearity (a TopK active set may change), error nodes held;
* :func:`model_effects`: the real model, attention and norms live, each MLP output
  spliced as ``mlp(x) + decode(clamped) - decode(unclamped)``: the transcoder's error
  term is kept, so with nothing clamped it is the model itself.

Comparing the first with the second says how far the graph's linear picture holds;
the third, how far the replacement's picture holds in the model.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from interp.graphs.attribute import Graph
from interp.graphs.paths import logit_node
from interp.graphs.replacement import LocalReplacement
from interp.hooks.hooked import forward


def per_unit(graph: Graph) -> torch.Tensor:
    """``J[t, s]``: the direct effect on node t of one unit of feature s's activation [n_nodes, n_feat]."""
    act = graph.feat_act.clamp_min(1e-12)
    return graph.adjacency[:, : graph.n_feat] / act[None, :]


def predicted_effects(graph: Graph, features: Sequence[int] | torch.Tensor, values: torch.Tensor | float = 0.0,
                      one_at_a_time: bool = True) -> torch.Tensor:
    """Predicted change of every logit node [n_cases, n_logit] when ``features`` (node indices) are set to ``values``.

    ``one_at_a_time``: each feature is its own case (n_cases = len(features)); else one case, all together.
    """
    feats = torch.as_tensor(features, dtype=torch.long).reshape(-1)
    vals = torch.as_tensor(values, dtype=torch.float32).expand(feats.shape)
    J = per_unit(graph).double()
    n = graph.n_feat
    cases = feats.numel() if one_at_a_time else 1
    delta0 = torch.zeros(n, cases, dtype=torch.float64)
    cols = torch.arange(cases) if one_at_a_time else torch.zeros(feats.numel(), dtype=torch.long)
    delta0[feats, cols] = (vals - graph.feat_act[feats]).double()
    delta, frontier = delta0.clone(), delta0
    fixed = torch.zeros(n, cases, dtype=torch.bool)
    fixed[feats, cols] = True  # a clamped feature stays at its value in its own case: nothing upstream moves it
    for _ in range(n):
        frontier = J[:n] @ frontier
        frontier[fixed] = 0
        if not bool(frontier.abs().sum() > 1e-15):
            break
        delta += frontier
    return (J[-graph.n_logit:] @ delta).T.float()


def feature_triples(graph: Graph, features: Sequence[int] | torch.Tensor) -> list[tuple[int, int, int]]:
    """``(layer, pos, latent)`` of feature nodes ``features``: what :func:`model_effects` takes for a case."""
    feats = torch.as_tensor(features, dtype=torch.long).reshape(-1)
    bad = [int(f) for f in feats if not 0 <= int(f) < graph.n_feat]
    if bad:
        raise ValueError(f"Nodes {bad[:5]} are not feature nodes (features are 0..{graph.n_feat - 1}); "
                         "error, embedding and logit nodes cannot be ablated as latents.")
    return [(int(graph.feat_layer[f]), int(graph.feat_pos[f]), int(graph.feat_idx[f])) for f in feats]


def top_features(graph: Graph, token: int, k: int) -> torch.Tensor:
    """The ``k`` feature nodes whose zeroing the graph predicts lowers ``token``'s logit most [k], strongest first.

    Each feature's predicted effect counts every path to the logit, not only its direct edge: it is
    :func:`predicted_effects` of zeroing it alone, computed for all features at once by pushing the
    logit's row back through the feature-to-feature edges (a row vector per step, not an
    ``[n_feat, n_feat]`` matrix: the graph has no cycles, so no path returns to the zeroed feature).
    """
    J = per_unit(graph).double()  # [n_nodes, n_feat]
    n = graph.n_feat
    total = J[logit_node(graph, token)].clone()  # [n_feat]: the logit's change per unit of each feature
    frontier = total
    for _ in range(n):
        frontier = frontier @ J[:n]  # through one more feature on the way
        if not bool(frontier.abs().sum() > 1e-15):
            break
        total += frontier
    change = -graph.feat_act.double() * total  # zeroing feature f moves it by -act_f
    return change.argsort()[: min(k, n)]


def _clamp(acts: torch.Tensor, pos: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
    out = acts.clone()
    out[:, pos, idx] = vals.to(out.dtype)
    return out


def replacement_effects(rep: LocalReplacement, cases: Sequence[Sequence[int]], values: float = 0.0,
                        logit_ids: torch.Tensor | None = None, logit_pos: int = -1,
                        freeze_active: bool = False) -> torch.Tensor:
    """Change of the logits [n_cases, n_logit] in the live local replacement, each case a list of source features.

    ``freeze_active``: every latent keeps its on/off state from the prompt (active ones pass their
    pre-activation, the rest stay 0): the replacement is then exactly the graph's linear model, so
    the graph's prediction must match to rounding; without it the nonlinearity decides again.
    """
    base = _live_logits(rep, [], values, logit_pos, freeze_active)
    out = [(_live_logits(rep, list(c), values, logit_pos, freeze_active) - base) for c in cases]
    res = torch.stack(out)
    return res if logit_ids is None else res[:, logit_ids]


def _live_logits(rep: LocalReplacement, feats: list[int], value: float, logit_pos: int,
                 freeze_active: bool = False) -> torch.Tensor:
    s, tc = rep.sources, rep.tc
    masks = {L: tc.encode(L, rep.x_in[L][None]) != 0 for L in tc.layers} if freeze_active else {}
    acts_by: dict[int, torch.Tensor] = {}
    hooks = rep.frozen_hooks()
    ft = torch.as_tensor(feats, dtype=torch.long)
    for L in tc.layers:
        sel = ft[s.feat_layer[ft] == L] if ft.numel() else ft

        def read_in(act: torch.Tensor, hook: Any, L: int = L, sel: torch.Tensor = sel) -> torch.Tensor:
            acts = tc.pre_acts(L, act) * masks[L] if freeze_active else tc.encode(L, act)
            if sel.numel():
                acts = _clamp(acts, s.feat_pos[sel], s.feat_idx[sel], torch.full((sel.numel(),), float(value)))
            acts_by[L] = acts
            acts_by[("x", L)] = act  # type: ignore[index]
            return act

        def write_out(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
            out = tc.decode_into(L, {k: v for k, v in acts_by.items() if isinstance(k, int)})
            skip = tc.skip(L, acts_by[("x", L)])  # type: ignore[index]
            if skip is not None:
                out = out + skip
            return (out + s.errors[L]).to(act.dtype)

        hooks += [(tc.hooks_in[L], read_in), (tc.hooks_out[L], write_out)]
    with torch.no_grad():
        res = forward(rep.model, rep.tokens, fwd_hooks=hooks, check=False)
    return res.logits[0, logit_pos].float()


def model_effects(model: Any, transcoders: Any, tokens: torch.Tensor, cases: Sequence[Sequence[tuple[int, int, int]]],
                  values: float = 0.0, logit_ids: torch.Tensor | None = None, logit_pos: int = -1) -> torch.Tensor:
    """Change of the logits [n_cases, n_logit] in the real model, each case a list of ``(layer, pos, latent)``.

    Each MLP output becomes ``mlp(x) + decode(clamped acts) - decode(acts)``: the error term is kept.
    """
    from interp.graphs.replacement import TranscoderSet

    tc = TranscoderSet.of(transcoders)
    tokens = tokens.reshape(1, -1)
    with torch.no_grad():
        base = forward(model, tokens).logits[0, logit_pos].float()
    out = []
    for case in cases:
        acts_by: dict[int, torch.Tensor] = {}
        clamped_by: dict[int, torch.Tensor] = {}
        hooks: list[tuple[str, Any]] = []
        for L in tc.layers:
            mine = [(p, f) for (layer, p, f) in case if layer == L]

            def read_in(act: torch.Tensor, hook: Any, L: int = L, mine: list = mine) -> torch.Tensor:
                acts = tc.encode(L, act)
                acts_by[L] = acts
                if mine:
                    pos, idx = torch.tensor([m[0] for m in mine]), torch.tensor([m[1] for m in mine])
                    acts = _clamp(acts, pos, idx, torch.full((len(mine),), float(values)))
                clamped_by[L] = acts
                return act

            def write_out(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
                return act + tc.decode_into(L, clamped_by) - tc.decode_into(L, acts_by)

            hooks += [(tc.hooks_in[L], read_in), (tc.hooks_out[L], write_out)]
        with torch.no_grad():
            logits = forward(model, tokens, fwd_hooks=hooks, check=False).logits[0, logit_pos].float()
        out.append(logits - base)
    res = torch.stack(out)
    return res if logit_ids is None else res[:, logit_ids]

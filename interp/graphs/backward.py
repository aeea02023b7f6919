"""Direct effects for many targets at once: one forward pass, vectorised backward passes, dot products.

Every source writes a fixed vector into the residual stream at one place: a feature its
decoder row times its activation into its layer's MLP output (a cross-layer feature into
every later layer's too), an error node its vector there, a token its embedding at the
input of block 0. Every feature target reads the stream through its layer's frozen norm
and its encoder row. In the frozen replacement everything between is linear, so

    A[t, s] = ⟨ ∂t/∂(stream at s's write place), s's write vector ⟩.

One forward pass builds the graph from the write places (leaf tensors: the embedding and
each layer's MLP-output constant) to the read places; a backward pass with a block of
one-hot cotangents per target (``is_grads_batched``: vectorised over the block, no Python
per target) gives each target's gradient at every write place, and the edges into the
block are one batched dot product per layer. The per-target gradient only ever goes
through the frozen attention and norms (the transcoders' decoders are constants here),
which is what makes it a *direct* effect.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.hooks.hooked import forward


def encoder_rows(rep: Any, layer: int) -> torch.Tensor:
    """``∂pre/∂x`` of ``layer``'s transcoder [d_sae, d_in]: its pre-activation is affine, so this is its encoder."""
    x0 = rep.x_in[layer][:1].detach()
    return torch.func.jacrev(lambda x: rep.tc.pre_acts(layer, x))(x0)[0].detach()  # [d_sae, d_in]


def write_groups(rep: Any) -> dict[int, list[tuple[int, torch.Tensor, torch.Tensor]]]:
    """For each target layer, the features writing into it grouped by position: ``[(pos, feats [n], W [n, d])]``.

    A feature writes ``a_f · W_dec[f]`` at its own position only, so its edges from one target
    are that target's gradient *at that position* dotted with it: grouping by position makes
    that a small matrix product per position instead of gathering a [block, n_feat, d] copy.
    """
    s = rep.sources
    out: dict[int, list[tuple[int, torch.Tensor, torch.Tensor]]] = {}
    for tgt in s.layers:
        groups = []
        for src, W in rep.tc.decoders_into(tgt):
            sel = (s.feat_layer == src).nonzero().squeeze(1)
            w = (s.feat_act[sel, None] * W[s.feat_idx[sel]]).detach().float()  # [n_sel, d]
            pos = s.feat_pos[sel]
            for p in torch.unique(pos).tolist():
                m = pos == p
                groups.append((p, sel[m], w[m]))
        out[tgt] = groups
    return out


def edges(rep: Any, logit_ids: torch.Tensor, logit_pos: int, batch_size: int, progress: bool = False) -> torch.Tensor:
    """Rows of direct effects [n_feat + n_logit, n_src] for every feature target, then every logit."""
    s, tc = rep.sources, rep.tc
    n_feat, n_logit = s.n_feat, int(logit_ids.numel())
    targets = n_feat + n_logit
    d = s.embed.shape[-1]

    # the write places: leaves whose gradients we read
    a0 = s.activations()
    emb = s.embed[None].detach().clone().requires_grad_(True)  # [1, pos, d]
    with torch.no_grad():
        leaves = {L: rep.mlp_constant(L, a0[None]).float().requires_grad_(True) for L in s.layers}  # [1, pos, d]
    reads: dict[int, torch.Tensor] = {}
    hooks = rep.frozen_hooks()
    hooks.append(("blocks.0.hook_resid_pre", lambda act, hook: emb.to(act.dtype)))
    for L in s.layers:
        def read_in(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
            reads[L] = act
            return act

        def write_out(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
            skip = tc.skip(L, reads[L])
            return (leaves[L] + skip if skip is not None else leaves[L]).to(act.dtype)

        hooks += [(tc.hooks_in[L], read_in), (tc.hooks_out[L], write_out)]
    pos_t = torch.tensor([logit_pos % s.n_pos])
    logits = forward(rep.model, rep.tokens, fwd_hooks=hooks, logits_at=pos_t, grad=True, check=False).logits[0, 0]

    enc = {L: encoder_rows(rep, L) for L in s.layers}
    groups = write_groups(rep)
    outputs = [reads[L] for L in s.layers] + [logits]
    inputs = [emb] + [leaves[L] for L in s.layers]
    rows = torch.zeros(targets, len(s))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=targets, desc="graph", unit="target", dynamic_ncols=True)
    for lo in range(0, targets, batch_size):
        hi = min(targets, lo + batch_size)
        B = hi - lo
        cot = [torch.zeros(B, *reads[L].shape, dtype=reads[L].dtype) for L in s.layers] + \
              [torch.zeros(B, *logits.shape, dtype=logits.dtype)]
        for b, t in enumerate(range(lo, hi)):
            if t < n_feat:
                L = int(s.feat_layer[t])
                cot[s.layers.index(L)][b, 0, s.feat_pos[t]] = enc[L][s.feat_idx[t]]
            else:
                cot[-1][b, logit_ids[t - n_feat]] = 1.0
        grads = torch.autograd.grad(outputs, inputs, grad_outputs=cot, is_grads_batched=True,
                                    retain_graph=hi < targets, allow_unused=True)
        g_emb = grads[0] if grads[0] is not None else torch.zeros(B, 1, s.n_pos, d)
        block = torch.zeros(B, len(s))
        for i, L in enumerate(s.layers):
            g = grads[1 + i]
            if g is None:
                continue
            g = g[:, 0].float()  # [B, pos, d]
            for p, feats, w in groups[L]:
                block[:, feats] += g[:, p] @ w.T
            e0 = s.err_index(L, 0)
            block[:, e0:e0 + s.n_pos] = (g * s.errors[L].float()).sum(-1)
        block[:, n_feat + s.n_err:] = (g_emb[:, 0].float() * s.embed.float()).sum(-1)
        rows[lo:hi] = block.detach()
        if bar is not None:
            bar.update(B)
    if bar is not None:
        bar.close()
    return rows

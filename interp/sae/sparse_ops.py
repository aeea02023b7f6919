"""The fast TopK path: forward and backward that never touch a dense [batch, d_sae] gradient.

A TopK SAE keeps ``k`` of ``d_sae`` latents per token, yet plain autograd runs the
backward as if all were active: ``z @ W_dec`` costs a full [n, d_sae] x [d_sae, d_in]
matmul twice over (for ``dz`` and ``dW_dec``), and the encoder's ``dW_enc = xᵀ dpre``
another, all on a matrix that is zero except ``k`` entries a row. Following
EleutherAI's *sparsify*, :class:`TopKSAEFunction` does the one dense thing that is
needed, the encoder matmul that ranks all latents, and everything else sparsely:

* forward decoder: ``x̂ = Σ_j v_j W_dec[i_j] + b_dec`` with ``embedding_bag`` (n·k·d_in MACs);
* ``dv = ⟨dx̂, W_dec[i_j]⟩``: a sampled dense-dense product (n·k·d_in);
* ``dW_dec[s] = Σ_{(b,j): i_bj = s} v_bj dx̂_b`` and ``dW_encᵀ[s] = Σ dv_bj x_b``: two sparse
  [d_sae, n] x dense [n, d_in] products sharing one sorted COO index (n·k·d_in each);
* ``db_enc`` by ``index_add``; ``db_dec`` = ``Σ dx̂ - W_enc db_enc`` (a vector-matrix product),
  and ``dW_enc`` gets the rank-one ``-b_dec ⊗ db_enc`` from the centring.

So a step costs 2·n·d_in·d_sae (the encoder matmul) + ~8·n·k·d_in FLOPs instead of the
dense path's 10·n·d_in·d_sae. On CPU the sparse products use torch's COO/CSR kernels;
elsewhere (CUDA) the same maths runs on ``index_add_`` and gathers. Under autocast
(bf16 on GPU by default) the caller casts the inputs to the autocast dtype and runs the
function with autocast off; the casts' backward returns fp32 weight grads.

Transcoders decode into another space (and a cross-layer one into several), so they take only
the encoder half: :class:`TopKEncodeFunction` returns the kept values with the same sparse
``dW_enc`` / ``db_enc`` backward, and their decoders go through :func:`sparse_decode`.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F



def topk_latents(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, indices)`` [n, k] of the k largest pre-activations, values ReLU'd."""
    vals, idx = pre.topk(k, dim=-1, sorted=False)
    return vals.relu_(), idx


def sparse_decode(vals: torch.Tensor, idx: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """``Σ_j vals[:, j] · W_dec[idx[:, j]]`` [n, d_in] without forming the dense latents."""
    return F.embedding_bag(idx, W_dec, per_sample_weights=vals.to(W_dec.dtype), mode="sum")


def scatter_rows(idx: torch.Tensor, weights: torch.Tensor, rows: torch.Tensor, n_out: int,
                  coo: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """``out[s] = Σ_{(b,j): idx[b,j] = s} weights[b,j] · rows[b]`` → [n_out, d]."""
    if coo is not None:  # CPU: sorted COO [n_out, n] @ dense [n, d]
        index, order = coo
        m = torch.sparse_coo_tensor(index, weights.reshape(-1)[order], (n_out, rows.shape[0]), is_coalesced=True,
                                    check_invariants=False)
        return torch.sparse.mm(m, rows)
    k = idx.shape[1]
    src = rows.repeat_interleave(k, dim=0) * weights.reshape(-1, 1)
    return torch.zeros(n_out, rows.shape[1], dtype=rows.dtype, device=rows.device).index_add_(0, idx.reshape(-1), src)


def sorted_coo(idx: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The sorted COO index of latent ids ``idx`` [n, k] for :func:`scatter_rows` over rows of ``dtype``.

    Only on CPU and for fp32/fp64 rows (torch's sparse COO kernels); None elsewhere, where
    :func:`scatter_rows` uses ``index_add_``. One sort serves every sparse product of a backward
    pass over the same ``idx``.
    """
    if idx.device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return None
    sorted_lat, order = idx.reshape(-1).sort()
    return torch.stack([sorted_lat, torch.div(order, idx.shape[1], rounding_mode="floor")]), order


def _sampled_dot(grad: torch.Tensor, W_dec: torch.Tensor, idx: torch.Tensor, csr: bool) -> torch.Tensor:
    """``out[b, j] = ⟨grad[b], W_dec[idx[b, j]]⟩`` [n, k] (``csr``: torch's sampled_addmm, for CPU)."""
    if csr:
        n, k = idx.shape
        crow = torch.arange(0, n * k + 1, k, device=idx.device)
        with warnings.catch_warnings():  # torch calls the CSR layout "beta"; sampled_addmm is all we use of it
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            pattern = torch.sparse_csr_tensor(crow, idx.reshape(-1), torch.zeros(n * k, dtype=grad.dtype), size=(n, W_dec.shape[0]),
                                              check_invariants=False)
        return torch.sparse.sampled_addmm(pattern, grad, W_dec.T, beta=0.0).values().view(n, k)
    return torch.bmm(W_dec[idx], grad.unsqueeze(-1)).squeeze(-1)


class TopKSAEFunction(torch.autograd.Function):
    """``(x̂, vals, idx) = TopK-SAE(x)`` for scaled inputs x [n, d_in]; only x̂ is differentiable."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, W_dec: torch.Tensor,
                b_dec: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pre = torch.addmm(b_enc - b_dec @ W_enc, x, W_enc)  # [n, d_sae]
        vals, idx = topk_latents(pre, k)  # [n, k]
        del pre
        x_hat = sparse_decode(vals, idx, W_dec) + b_dec  # [n, d_in]
        ctx.save_for_backward(x, W_enc, W_dec, b_dec, vals, idx)
        ctx.mark_non_differentiable(vals, idx)
        return x_hat, vals, idx

    @staticmethod
    def backward(ctx: Any, grad_xhat: torch.Tensor, _gv: Any, _gi: Any) -> tuple[Any, ...]:
        x, W_enc, W_dec, b_dec, vals, idx = ctx.saved_tensors
        n, k = idx.shape
        d_sae = W_dec.shape[0]
        grad_xhat = grad_xhat.contiguous()
        coo = sorted_coo(idx, x.dtype)  # one sort, both products
        g_vals = _sampled_dot(grad_xhat, W_dec, idx, coo is not None) * (vals > 0)  # [n, k] dL/dpre at the kept latents
        grad_W_dec = scatter_rows(idx, vals, grad_xhat, d_sae, coo) if ctx.needs_input_grad[3] else None
        grad_b_enc = torch.zeros(d_sae, dtype=g_vals.dtype, device=g_vals.device).index_add_(0, idx.reshape(-1), g_vals.reshape(-1))
        grad_W_enc = None
        if ctx.needs_input_grad[1]:  # pre = x W_enc + b_enc - b_dec W_enc
            grad_W_enc = scatter_rows(idx, g_vals, x, d_sae, coo).T - torch.outer(b_dec, grad_b_enc)
        grad_b_dec = grad_xhat.sum(0) - W_enc @ grad_b_enc
        return None, grad_W_enc, grad_b_enc, grad_W_dec, grad_b_dec, None


class TopKEncodeFunction(torch.autograd.Function):
    """``(vals, idx)``: the TopK of ``relu(x @ W_enc + b_enc)``, with a backward over the k kept latents only.

    A transcoder's encoder, whose output goes to decoders autograd handles well already
    (``embedding_bag``). Plain autograd would form ``dpre`` [n, d_sae], zero but k entries a
    row, and run ``dW_enc = xᵀ dpre`` as a dense matmul: as much work again as the forward's
    encoder matmul. Here ``dW_encᵀ[s] = Σ_{(b,j): idx_bj = s} dv_bj x_b`` is a sparse product
    (n·k·d_in) and ``db_enc`` an ``index_add``. ``vals`` [n, k] is differentiable, ``idx`` is not.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor,
                k: int) -> tuple[torch.Tensor, torch.Tensor]:
        vals, idx = topk_latents(torch.addmm(b_enc, x, W_enc), k)  # [n, k] each
        ctx.save_for_backward(x, W_enc, vals, idx)
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx: Any, grad_vals: torch.Tensor, _gi: Any) -> tuple[Any, ...]:
        x, W_enc, vals, idx = ctx.saved_tensors
        g = (grad_vals * (vals > 0)).contiguous()  # [n, k]: dL/dpre at the kept latents (the ReLU's gate)
        d_sae = W_enc.shape[1]
        grad_x = grad_W_enc = None
        if ctx.needs_input_grad[0]:
            grad_x = F.embedding_bag(idx, W_enc.T, per_sample_weights=g.to(W_enc.dtype), mode="sum")  # [n, d_in]
        if ctx.needs_input_grad[1]:
            grad_W_enc = scatter_rows(idx, g, x, d_sae, sorted_coo(idx, x.dtype)).T  # [d_in, d_sae]
        grad_b_enc = torch.zeros(d_sae, dtype=g.dtype, device=g.device).index_add_(0, idx.reshape(-1), g.reshape(-1))
        return grad_x, grad_W_enc, grad_b_enc, None

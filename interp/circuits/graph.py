"""The edge graph of a transformer, and a forward pass that cuts any set of its edges.

Circuit methods (EAP, EAP-IG, ACDC) work on the *computational graph* of the
residual stream (Elhage et al. 2021; Conmy et al. 2023; Syed et al. 2023; Hanna et
al. 2024). Our graph:

* **upstream nodes** (they write into the residual stream): ``input`` (token +
  position embedding, ``blocks.0.hook_resid_pre``), every attention head ``L{l}H{h}``
  (its output ``z_h · W_O[h]``, computed from ``blocks.l.attn.hook_z``; the bridge's
  ``hook_result`` is not available on native attention), every MLP ``MLP{l}``
  (``blocks.l.hook_mlp_out``);
* **downstream inputs** (they read from it): each head's **query, key and value
  inputs separately** (``L1H0.q``, ``L1H0.k``, ``L1H0.v``), each MLP's input, and the
  output ``logits`` (the input of ``ln_final``);
* an **edge** ``u -> v`` for every upstream node ``u`` that comes before ``v`` (heads
  of layer ``l`` read nodes of layers ``< l``; ``MLP{l}`` also reads the heads of
  layer ``l``; ``logits`` reads every node).

Separate q/k/v edges matter: K-composition (the previous-token head feeding the
induction head's *keys*) is the induction mechanism, and it is only visible if the
key input is its own edge.

Cutting edges. The residual stream at any point is a sum of upstream outputs (plus
constant biases), so the input of ``v`` with edge ``u -> v`` cut is::

    input_v = resid + sum_{u cut} (a_u^patch - a_u^current)

where ``a_u^patch`` is ``u``'s activation on the corrupted input (or its mean, or 0)
and ``a_u^current`` is its activation in this very run (so effects of other cuts
upstream are respected, as in ACDC). The bridge's native attention has no per-head
q/k/v input hooks (``use_split_qkv_input`` is refused for it), so we rebuild them:
at ``hook_q``/``hook_k``/``hook_v`` of layer ``l`` we recompute head ``h``'s projection
``LN1(input_{v}) · W_Q[h] + b_Q[h]`` from the patched per-head residual copy. With no
cut this reproduces the model exactly (tested). MLP inputs are patched at
``blocks.l.ln2.hook_in`` and the output at ``ln_final.hook_in``.

The same forward pass can plant zero-valued probe tensors at every downstream input
and return ``d metric / d input_v``, which is what attribution patching needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from interp.hooks.hooked import forward

QKV = ("q", "k", "v")


@dataclass(frozen=True)
class Node:
    name: str  # "input", "L0H3", "MLP2", "logits"
    type: str  # "input" | "head" | "mlp" | "output"
    layer: int  # -1 for input, n_layers for output
    head: int | None = None


@dataclass(frozen=True)
class Slot:
    """A downstream input: a node, and for heads which of q/k/v."""

    node: Node
    qkv: str | None = None

    @property
    def name(self) -> str:
        return self.node.name if self.qkv is None else f"{self.node.name}.{self.qkv}"


class EdgeGraph:
    """Nodes, downstream inputs and the valid-edge mask of a model with ``n_layers`` x ``n_heads`` (+ MLPs)."""

    def __init__(self, n_layers: int, n_heads: int, has_mlp: bool) -> None:
        self.n_layers, self.n_heads, self.has_mlp = n_layers, n_heads, has_mlp
        self.per_layer = n_heads + int(has_mlp)
        self.src: list[Node] = [Node("input", "input", -1)]
        self.dst: list[Slot] = []
        for layer in range(n_layers):
            heads = [Node(f"L{layer}H{h}", "head", layer, h) for h in range(n_heads)]
            self.src += heads
            self.dst += [Slot(node, c) for c in QKV for node in heads]
            if has_mlp:
                mlp = Node(f"MLP{layer}", "mlp", layer)
                self.src.append(mlp)
                self.dst.append(Slot(mlp))
        self.output = Node("logits", "output", n_layers)
        self.dst.append(Slot(self.output))
        self.valid = torch.zeros(len(self.src), len(self.dst), dtype=torch.bool)  # [n_src, n_dst]
        for j in range(len(self.dst)):
            self.valid[: self.n_upstream(j), j] = True

    @classmethod
    def from_model(cls, model: Any) -> "EdgeGraph":
        """The graph of a pre-norm decoder; other models are refused with the reason."""
        graph = cls(model.cfg.n_layers, model.cfg.n_heads, not getattr(model.cfg, "attn_only", False))
        names = set(getattr(model, "hook_dict", {}))
        needed = [h for h, _ in EdgeRun.hook_names(graph)]
        missing = [h for h in needed if h not in names]
        if missing:
            raise ValueError(f"This model lacks the hooks an edge graph needs ({missing[:4]}...): edge-level "
                             "circuits need a TransformerLens-style pre-norm decoder.")
        n_kv = getattr(model.cfg, "n_key_value_heads", None)
        if n_kv not in (None, model.cfg.n_heads):
            raise ValueError("Edge graphs do not support grouped-query attention (n_key_value_heads != n_heads).")
        return graph

    # Index arithmetic ---------------------------------------------------------------
    def layer_src_start(self, layer: int) -> int:
        """Index of the first upstream node of ``layer`` (= how many nodes come before it)."""
        return 1 + layer * self.per_layer

    def attn_slots(self, layer: int, qkv: str) -> list[int]:
        base = layer * (3 * self.n_heads + int(self.has_mlp)) + QKV.index(qkv) * self.n_heads
        return list(range(base, base + self.n_heads))

    def mlp_slot(self, layer: int) -> int:
        return layer * (3 * self.n_heads + 1) + 3 * self.n_heads

    def n_upstream(self, j: int) -> int:
        """How many upstream nodes (a prefix of ``src``) can feed downstream input ``j``."""
        node = self.dst[j].node
        if node.type == "output":
            return len(self.src)
        if node.type == "mlp":
            return self.layer_src_start(node.layer) + self.n_heads
        return self.layer_src_start(node.layer)

    # Edge listing ---------------------------------------------------------------------
    @property
    def n_edges(self) -> int:
        return int(self.valid.sum())

    def edges(self) -> list[tuple[int, int]]:
        """Every valid (src index, dst index) pair, upstream-major order."""
        return [tuple(ij) for ij in self.valid.nonzero().tolist()]

    def edge_name(self, i: int, j: int) -> str:
        return f"{self.src[i].name}->{self.dst[j].name}"

    def node_dicts(self) -> list[dict[str, Any]]:
        """Nodes as in the ``circuit`` run's graph.json."""
        nodes = self.src + [self.output]
        return [{"name": n.name, "type": n.type, "layer": n.layer, "head": n.head} for n in nodes]

    def edge_dicts(self, scores: torch.Tensor, keep: torch.Tensor) -> list[dict[str, Any]]:
        """Edges as in graph.json: src, dst node names (+ ``qkv`` for head inputs), score, in_circuit."""
        return [
            {"src": self.src[i].name, "dst": self.dst[j].node.name, "qkv": self.dst[j].qkv,
             "score": float(scores[i, j]), "in_circuit": bool(keep[i, j])}
            for i, j in self.edges()
        ]

    def check(self, mask: torch.Tensor, what: str) -> None:
        if mask.shape != self.valid.shape:
            raise ValueError(f"{what} has shape {tuple(mask.shape)}; this graph needs [n_src, n_dst] = "
                             f"{tuple(self.valid.shape)}.")


def _ln(block: Any, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The block's raw norm module (no hooks fire), or identity for models without one."""
    norm = getattr(block, name, None)
    if norm is None:
        return lambda x: x
    return getattr(norm, "original_component", None) or norm


class EdgeRun:
    """One forward pass with edges cut (``ablate[u, v] = 1``) and optional gradient probes.

    patch: [batch, pos, n_src, d_model] activations used for cut edges (from
    :func:`node_activations`). input_fn: optional ``act -> act`` applied to the input
    node (``blocks.0.hook_resid_pre``), e.g. EAP-IG's interpolation. probes=True plants
    zero tensors at every downstream input; after a backward pass, :meth:`input_grads`
    returns their gradients [batch, pos, n_dst, d_model].
    """

    def __init__(self, model: Any, graph: EdgeGraph, patch: torch.Tensor | None = None,
                 ablate: torch.Tensor | None = None, input_fn: Callable | None = None, probes: bool = False) -> None:
        self.model, self.g = model, graph
        self.patch, self.input_fn, self.want_probes = patch, input_fn, probes
        if ablate is not None:
            graph.check(ablate, "ablate")
            if patch is None and bool(ablate.any()):
                raise ValueError("Cutting edges needs patch activations (node_activations of the corrupt input).")
            ablate = (ablate & graph.valid) if ablate.dtype == torch.bool else ablate * graph.valid
        self.ablate = None if ablate is None else ablate.float()
        self.cur: list[torch.Tensor] = []  # current upstream activations, each [batch, pos, d_model]
        self.resid: dict[Any, torch.Tensor] = {}  # layer -> resid_pre; ("in", dst) -> input before cuts
        self.probes: dict[int, torch.Tensor] = {}  # dst index -> probe [batch, pos, d_model] (MLPs, logits)
        # q/k/v slots of one layer -> probe [batch, pos, head, d_model]
        self._head_probes: dict[tuple[int, ...], torch.Tensor] = {}
        w = model
        self.W = {"q": (w.W_Q, w.b_Q), "k": (w.W_K, w.b_K), "v": (w.W_V, w.b_V)}
        self.W_O = w.W_O  # [layer, head, d_head, d_model]

    # Helpers -------------------------------------------------------------------------
    def _delta(self, n_up: int, slots: list[int]) -> torch.Tensor | None:
        """sum_u ablate[u, slot] * (patch_u - current_u) for each slot: [batch, pos, len(slots), d_model]."""
        if self.ablate is None:
            return None
        a = self.ablate[:n_up, slots]  # [n_up, k]
        if not bool(a.any()):
            return None
        cur = torch.stack(self.cur[:n_up], dim=2)  # [batch, pos, n_up, d_model]
        diff = self.patch[:, :, :n_up].to(cur) - cur
        return torch.einsum("bsnd,nk->bskd", diff, a.to(cur))

    def _probe(self, j: int, like: torch.Tensor) -> torch.Tensor | None:
        if not self.want_probes:
            return None
        p = torch.zeros_like(like, requires_grad=True)
        self.probes[j] = p
        return p

    # Hooks ---------------------------------------------------------------------------
    def _resid_pre(self, layer: int):
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            if layer == 0:
                if self.input_fn is not None:
                    act = self.input_fn(act)
                self.cur = [act]
            self.resid[layer] = act
            return act

        return fn

    def _z(self, layer: int):
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:  # act: [batch, pos, head, d_head]
            result = torch.einsum("bshd,hdm->bshm", act, self.W_O[layer].to(act))
            self.cur.extend(result.unbind(dim=2))
            return act

        return fn

    def _mlp_out(self, act: torch.Tensor, hook: Any) -> torch.Tensor:
        self.cur.append(act)
        return act

    def _qkv(self, layer: int, c: str):
        slots = self.g.attn_slots(layer, c)
        n_up = self.g.layer_src_start(layer)
        ln = _ln(self.model.blocks[layer], "ln1")

        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:  # act: [batch, pos, head, d_head]
            delta = self._delta(n_up, slots)
            resid = self.resid[layer]
            x = resid[:, :, None, :].expand(-1, -1, self.g.n_heads, -1)  # [batch, pos, head, d_model]
            if delta is not None:
                x = x + delta
            if self.want_probes:
                probe = torch.zeros_like(x, requires_grad=True)  # [batch, pos, head, d_model]
                self._head_probes[tuple(slots)] = probe
                x = x + probe
            if delta is None and not self.want_probes:
                return act
            W, b = self.W[c]
            out = torch.einsum("bshm,hmd->bshd", ln(x), W[layer].to(x)) + b[layer].to(x)
            return out.to(act.dtype)

        return fn

    def _add_delta(self, j: int, n_up: int):
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:  # act: [batch, pos, d_model]
            self.resid[("in", j)] = act
            delta = self._delta(n_up, [j])
            if delta is not None:
                act = act + delta[:, :, 0]
            probe = self._probe(j, act)
            return act if probe is None else act + probe

        return fn

    @staticmethod
    def hook_names(g: EdgeGraph) -> list[tuple[str, tuple]]:
        """(hook name, what it does) for every hook the edge run uses, in forward order."""
        names: list[tuple[str, tuple]] = []
        for layer in range(g.n_layers):
            names.append((f"blocks.{layer}.hook_resid_pre", ("resid", layer)))
            names += [(f"blocks.{layer}.attn.hook_{c}", ("qkv", layer, c)) for c in QKV]
            names.append((f"blocks.{layer}.attn.hook_z", ("z", layer)))
            if g.has_mlp:
                j = g.mlp_slot(layer)
                names.append((f"blocks.{layer}.ln2.hook_in", ("add", j, g.n_upstream(j))))
                names.append((f"blocks.{layer}.hook_mlp_out", ("mlp",)))
        names.append(("ln_final.hook_in", ("add", len(g.dst) - 1, len(g.src))))
        return names

    def fwd_hooks(self) -> list[tuple[str, Callable]]:
        make = {"resid": self._resid_pre, "qkv": self._qkv, "z": self._z, "add": self._add_delta,
                "mlp": lambda: self._mlp_out}
        return [(name, make[what[0]](*what[1:])) for name, what in self.hook_names(self.g)]

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [batch, pos, vocab] of the run with the cuts; grads flow if enabled (attribution).

        The hook names were checked when the graph was built (:meth:`EdgeGraph.from_model`), so
        the thousands of passes of ACDC and edge patching do not read ``model.hook_dict`` again
        (``check=False``).
        """
        self.cur, self.resid, self.probes, self._head_probes = [], {}, {}, {}
        logits = forward(self.model, tokens, fwd_hooks=self.fwd_hooks(), grad=torch.is_grad_enabled(),
                         check=False).logits
        if len(self.cur) != len(self.g.src):
            raise RuntimeError(f"Collected {len(self.cur)} node activations, expected {len(self.g.src)}: "
                               "a hook did not fire (is this a TransformerLens-style decoder?).")
        return logits

    def probe_tensors(self) -> list[torch.Tensor]:
        """The leaf tensors to differentiate against (one per head layer/qkv, one per other input)."""
        return list(self._head_probes.values()) + list(self.probes.values())

    def input_grads(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """Gradients (from ``torch.autograd.grad(metric, probe_tensors())``) as [batch, pos, n_dst, d_model]."""
        by_slot: dict[int, torch.Tensor] = {}
        k = len(self._head_probes)
        for slots, grad in zip(self._head_probes, grads[:k]):
            for h, j in enumerate(slots):
                by_slot[j] = grad[:, :, h]
        for j, grad in zip(self.probes, grads[k:]):
            by_slot[j] = grad
        return torch.stack([by_slot[j] for j in range(len(self.g.dst))], dim=2)

    def node_acts(self) -> torch.Tensor:
        """The upstream activations of the last run: [batch, pos, n_src, d_model] (detached)."""
        return torch.stack([a.detach() for a in self.cur], dim=2)


def node_activations(model: Any, graph: EdgeGraph, tokens: torch.Tensor) -> torch.Tensor:
    """Every upstream node's output on ``tokens``: [batch, pos, n_src, d_model].

    Also checks the premise of edge cutting: the final residual stream must equal the
    sum of the node outputs plus the attention output biases (true for pre-norm
    decoders; false for post-LN encoders such as BERT, which are refused).
    """
    run = EdgeRun(model, graph)
    with torch.no_grad():
        run(tokens)
    acts = run.node_acts()
    resid = run.resid[("in", len(graph.dst) - 1)]
    b_o = getattr(model, "b_O", None)
    total = acts.sum(2) + (b_o.detach().sum(0).to(acts) if b_o is not None else 0.0)
    err = (total - resid).abs().max().item()
    if err > 1e-3 * max(1.0, resid.abs().max().item()):
        raise ValueError(
            f"The residual stream is not the sum of the node outputs here (max error {err:.3g}): edge-level "
            "circuits need a pre-norm decoder whose blocks add attention and MLP outputs to the residual "
            "(post-LN models such as BERT/MiniLM are not supported)."
        )
    return acts


def patch_values(model: Any, graph: EdgeGraph, tokens: torch.Tensor, ablation: str = "corrupt",
                 corrupt: torch.Tensor | None = None, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Activations that replace a cut edge's source: [batch, pos, n_src, d_model].

    ``corrupt``: the nodes' outputs on the corrupted inputs (resample ablation, the
    default); ``mean``: their mean over ``reference`` inputs (per position); ``zero``: 0.
    """
    if ablation == "corrupt":
        if corrupt is None:
            raise ValueError("ablation='corrupt' needs the corrupted tokens.")
        return node_activations(model, graph, corrupt)
    if ablation == "mean":
        ref = node_activations(model, graph, reference if reference is not None else tokens)
        return ref.mean(0, keepdim=True).expand(tokens.shape[0], *ref.shape[1:])
    if ablation == "zero":
        acts = node_activations(model, graph, tokens[:1])
        return torch.zeros(tokens.shape[0], *acts.shape[1:])
    raise ValueError(f"Unknown edge ablation {ablation!r}; choose 'corrupt', 'mean' or 'zero'.")

"""Compiled transformers: models whose weights are set by hand to run a known program, with known circuits.

Trained toys tell us a method finds something plausible; a compiled model tells us
whether it finds *what is there*, because the mechanism is known by construction
(tracr, Lindner et al. 2023; ACDC's edge ROC-AUC against tracr ground truth,
Conmy et al. 2023). We do not depend on JAX or tracr: each program in
:mod:`interp.models.compiled.programs` sets the weights of a native
``TransformerBridge`` (no LayerNorm, hard attention, one-hot residual blocks) and
names the edges its computation flows through, in the edge vocabulary of
``interp.circuits`` (``input->L0H0.k``, ``L0H0->L1H0.k``, ``MLP0->logits``).

``load_model("toy:compiled-<name>")`` builds one on the fly (nothing is trained or
shipped); the bridge carries the :class:`CompiledProgram` as ``model.compiled``.
:func:`interp.circuits.compiled_task.compiled_task` turns it into a clean/corrupt
task for the circuit tools, and :mod:`interp.circuits.recovery` scores circuit
discovery against :attr:`CompiledProgram.edges`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from interp.models.compiled.programs import BOS, PROGRAMS

PREFIX = "compiled-"


@dataclass
class CompiledProgram:
    """A program compiled into a model: what it computes and which edges compute it."""

    name: str
    description: str
    vocab: int  # input tokens: BOS = 0 and the program's tokens 1 .. vocab - 1
    n_ctx: int
    edges: tuple[str, ...]  # ground truth, as EdgeGraph.edge_name spells edges
    reference: Callable[[torch.Tensor], torch.Tensor]  # tokens [batch, pos] -> outputs [batch, pos]; -1 = undefined

    def sample(self, n: int, generator: torch.Generator | None = None, length: int | None = None) -> torch.Tensor:
        """``n`` random inputs ``[BOS] x_1 .. x_{length-1}`` (length defaults to n_ctx): [n, length] long."""
        length = length or self.n_ctx
        if not 2 <= length <= self.n_ctx:
            raise ValueError(f"length must be between 2 and n_ctx={self.n_ctx}, got {length}.")
        tokens = torch.randint(1, self.vocab, (n, length), generator=generator)
        tokens[:, 0] = BOS
        return tokens

    def outputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """The program's outputs on ``tokens`` [batch, pos]: [batch, pos] long, -1 where undefined."""
        return self.reference(tokens.cpu())


def compiled_names() -> list[str]:
    return sorted(PROGRAMS)


def build_compiled(name: str, device: Any = None, dtype: Any = None) -> Any:
    """The bridge that runs program ``name`` (``"induction"`` or ``"compiled-induction"``), in eval mode."""
    from interp.models.toy import ToyConfig, boot_toy, load_native_state_dict
    from interp.models.device import move_model

    key = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if key not in PROGRAMS:
        raise ValueError(f"No compiled program {name!r}; choose one of "
                         f"{', '.join('toy:' + PREFIX + n for n in compiled_names())}.")
    prog = PROGRAMS[key]()
    cfg = ToyConfig(PREFIX + key, prog.bridge_config, task="compiled", extra={"program": key})
    bridge = boot_toy(cfg)
    load_native_state_dict(bridge, prog.weights.state)
    bridge.toy_config = cfg
    bridge.compiled = CompiledProgram(key, prog.description, prog.bridge_config["d_vocab"],
                                      prog.bridge_config["n_ctx"], prog.edges, prog.reference)
    if device is not None or dtype is not None:
        move_model(bridge, device, dtype)
    bridge.eval()
    return bridge


__all__ = ["CompiledProgram", "PREFIX", "build_compiled", "compiled_names"]

"""Hook hygiene: whatever raises inside nested hook contexts and captures, no hook is left behind.

TransformerLens users hit leaked hooks (TL issues #1323, #1636): a hook that stays
registered after an exception silently changes every later forward pass. This drives
random nests of ``model.hooks(...)``, :func:`interp.hooks.hooked` and ``capture`` with
exceptions raised from inside hooks (including a KeyboardInterrupt-like BaseException)
and checks, after each, that the model holds exactly the hooks it held before and
computes exactly what it computed before.
"""

from __future__ import annotations

import random

import torch

from interp.hooks import capture, forward


class _Boom(Exception):
    pass


class _Interrupt(BaseException):  # like KeyboardInterrupt: not an Exception
    pass


def _registered(model) -> int:
    """Hooks on every module and every hook point (a bridge's hook points are not all in ``modules()``)."""
    mods = {id(m): m for m in model.modules()}
    mods.update({id(hp): hp for hp in model.hook_dict.values()})
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(getattr(m, "_backward_hooks", {}))
               + len(getattr(m, "fwd_hooks", [])) for m in mods.values())


def _raiser(kind: type[BaseException]):
    def fn(act, hook):
        raise kind("raised inside a hook")
    return fn


def _scale(act, hook):
    return act * 1.5


def test_random_nests_with_exceptions_leave_no_hook_behind(tiny_model):
    rng = random.Random(0)
    tokens = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(1))
    names = [f"blocks.{i}.{h}" for i in range(3) for h in ("hook_resid_pre", "hook_resid_post", "attn.hook_pattern")]
    with torch.no_grad():
        before = tiny_model(tokens)  # first: a bridge block wires its own capture hooks once, for good
    before_hooks = _registered(tiny_model)

    def run_level(depth: int) -> None:
        action = rng.choice(["nest", "forward", "capture", "raise"] if depth < 4 else ["forward", "capture", "raise"])
        kind = rng.choice([_Boom, _Interrupt])
        hooks = [(rng.choice(names), rng.choice([_scale, _raiser(kind)])) for _ in range(rng.randint(0, 3))]
        if action == "nest":
            with tiny_model.hooks(fwd_hooks=hooks):
                run_level(depth + 1)
                if rng.random() < 0.3:
                    raise kind("raised inside a hooks() block")
        elif action == "forward":
            forward(tiny_model, tokens, fwd_hooks=hooks, names_filter=rng.sample(names, 2),
                    stop_after=rng.choice([None, True]))
        elif action == "capture":
            capture(tiny_model, tokens, rng.sample(names, 2), batch_size=1, progress=False)
        else:
            raise kind("raised between passes")

    raised = 0
    for _ in range(200):
        try:
            run_level(0)
        except (_Boom, _Interrupt):
            raised += 1
        assert _registered(tiny_model) == before_hooks
    assert 20 < raised < 200  # the walk both raised and completed, many times
    with torch.no_grad():
        assert torch.equal(tiny_model(tokens), before)

"""capture(): values equal run_with_cache, rows are the right positions, the forward stops early."""

from __future__ import annotations

import pytest
import torch

from interp.datasets import TokenizedCorpus
from interp.hooks import HookNameError, capture
from interp.hooks.capturing import keep_mask

HOOKS = [
    "hook_embed",
    "blocks.0.hook_resid_pre",
    "blocks.0.attn.hook_pattern",
    "blocks.0.attn.hook_attn_scores",
    "blocks.1.attn.hook_z",
    "blocks.1.attn.hook_q",
    "blocks.1.mlp.hook_post",
    "blocks.1.hook_resid_post",
]


def reference_rows(cache, hook: str, mask: torch.Tensor) -> torch.Tensor:
    ref = cache[hook]
    if hook.endswith(("hook_pattern", "hook_attn_scores")):
        ref = ref.permute(0, 2, 1, 3)
    return ref[mask].reshape(int(mask.sum()), -1)


def test_matches_run_with_cache_on_every_hook_kind(tiny_model):
    tokens = torch.randint(0, 50, (7, 24), generator=torch.Generator().manual_seed(0))
    result = capture(tiny_model, tokens, HOOKS, batch_size=3, progress=False)
    _, cache = tiny_model.run_with_cache(tokens, names_filter=lambda n: n in HOOKS)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    for hook in HOOKS:
        assert torch.equal(result[hook], reference_rows(cache, hook, mask)), hook
    assert result.row_shape["blocks.0.attn.hook_pattern"] == [4, 24]
    assert result.row_shape["blocks.1.attn.hook_z"] == [4, 8]
    assert torch.equal(result.meta["token_id"], tokens.reshape(-1))
    assert torch.equal(result.meta["seq_pos"], torch.arange(24).repeat(7))


@pytest.mark.parametrize("spec", ["toy:induction", "toy:modadd", "toy:toylm"])
def test_matches_run_with_cache_on_shipped_toys(spec):
    from interp.models import load_model

    model = load_model(spec, device="cpu")
    n_ctx = min(int(model.cfg.n_ctx), 64)
    tokens = torch.randint(0, model.cfg.d_vocab, (5, n_ctx), generator=torch.Generator().manual_seed(1))
    last = model.cfg.n_layers - 1
    hooks = [f"blocks.{last}.hook_resid_post", f"blocks.{last}.attn.hook_pattern", "blocks.0.attn.hook_z"]
    # same batching on both sides, so the same BLAS calls: the values must be identical
    result = capture(model, tokens, hooks, batch_size=len(tokens), progress=False)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in hooks)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    for hook in hooks:
        assert torch.equal(result[hook], reference_rows(cache, hook, mask)), hook


def test_minilm_padding_excluded_and_values_match(minilm):
    texts = ["The cat sat on the mat, and then it slept for a very long time.", "Short.", "A middling sentence here."]
    enc = minilm.tokenizer(texts, return_tensors="pt", padding=True)
    inputs = TokenizedCorpus(enc["input_ids"], enc["attention_mask"], torch.arange(3), torch.zeros(3, dtype=torch.long), 1, 1)
    hooks = ["blocks.2.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.4.mlp.hook_pre"]
    result = capture(minilm, inputs, hooks, batch_size=2, progress=False)
    _, cache = minilm.run_with_cache(enc["input_ids"], attention_mask=enc["attention_mask"],
                                     names_filter=lambda n: n in hooks)
    mask = enc["attention_mask"].bool()
    assert result["blocks.2.hook_resid_post"].shape[0] == int(mask.sum()) < mask.numel()
    for hook in hooks:
        torch.testing.assert_close(result[hook], reference_rows(cache, hook, mask), rtol=1e-5, atol=1e-5)
    # attention rows put no mass on padded keys
    pattern = result["blocks.1.attn.hook_pattern"].reshape(-1, 12, mask.shape[1])
    row_seq = result.meta["seq_id"]
    assert float(pattern[row_seq == 1][..., int(mask[1].sum()):].abs().max()) == 0.0


def test_bos_and_position_selection(tiny_model):
    tokens = torch.randint(0, 50, (4, 10))
    mask = torch.ones_like(tokens)
    mask[1, 6:] = 0
    inputs = TokenizedCorpus(tokens, mask, torch.arange(4), torch.zeros(4, dtype=torch.long), n_prefix=1)
    no_bos = capture(tiny_model, inputs, ["blocks.0.hook_resid_post"], include_bos=False, progress=False)
    assert int((no_bos.meta["seq_pos"] == 0).sum()) == 0
    assert len(no_bos.meta["seq_pos"]) == int(mask.sum()) - 4
    last = keep_mask(inputs, "last")
    assert last.sum() == 4 and bool(last[1, 5]) and bool(last[0, 9])
    picked = capture(tiny_model, inputs, ["blocks.0.hook_resid_post"], positions=[0, 7], progress=False)
    assert picked.meta["seq_pos"].tolist() == [0, 7, 0, 0, 7, 0, 7]  # seq 1 has no position 7


def test_forward_stops_after_last_needed_hook(tiny_model):
    fired = []
    with tiny_model.hooks(fwd_hooks=[("blocks.2.hook_resid_pre", lambda t, hook: fired.append(1))]):
        capture(tiny_model, torch.randint(0, 50, (4, 8)), ["blocks.0.hook_resid_post"], progress=False)
        assert fired == []  # block 2 never ran
        capture(tiny_model, torch.randint(0, 50, (4, 8)), ["blocks.2.hook_resid_post"], batch_size=4, progress=False)
    assert len(fired) == 1  # one pass per batch: row shapes come from the first batch, not a probe pass


def test_wrong_hook_name_fails_before_any_work(tiny_model, tmp_path):
    with pytest.raises(HookNameError) as err:
        capture(tiny_model, torch.randint(0, 50, (2, 8)), ["blocks.1.hook_resid_pots"], out=tmp_path / "s")
    assert "blocks.1.hook_resid_post" in str(err.value)
    assert not (tmp_path / "s").exists()


def test_capture_from_texts_uses_tokenizer_and_documents(minilm):
    texts = ["First document. " * 30, "Second document is here. " * 5]
    result = capture(minilm, texts, ["blocks.0.hook_resid_post"], seq_len=32, progress=False)
    assert result.inputs is not None and result.inputs.n_prefix == 1
    assert set(result.inputs.doc_ids.tolist()) == {0, 1}
    assert len(result["blocks.0.hook_resid_post"]) == int(result.inputs.attention_mask.sum())


@pytest.mark.parametrize("batch_size,chunk", [(1, 1), (3, 2), (4, 64), (7, 1)])
def test_batch_plan_matches_the_rows_of_each_batch_worked_out_one_by_one(batch_size, chunk):
    """The precomputed per-batch rows and metadata equal the plain per-batch computation,
    across chunk boundaries, empty batches, padded (non-contiguous) batches and a resume skip."""
    from interp.hooks.capturing import _batch_plan

    gen = torch.Generator().manual_seed(0)
    n_seq, seq_len = 23, 6
    tokens = torch.randint(0, 50, (n_seq, seq_len), generator=gen)
    keep = torch.rand(n_seq, seq_len, generator=gen) < 0.6
    keep[5:12] = False  # whole empty batches
    keep[13] = True  # a contiguous run inside a padded region
    for first_batch in (0, 1):
        for skip in (0, 1, 2):
            starts = range(first_batch * batch_size, n_seq, batch_size)
            want = []
            for start in starts:
                m = keep[start : start + batch_size]
                flat = m.reshape(-1).nonzero().squeeze(1)
                if start == starts[0]:
                    flat = flat[skip:]
                if len(flat):
                    want.append((start, flat, (flat // seq_len + start).int(), (flat % seq_len).int(),
                                 tokens[start : start + batch_size].reshape(-1)[flat].int()))
            got = list(_batch_plan(tokens, keep, starts, batch_size, skip, chunk=chunk))
            assert [g[0] for g in got] == [w[0] for w in want]
            for (start, stop, rows, meta), (_, flat, seq, pos, tok) in zip(got, want):
                assert stop == min(start + batch_size, n_seq)
                idx = torch.arange(batch_size * seq_len)[rows] if isinstance(rows, slice) else rows
                assert torch.equal(idx, flat)
                assert torch.equal(meta["__seq_id"], seq) and torch.equal(meta["__seq_pos"], pos)
                assert torch.equal(meta["__token_id"], tok)
            assert any(isinstance(g[2], slice) for g in got) and any(not isinstance(g[2], slice) for g in got)

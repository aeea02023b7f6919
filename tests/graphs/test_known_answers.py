"""Known answers for attribution graphs: the graph must show a mechanism we already know.

**Modular addition** (Nanda et al. 2023): ``toy:modadd`` computes ``(a + b) mod 113`` with the
key frequencies 1, 7 and 19 (``interp.circuits.fourier`` finds them from the embedding), and a
transcoder trained on its MLP learns latents that are each a function of one key frequency
(tests/transcoders/test_modadd.py). So in the graph of ``a b =`` with the answer as target, the
answer logit's input should come through latents of the key frequencies. Measured (seed 0, 8
prompts): 96.6 % of the logit's absolute direct attribution (min 91.8 %) comes through such
latents, 98.5 % of what comes through features at all (the rest is embeddings and error), split
1: 31 %, 7: 24 %, 19: 42 %; an untrained transcoder of the same shape: 0.4 % (its error node
carries ~94 %).

**Induction** (Olsson et al. 2022), in a language model: ``toy:induction-lm`` (a 2-layer LM on the
shipped corpus whose recipe makes induction heads form; ``toy:toylm`` has none), with transcoders
trained here on both MLPs over text and repeated tokens (FVU 0.046 / 0.006). On ``[BOS] r1..r12
r1..r11`` over tokens it trained on, the answer r12's strongest path to its logit starts at r12's
earlier position in 12 of 12 prompts (among all inputs, error nodes included), an edge that can
only run through the frozen layer-1 attention; zeroing the graph's 5 top-attributed features in the
real model lowers the answer logit by 7.6 on average (1.3 to 12.6), 5 random active features by
0.19 (ratio 39; the test asks for 5). Zeroing layer 1's MLP costs the repeat 1.35 nats, so the
features do part of the work.
"""

from __future__ import annotations

import pytest
import torch

from interp.circuits.fourier import fourier_analysis, frequency_families, modadd_inputs
from interp.graphs.attribute import AttributionConfig, attribute
from interp.graphs.interventions import feature_triples, model_effects, top_features
from interp.graphs.paths import best_path_strengths, influence_on, logit_node, strongest_path
from interp.hooks.hooked import forward
from interp.transcoders.base import Transcoder, TranscoderConfig
from interp.transcoders.train import TranscoderTrainConfig, train_transcoders

P = 113
IN, OUT = "blocks.0.mlp.hook_in", "blocks.0.hook_mlp_out"  # toy:modadd has no LayerNorm


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny tensors: one intra-op thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def _one_thread_module():
    """The same for the module-scoped training fixtures, restored after the module."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def modadd(_one_thread_module):
    from interp.hooks import capture
    from interp.models import load_model

    model = load_model("toy:modadd", device="cpu")
    tokens, _ = modadd_inputs(P)
    res = capture(model, tokens, [IN, OUT], positions=[-1], progress=False)  # at "=", where the MLP reads a and b
    x, y = res[IN], res[OUT]
    # the recipe of tests/transcoders/test_modadd.py (FVU < 1 %, latents concentrated on key frequencies)
    cfg = TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=128, activation="topk", k=16),
                                total_tokens=2000 * 512, batch_size=512, lr=3e-3, seed=0,
                                hook_in="blocks.{layer}.mlp.hook_in", progress=False)
    trained = train_transcoders(cfg, {IN: x, OUT: y}).transcoders
    tc = trained[0] if isinstance(trained, list) else trained
    torch.manual_seed(123)  # the control: same shape, untrained
    control = Transcoder(TranscoderConfig(d_in=128, d_out=128, d_sae=128, activation="topk", k=16,
                                          layer=0, hook_in=IN, hook_out=OUT)).eval()
    return model, x, tc, control, fourier_analysis(model).key_freqs


def key_routing(model, tc, x: torch.Tensor, keys: list[int], n_prompts: int = 8, seed: int = 0) -> dict:
    """Share of the answer logit's |direct attribution| through latents dominated by one key frequency, per prompt."""
    with torch.no_grad():
        best, share = frequency_families(tc.encode(x), P)  # [d_sae]: each latent's family over all 113² inputs
    key_latent = torch.tensor([int(k) in keys for k in best]) & (share >= 0.5)
    g = torch.Generator().manual_seed(seed)
    shares, of_features, by_freq, drops, after = [], [], {}, [], []
    for _ in range(n_prompts):
        a, b = torch.randint(0, P, (2,), generator=g).tolist()
        graph = attribute(model, [tc], torch.tensor([a, b, P]), AttributionConfig(target=(a + b) % P))
        t = logit_node(graph, (a + b) % P)
        row = graph.adjacency[t].abs()  # [n_nodes]: direct effects into the answer logit
        feat = row[: graph.n_feat]
        on_key = key_latent[graph.feat_idx]
        shares.append(float(feat[on_key].sum() / row.sum()))
        of_features.append(float(feat[on_key].sum() / feat.sum().clamp_min(1e-30)))
        # one layer: a feature's influence on the logit is its direct edge's fraction
        assert torch.allclose(influence_on(graph, t)[: graph.n_feat], feat / row.sum(), atol=1e-5)
        for i in on_key.nonzero().squeeze(1).tolist():
            k = int(best[graph.feat_idx[i]])
            by_freq[k] = by_freq.get(k, 0.0) + float(feat[i] / row.sum()) / n_prompts
        # zero those latents in the real model (error kept): the answer logit falls by exactly their edges
        # (one layer, no norm: nothing downstream of the MLP but the unembedding), and the answer goes
        prompt = torch.tensor([a, b, P])
        with torch.no_grad():
            base = forward(model, prompt[None]).logits[0, -1]
        change = model_effects(model, [tc], prompt, [feature_triples(graph, on_key.nonzero().squeeze(1))])[0]
        edges = float(graph.adjacency[t, : graph.n_feat][on_key].sum())
        drops.append((-float(change[(a + b) % P]), edges))
        after.append(float((base + change).softmax(-1)[(a + b) % P]))
    return {"share": sum(shares) / n_prompts, "min_share": min(shares), "of_features": sum(of_features) / n_prompts,
            "by_freq": dict(sorted(by_freq.items())), "n_key_latents": int(key_latent.sum()),
            "drops": drops, "p_after": after}


def test_modadd_answer_logit_routes_through_key_frequency_latents(modadd):
    model, x, tc, control, keys = modadd
    assert set(keys) == {1, 7, 19}
    trained, untrained = key_routing(model, tc, x, keys), key_routing(model, control, x, keys)
    print(f"answer-logit attribution through key-frequency latents: trained {trained['share']:.3f} "
          f"(min {trained['min_share']:.3f}; {trained['of_features']:.3f} of the feature part), by frequency "
          f"{ {k: round(v, 3) for k, v in trained['by_freq'].items()} }, {trained['n_key_latents']} key latents; "
          f"untrained {untrained['share']:.3f} ({untrained['of_features']:.3f} of its feature part); zeroing the key "
          f"latents: answer logit drop (model, graph) {[(round(d, 2), round(e, 2)) for d, e in trained['drops']]}, "
          f"answer probability after {[round(q, 3) for q in trained['p_after']]}")
    assert trained["share"] >= 0.8 and trained["min_share"] >= 0.6, trained
    assert trained["of_features"] >= 0.9, trained
    assert untrained["share"] <= 0.2 and trained["share"] >= untrained["share"] + 0.5, untrained
    # the graph's edges are what the model does: zeroing the key latents moves the answer logit by exactly them,
    # and takes the answer away (an untrained transcoder's few "key" latents do not)
    for drop, edges in trained["drops"]:
        assert abs(drop - edges) <= 1e-3 * abs(edges) + 1e-3, trained["drops"]
    assert max(trained["p_after"]) <= 0.2 and sum(trained["p_after"]) / 8 <= 0.05, trained["p_after"]
    assert sum(untrained["p_after"]) / 8 >= 0.5, untrained["p_after"]
    # every key frequency carries part of the answer, and only key frequencies are counted
    assert set(trained["by_freq"]) == set(keys) and min(trained["by_freq"].values()) >= 0.05, trained["by_freq"]


TC_WIDTH, TC_K, TC_STEPS = 1024, 16, 1500  # transcoders for toy:induction-lm's two MLPs (d_mlp 512)
SEG = 12  # prompts [BOS, r1..r12, r1..r11]: the answer is r12, which first appeared at position SEG


@pytest.fixture(scope="module")
def induction(_one_thread_module):
    """``toy:induction-lm`` and transcoders on both its MLPs, trained on text and on repeated tokens."""
    from interp.datasets.corpus import load_texts, tokenize_corpus
    from interp.hooks import capture
    from interp.models import load_model
    from interp.models.training.inductionlm import pooled_repeats

    model = load_model("toy:induction-lm", device="cpu")
    pool = torch.tensor(model.toy_config.extra["repeat_pool"])
    reps = pooled_repeats(pool, 512, 64, 6, 24, torch.Generator().manual_seed(11))  # [512, 64]
    text = tokenize_corpus(model.tokenizer, load_texts(max_docs=40), 64)
    text = text.tokens[text.attention_mask.all(1)][:512]  # [<= 512, 64] whole chunks of text
    hooks = [h for L in range(model.cfg.n_layers) for h in (f"blocks.{L}.ln2.hook_normalized", f"blocks.{L}.hook_mlp_out")]
    res = capture(model, torch.cat([reps, text]), hooks, progress=False)
    cfg = TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=TC_WIDTH, activation="topk", k=TC_K),
                                total_tokens=TC_STEPS * 512, batch_size=512, lr=3e-3, seed=0, progress=False)
    trained = train_transcoders(cfg, {h: res[h] for h in hooks})
    return model, pool, trained.transcoders, {k: v["fvu"] for k, v in trained.metrics.items()}


def test_induction_graph_routes_the_answer_from_its_earlier_occurrence(induction):
    """Strongest path to the answer logit starts at the answer token's earlier position, through the frozen layer-1
    attention; ablating the top-attributed features lowers that logit far more than ablating random active ones."""
    from interp.circuits.head_scores import induction_head_scores
    from interp.datasets.synthetic import induction_eval_batch
    from interp.hooks.hooked import forward

    from interp.datasets.synthetic import pool_tokens

    model, pool, tcs, fvu = induction
    heads = induction_head_scores(model, SEG, n_seq=64, token_pool=pool)
    # shipped: previous-token 0.93, induction 0.82 (every layer-1 head does some), repeat 2.8 vs 8.5 nats
    assert heads.previous_token[0].max() >= 0.85 and heads.induction[1].max() >= 0.75, heads
    assert heads.repeat_loss < heads.first_half_loss / 2, heads  # the model copies
    assert max(fvu.values()) < 0.1, fvu
    tokens, _, second = induction_eval_batch(64, SEG, len(pool) + 1, torch.Generator().manual_seed(1234))
    tokens = pool_tokens(tokens, pool)  # [64, 1 + 2 * SEG] over tokens the model trained on

    def repeat_loss(hooks: list) -> float:
        logp = forward(model, tokens, fwd_hooks=hooks).logits[:, second.start:-1].log_softmax(-1)
        return -float(logp.gather(-1, tokens[:, second.start + 1:, None]).mean())

    mlp_cost = repeat_loss([("blocks.1.hook_mlp_out", lambda act, hook: act * 0)]) - repeat_loss([])
    assert mlp_cost > 0.1, mlp_cost  # the layer-1 MLP does part of the work: its features are worth finding

    k, n_prompts, n_random = 5, 12, 10
    prompts, _, _ = induction_eval_batch(n_prompts, SEG, len(pool) + 1, torch.Generator().manual_seed(3))
    prompts = pool_tokens(prompts, pool)
    starts, top_drops, anti_drops, random_drops = [], [], [], []
    for i, seq in enumerate(prompts):
        prompt, answer = seq[:-1], int(seq[-1])  # [1 + 2 * SEG - 1], the token after r11's first occurrence
        assert int(prompt[SEG]) == answer
        graph = attribute(model, tcs, prompt, AttributionConfig(target=answer))
        t = logit_node(graph, answer)
        emb = torch.arange(graph.n_feat + graph.n_err, graph.n_feat + graph.n_err + graph.n_pos)
        # (a) the answer's earlier occurrence is where the answer comes from
        best, _ = best_path_strengths(graph, t)
        assert int(best[emb].argmax()) == SEG, (i, best[emb])  # the strongest path from any token starts there
        assert int(influence_on(graph, t)[emb].argmax()) == SEG, i  # and it is the most influential token
        path = strongest_path(graph, t)
        starts.append(path.labels[0])
        # it can only reach the last position through attention: the frozen layer-1 heads that read position SEG
        pattern = forward(model, prompt[None], names_filter=["blocks.1.attn.hook_pattern"]).cache[
            "blocks.1.attn.hook_pattern"][0, :, -1, SEG]  # [head]
        assert float(pattern.max()) >= 0.5, (i, pattern)
        # (b) ablate in the real model (attention live, transcoder errors kept)
        order = top_features(graph, answer, graph.n_feat)  # every feature, the predicted strongest drop first
        top, anti = order[:k], order[-k:]  # anti: those the graph says hold the answer back most
        g = torch.Generator().manual_seed(100 + i)
        cases = [feature_triples(graph, top), feature_triples(graph, anti)] + [
            feature_triples(graph, torch.randperm(graph.n_feat, generator=g)[:k]) for _ in range(n_random)]
        change = model_effects(model, tcs, prompt, cases, logit_ids=torch.tensor([answer]))[:, 0]  # [2 + n_random]
        top_drops.append(-float(change[0]))
        anti_drops.append(-float(change[1]))
        random_drops.append(-float(change[2:].mean()))
    ratio = sum(top_drops) / max(sum(random_drops), 1e-9)
    from_answer = sum(s.startswith("emb") and s.endswith(f"@{SEG}") for s in starts)
    print(f"zeroing MLP 1 costs the repeat {mlp_cost:.2f} nats; transcoder FVU {fvu}; strongest path starts at the answer's earlier position in {from_answer}/{n_prompts} "
          f"prompts (others: {[s for s in starts if not s.endswith(f'@{SEG}')]}); top-{k} ablation lowers the answer "
          f"logit by {[round(d, 2) for d in top_drops]} (mean {sum(top_drops) / n_prompts:.2f}), {k} random active "
          f"features by {[round(d, 3) for d in random_drops]} (mean {sum(random_drops) / n_prompts:.3f}): "
          f"ratio {ratio:.1f}; the {k} the graph ranks last by {sum(anti_drops) / n_prompts:.2f}")
    assert from_answer >= n_prompts * 2 // 3, starts
    assert all(s.startswith("err") for s in starts if not s.endswith(f"@{SEG}")), starts  # else only error nodes
    assert min(top_drops) > 0.5, top_drops
    assert ratio >= 5, (ratio, top_drops, random_drops)
    # Zeroing any strongly active feature of this LM costs the answer something in the real model, so random
    # features (mostly weak) are an easy control; the graph's ranking must also beat its own opposite end.
    assert sum(top_drops) >= 1.5 * sum(anti_drops), (top_drops, anti_drops)

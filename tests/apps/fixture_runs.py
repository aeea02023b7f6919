"""Tiny runs of every kind the dashboard shows, written exactly as docs/runs.md specifies.

The analyses that write these runs are built separately; writing their artifacts
here (small, seeded, plausible arrays) keeps the dashboard's tests independent of
them while holding both sides to the same contract. ``experiments/screenshots.py``
uses the same builder when a runs folder lacks some kind.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from interp.runs import Run, runs_root, start_run

WORDS = ["<|bos|>", " the", " of", " and", " to", " a", " in", " was", " her", " his", " Darcy", " Elizabeth",
         " whale", " ship", " Captain", " Ahab", " Congress", " America", " said", " not", " be", " had", ",", ".",
         " she", " he", " it", " with", " for", " as", " on", " at", " Mr", " Mrs", " Bennet", " sea", " deep",
         " white", " letter", " ball", "\n", " would", " could", " very", " much", " Anne", " Wentworth", " Queequeg",
         " budget", " jobs"]
SAE_TOKEN = {f: 10 + f for f in range(16)}  # feature f's top contexts are centred on WORDS[10 + f]
D_SAE, D_IN, N_TOP, CTX_L, CTX_R, N_Q, N_PER, N_BINS = 16, 128, 5, 4, 2, 3, 2, 10
DEAD = 15  # a latent that never fires


def _write(run: Run, name: str, rel: str, obj) -> None:
    path = run.path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if rel.endswith(".json"):
        path.write_text(json.dumps(obj))
    else:
        save_file({k: torch.as_tensor(v).contiguous() for k, v in obj.items()}, str(path))
    run.add_artifact(name, rel)


def sae_run(root, model: str = "toy:toylm", hook: str = "blocks.1.hook_resid_post", seed: int = 0,
            vocab: bool = True) -> Run:
    """An SAE run; ``vocab=False`` is one for a model without a tokenizer (no ``vocab`` artifact, ids shown),
    written with the ``quantile_value`` tensor interp.sae.features adds."""
    g = np.random.default_rng(seed)
    ctx, v = CTX_L + 1 + CTX_R, len(WORDS)
    density = g.uniform(1e-3, 0.2, D_SAE)
    max_act = g.uniform(1.0, 8.0, D_SAE)
    density[DEAD] = max_act[DEAD] = 0.0
    top_value = np.sort(g.uniform(0.3, 1.0, (D_SAE, N_TOP)), axis=1)[:, ::-1] * max_act[:, None]
    top_tokens = g.integers(1, v, (D_SAE, N_TOP, ctx))
    top_tokens[:, :, CTX_L] = [[SAE_TOKEN[f]] * N_TOP for f in range(D_SAE)]
    top_tokens[:, 0, 0] = -1  # the best window starts one token before its sequence
    top_acts = g.uniform(0, 0.3, (D_SAE, N_TOP, ctx)) * max_act[:, None, None] * (g.random((D_SAE, N_TOP, ctx)) < 0.4)
    top_acts[:, :, CTX_L] = top_value
    top_acts[:, 0, 0] = 0.0
    top_value[DEAD] = top_acts[DEAD] = 0.0
    q_edges = np.linspace(0, 1, N_Q + 1)[None] * max_act[:, None]  # [d_sae, n_q + 1]
    q_tokens = g.integers(1, v, (D_SAE, N_Q, N_PER, ctx))
    q_acts = g.uniform(0, 0.2, (D_SAE, N_Q, N_PER, ctx)) * max_act[:, None, None, None]
    q_acts[..., CTX_L] = (q_edges[:, :-1, None] + q_edges[:, 1:, None]) / 2
    q_acts[DEAD] = 0.0
    counts = g.integers(0, 200, (D_SAE, N_BINS))
    counts[DEAD] = 0
    edges = np.linspace(0, 1, N_BINS + 1)[None] * np.maximum(max_act, 1e-3)[:, None]
    w_dec = g.normal(size=(D_SAE, D_IN))
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    cos = w_dec @ w_dec.T
    np.fill_diagonal(cos, -2)
    nb_ids = np.argsort(-cos, axis=1)[:, :3]
    logit_pos = g.integers(1, v, (D_SAE, 4))
    logit_neg = g.integers(1, v, (D_SAE, 4))
    logit_vals = np.sort(g.uniform(0.5, 2, (D_SAE, 4)))[:, ::-1].astype(np.float32)  # descending
    config = {"arch": "topk", "hook": hook, "d_in": D_IN, "d_sae": D_SAE, "k": 4, "lr": 4e-4, "steps": 100,
              "store": "runs/capture/x/activations"}
    with start_run("sae", config, model=model, slug="fixture-sae", root=root) as run:
        _write(run, "features", "features.safetensors", {
            "density": density.astype(np.float32), "max_act": max_act.astype(np.float32),
            "mean_act": (max_act / 3).astype(np.float32),
            "hist_counts": counts.astype(np.int64), "hist_edges": edges.astype(np.float32),
            "top_value": top_value.astype(np.float32).copy(), "top_tokens": top_tokens.astype(np.int64),
            "top_acts": top_acts.astype(np.float32),
            "quantile_tokens": q_tokens.astype(np.int64), "quantile_acts": q_acts.astype(np.float32),
            "quantile_edges": q_edges.astype(np.float32),
            "logit_pos_ids": logit_pos.astype(np.int64), "logit_pos_vals": logit_vals.copy(),
            "logit_neg_ids": logit_neg.astype(np.int64), "logit_neg_vals": -logit_vals[:, ::-1].copy(),
            "neighbour_ids": nb_ids.astype(np.int64),
            "neighbour_cos": np.take_along_axis(cos, nb_ids, 1).astype(np.float32),
        })
        _write(run, "features_meta", "features.json", {
            "model": model, "hook": hook, "d_sae": D_SAE, "n_top": N_TOP, "ctx_left": CTX_L, "ctx_right": CTX_R,
            "n_quantiles": N_Q, "n_tokens": 4096, "has_logits": True})
        if vocab:
            _write(run, "vocab", "vocab.json", WORDS)
        else:
            extra = {"quantile_value": np.full((D_SAE, N_Q, N_PER), 0.123, dtype=np.float32)}
            path = run.path / "features.safetensors"
            from safetensors.torch import load_file
            save_file({**load_file(str(path)), **{k: torch.as_tensor(v) for k, v in extra.items()}}, str(path))
        w_enc = torch.tensor(w_dec.T, dtype=torch.float32).contiguous()  # [d_in, d_sae]
        (run.path / "sae").mkdir()
        save_file({"W_enc": w_enc, "b_enc": torch.zeros(D_SAE), "W_dec": torch.tensor(w_dec, dtype=torch.float32),
                   "b_dec": torch.zeros(D_IN)}, str(run.path / "sae" / "sae_weights.safetensors"))
        (run.path / "sae" / "cfg.json").write_text(json.dumps({
            "architecture": "topk", "d_in": D_IN, "d_sae": D_SAE, "hook_name": hook, "model_name": model, "k": 4}))
        run.add_artifact("sae", "sae")
        run.metrics.update({"l0": 4.0, "mse": 0.01, "fvu": 0.12, "explained_variance": 0.88, "cos_sim": 0.93,
                            "l2_ratio": 0.97, "dead_frac": 1 / D_SAE, "dense_frac": 0.0, "ce_loss_score": 0.91})
    return run


def probe_run(root) -> Run:
    rows = [{"hook": f"blocks.{l}.hook_resid_post", "layer": l, "train": 0.7 + 0.1 * l, "val": 0.65 + 0.1 * l,
             "test": 0.64 + 0.1 * l, "control": 0.55, "selectivity": 0.09 + 0.1 * l, "random_model": 0.4}
             for l in range(2)]
    config = {"model": "toy:toylm", "task": "part-of-speech", "hooks": [r["hook"] for r in rows], "probe": "logistic",
              "l2": 1e-3}
    with start_run("probe", config, model="toy:toylm", slug="fixture-probe", root=root) as run:
        _write(run, "results", "results.json", {"task": "part-of-speech", "metric": "accuracy", "chance": 0.25,
                                                "rows": rows})
        run.metrics.update({"best_hook": rows[-1]["hook"], "best_accuracy": rows[-1]["test"],
                            "best_selectivity": rows[-1]["selectivity"]})
    return run


def patching_run(root) -> Run:
    g = np.random.default_rng(1)
    labels = ["<|bos|>", " When", " Mary", " and", " John", " went", " to", " the", " store", ",", " John", " gave"]
    with start_run("patching", {"model": "toy:toylm", "metric": "logit_diff", "direction": "denoising",
                                "corruption": "name swap", "prompts": 8}, model="toy:toylm",
                   slug="fixture-patching", root=root) as run:
        _write(run, "results", "patching.safetensors", {
            "resid_pre": g.uniform(-0.1, 1, (2, len(labels))).astype(np.float32),
            "attn_out": g.uniform(-0.1, 0.6, (2, len(labels))).astype(np.float32),
            "heads": g.uniform(-0.2, 0.8, (2, 4)).astype(np.float32)})
        _write(run, "meta", "patching.json", {"metric": "logit_diff", "direction": "denoising", "pos_labels": labels,
                                              "clean_value": 2.4, "corrupt_value": -0.3})
    return run


def circuit_run(root) -> Run:
    # As interp.circuits writes them (docs/runs.md): input at layer -1, logits at layer n_layers, q/k/v edges.
    nodes = [{"name": "input", "type": "input", "layer": -1, "head": None}]
    nodes += [{"name": f"L{l}H{h}", "type": "head", "layer": l, "head": h} for l in range(2) for h in range(4)]
    nodes += [{"name": f"MLP{l}", "type": "mlp", "layer": l, "head": None} for l in range(2)]
    nodes += [{"name": "logits", "type": "output", "layer": 2, "head": None}]
    kept = [("input", "L0H1", "v", 0.9), ("input", "L0H1", "q", 0.3), ("input", "L0H3", "k", 0.4),
            ("L0H1", "L1H2", "k", 0.7), ("L0H3", "L1H2", "q", 0.3), ("L0H1", "MLP0", None, 0.25),
            ("MLP0", "L1H2", "v", 0.2), ("L1H2", "logits", None, 1.1), ("MLP1", "logits", None, 0.35),
            ("L1H2", "MLP1", None, 0.3)]
    pruned = [("input", "MLP0", None, 0.05), ("MLP0", "L1H0", "v", -0.02), ("L1H0", "logits", None, 0.01),
              ("L0H0", "L1H3", "k", 0.02), ("L1H3", "logits", None, -0.01), ("L0H2", "MLP1", None, 0.03)]
    edges = [{"src": a, "dst": b, "qkv": q, "score": w, "in_circuit": True} for a, b, q, w in kept]
    edges += [{"src": a, "dst": b, "qkv": q, "score": w, "in_circuit": False} for a, b, q, w in pruned]
    config = {"model": "toy:induction", "method": "eap", "top_n": 3, "ablation": "mean", "metric": "logit_diff"}
    with start_run("circuit", config, model="toy:induction", slug="fixture-circuit", root=root) as run:
        _write(run, "graph", "graph.json", {"method": "eap", "nodes": nodes, "edges": edges})
        _write(run, "faithfulness", "faithfulness.json", {"ablation": "mean", "metric": "logit_diff",
                                                          "edges_kept": [3, 6, 10, 16],
                                                          "fraction_kept": [0.2, 0.4, 0.6, 1.0],
                                                          "metric_recovered": [0.2, 0.55, 0.93, 1.0], "auc": 0.71})
        _write(run, "adversarial", "adversarial.json", {
            "kl": [0.01, 0.02, 0.4], "recovered": [0.98, 0.95, 0.41], "mean_kl": 0.143,
            "worst": [{"index": 2, "input": "7 3 9 7 3", "kl": 0.4, "recovered": 0.41}],
            "percentiles": {"50": 0.02, "90": 0.32, "99": 0.39}})
        run.metrics.update({"edges_kept": 10, "edges_total": 16, "fraction_kept": 0.625, "metric_recovered": 0.93,
                            "faithfulness_auc": 0.71})
    return run


def sinks_run(root) -> Run:
    g = np.random.default_rng(2)
    alpha = g.uniform(0, 0.2, (2, 4, 16))
    alpha[:, :, 0] = [[0.9, 0.2, 0.8, 0.1], [0.95, 0.7, 0.3, 0.85]]
    cats = ["first", "punctuation", "other"]
    mass = g.dirichlet(np.ones(3), (2, 4))
    example = np.tril(g.uniform(0.1, 1, (2, 4, 5, 5)))
    example /= example.sum(-1, keepdims=True)  # [layer, head, q, k] causal rows
    with start_run("sinks", {"model": "toy:toylm", "corpus": None, "seq_len": 64, "max_seqs": 32, "epsilon": 0.3},
                   model="toy:toylm", slug="fixture-sinks", root=root) as run:
        _write(run, "sinks", "sinks.safetensors", {"alpha": alpha.astype(np.float32),
                                                   "sink_rate": (alpha[:, :, 0] > 0.3).astype(np.float32),
                                                   "mass": mass.astype(np.float32),
                                                   "example_pattern": example.astype(np.float32)})
        _write(run, "meta", "sinks.json", {"epsilon": 0.3, "categories": cats,
                                           "sink_heads": [{"layer": 1, "head": 0, "token": "<|bos|>", "mass": 0.95}],
                                           "massive": [{"layer": 1, "pos": 0, "channel": 17, "value": 84.0,
                                                        "token": "<|bos|>"}],
                                           "example_tokens": ["<|bos|>", " Mr", ".", " Darcy", " Mr"]})
        run.metrics.update({"sink_rate": 0.62, "n_sink_heads": 5, "n_massive": 1})
    return run


def emergence_run(root) -> Run:
    steps = [0, 100, 200, 400, 800]
    curves = [{"label": "bos, lr 1e-3", "bos": True, "seq_len": 64, "lr": 1e-3, "weight_decay": 0.1, "steps": steps,
               "sink_rate": [0.0, 0.05, 0.3, 0.7, 0.8], "loss": [8.3, 6.0, 5.1, 4.6, 4.4]},
              {"label": "no bos", "bos": False, "seq_len": 64, "lr": 1e-3, "weight_decay": 0.1, "steps": steps,
               "sink_rate": [0.0, 0.02, 0.1, 0.35, 0.5], "loss": [8.3, 6.1, 5.2, 4.7, 4.5]}]
    with start_run("sink-emergence", {"model": "toy:toylm", "settings": 2}, model="toy:toylm",
                   slug="fixture-emergence", root=root) as run:
        _write(run, "curves", "curves.json", {"epsilon": 0.3, "runs": curves})
    return run


def heads_run(root) -> Run:
    with start_run("heads", {"model": "toy:induction"}, model="toy:induction", slug="fixture-heads", root=root) as run:
        _write(run, "scores", "scores.json", {"previous_token": [[0.1, 0.95, 0.2, 0.1], [0.1, 0.1, 0.1, 0.1]],
                                              "induction": [[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.9, 0.1]]})
        run.metrics.update({"prev_token_head": "L0H1", "prev_token_score": 0.95})
    return run


GRAPH_PROMPT = "The cat sat on the mat"


@functools.lru_cache(maxsize=1)
def _toylm():
    from interp.models import load_model

    return load_model("toy:toylm", device="cpu")


def graph_transcoders() -> list:
    """The random TopK transcoders (d_sae 32, k 4, seeded) the fixture graph is built on, fresh each call."""
    helpers = Path(__file__).resolve().parents[1] / "graphs" / "graph_helpers.py"
    spec = importlib.util.spec_from_file_location("_fixture_graph_helpers", helpers)  # not on sys.path here
    mod = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))  # dataclasses look it up there
    spec.loader.exec_module(mod)
    models = mod.random_transcoders(_toylm(), d_sae=32, k=4)
    for m in models:
        m.cfg.model = "toy:toylm"
    return models


@functools.lru_cache(maxsize=1)
def _graph_result():
    """A real attribution graph of toy:toylm with random transcoders (built once per process, about a second)."""
    from interp.graphs.attribute import AttributionConfig, attribute
    from interp.graphs.prune import prune

    graph = attribute(_toylm(), graph_transcoders(), GRAPH_PROMPT, AttributionConfig(max_logits=5, batch_size=64))
    return graph, prune(graph, 0.8, 0.98)


@functools.lru_cache(maxsize=1)
def _transcoder_features():
    """Real feature dashboards of graph_transcoders() over a small capture of toy:toylm (once per process)."""
    import tempfile

    from interp.hooks.pipeline import CaptureConfig, capture_run, open_store
    from interp.sae.features import FeatureConfig
    from interp.transcoders.features import transcoder_features

    hooks = [f"blocks.{l}.ln2.hook_normalized" for l in range(2)]
    with tempfile.TemporaryDirectory() as tmp:
        cap = capture_run(CaptureConfig(model="toy:toylm", hooks=hooks, seq_len=32, max_seqs=16, shuffle_seed=0),
                          root=tmp, model=_toylm())
        return transcoder_features(graph_transcoders(), open_store(cap.path), model=_toylm(),
                                   cfg=FeatureConfig(n_top=5, ctx_left=4, ctx_right=2, n_quantiles=3, n_per_quantile=2,
                                                     n_bins=10), progress=False)


TRANSCODER_METRICS = {"fvu_L0": 0.21, "fvu_L1": 0.34, "l0_L0": 4.0, "l0_L1": 4.0, "dead_frac_L0": 0.03125,
                      "dead_frac_L1": 0.0625, "ce_loss_score": 0.87, "kl": 0.12, "fvu": 0.275}


def transcoder_run(root, features: bool = True) -> Run:
    """A ``transcoder`` run written by interp.transcoders.pipeline.write_transcoder_run: the fixture graph's
    transcoders, with real per-layer feature dashboards (``features=False``: without them) and plausible metrics."""
    from interp.transcoders.pipeline import TranscoderRunResult, write_transcoder_run
    from interp.transcoders.train import TranscoderTrainResult

    models = graph_transcoders()
    result = TranscoderRunResult(TranscoderTrainResult(models, [0, 1], 0, 0),
                                 features=_transcoder_features() if features else None)
    config = {"kind": "plt", "layers": [0, 1], "hooks_in": [m.cfg.hook_in for m in models],
              "hooks_out": [m.cfg.hook_out for m in models], "activation": "topk", "k": 4, "skip": False,
              "d_in": 128, "d_out": 128, "d_sae": 32, "held_out": 0.1, "store": "runs/capture/x/activations"}
    run = write_transcoder_run(result, spec="toy:toylm", config=config, root=root, slug="fixture-transcoder")
    run.metrics.update(TRANSCODER_METRICS)
    run.save()
    return run


def graph_run(root, prompt: str = GRAPH_PROMPT, transcoders: str | Path | None = None) -> Run:
    """A ``graph`` run written by interp.graphs.run.write_graph_run; ``prompt`` is only what the run records
    (the graph is always of GRAPH_PROMPT), ``transcoders`` the run it names (default: a folder that is no run)."""
    from interp.graphs.run import write_graph_run

    base = Path(root) if root is not None else runs_root()
    tc = transcoders if transcoders is not None else base.resolve() / "transcoder" / "not-a-run"
    config = {"model": "toy:toylm", "transcoders": str(tc), "prompt": prompt, "max_logits": 5,
              "logit_mass": 0.95, "target": None, "batch_size": 64, "node_threshold": 0.8,
              "edge_threshold": 0.98, "max_bytes": 8e9}
    return write_graph_run(_graph_result(), spec="toy:toylm", config=config, root=root, slug="fixture-graph")


def superposition_run(root) -> Run:
    """A ``superposition`` run written by interp.sae.superposition_run.write_superposition_run (the figures made up:
    a regular pentagon, the dense model's top 2 kept, an SAE that found every direction, a 2 × 3 phase grid)."""
    from interp.sae.superposition_run import SuperpositionConfig, SuperpositionResult, write_superposition_run

    ang = np.radians(np.arange(5) * 72.0 + 10.0)
    W = np.stack([np.cos(ang), np.sin(ang)])  # [2, 5]
    sae = {"mcc": 1.0, "angles_deg": [0.2] * 5, "rows": 1000, "d_sae": 5, "k": 1, "W_dec": W.T.tolist()}
    phase = {"densities": [0.03, 1.0], "importances": [0.5, 1.0, 2.0], "phases": ["not represented",
             "dedicated dimension", "superposition"], "phase": [[2, 2, 2], [0, 1, 1]],
             "norms": [[[1.0, 1.0]] * 3, [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]], "loss": [[0.01] * 3, [0.1] * 3]}
    result = SuperpositionResult(W.tolist(), [72.0] * 5, [0.009] * 6, [1.0, 1.0, 0.02, 0.01, 0.01], sae, phase)
    return write_superposition_run(result, SuperpositionConfig(progress=False), root)


@functools.lru_cache(maxsize=1)
def _recovery_result():
    """EAP and ACDC (zero ablation) on the compiled histogram model: a real result, computed once per session."""
    from interp.circuits.recovery import RecoveryConfig, circuit_recovery

    cfg = RecoveryConfig(models=("toy:compiled-histogram",), n_prompts=8, ablations=("zero",), methods=("eap", "acdc"),
                         n_random=20)
    return cfg, circuit_recovery(cfg, progress=False)


def recovery_run(root) -> Run:
    """A ``circuit-recovery`` run written by interp.circuits.recovery_pipeline.write_circuit_recovery_run."""
    from interp.circuits.recovery_pipeline import write_circuit_recovery_run

    cfg, result = _recovery_result()
    return write_circuit_recovery_run(result, spec="toy:compiled-histogram", config=cfg, root=root,
                                      slug="fixture-recovery")


@functools.lru_cache(maxsize=1)
def _othello_result():
    """The shipped toy:othello's known answers on a few games (small probes), computed once per session."""
    from dataclasses import asdict

    from interp.models import load_model
    from interp.probes.othello import BoardProbeConfig
    from interp.probes.othello_run import OthelloConfig, compute_othello

    cfg = OthelloConfig(n_games=40, layers=[2, 3], n_trials=10, probe=BoardProbeConfig(max_epochs=3))
    return asdict(cfg), compute_othello(load_model("toy:othello", device="cpu"), cfg)


def othello_run(root) -> Run:
    """An ``othello`` run written by interp.probes.othello_run.write_othello_run."""
    from interp.probes.othello_run import write_othello_run

    cfg, result = _othello_result()
    return write_othello_run(result, spec="toy:othello", config=cfg, root=root, slug="fixture-othello")


BUILDERS = {"sae": sae_run, "probe": probe_run, "patching": patching_run, "circuit": circuit_run,
            "sinks": sinks_run, "sink-emergence": emergence_run, "heads": heads_run, "graph": graph_run,
            "superposition": superposition_run, "circuit-recovery": recovery_run,
            "othello": othello_run, "transcoder": transcoder_run}


def make_all(root: str | Path | None = None, kinds=None) -> dict[str, Run]:
    """One run of each kind (or of ``kinds``) under ``root``."""
    return {k: b(root) for k, b in BUILDERS.items() if kinds is None or k in kinds}


def corrupt_run(root: str | Path, kind: str = "sae") -> Path:
    """A run folder whose run.json is not JSON."""
    path = Path(root) / kind / "20260101-000000-corrupt"
    path.mkdir(parents=True)
    (path / "run.json").write_text("{not json")
    return path

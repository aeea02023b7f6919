"""Demo step: probe the MiniLM capture of the demo for "inside quotes", with its controls.

Reads the ``capture`` run the demo wrote for MiniLM (``blocks.3.hook_resid_post``),
labels its tokens with :func:`interp.probes.labels.token_labels` ("inside quotes",
or "starts a word" when the slice has too little quoted text) and fits the probe,
the control task and the random-model baseline on at most ``MAX_SEQS`` of its
sequences (a few seconds), then writes a ``probe`` run. The split is by token: with
so few sequences a split by sequence leaves a test set with almost no quoted text
(majority rate 0.997), where no probe can beat chance; experiments/probe_minilm.py
splits by sequence on a larger slice.
"""

from __future__ import annotations

from typing import Any

MAX_SEQS = 64
TASKS = ("in_quotes", "word_start")  # the first whose rarer class is >= MIN_RATE of the slice's tokens
MIN_RATE = 0.05


def demo_step(ctx: Any) -> list[Any]:
    from interp.datasets import TokenizedCorpus
    from interp.datasets.corpus import special_token_counts
    from interp.hooks import ActivationStore, capture
    from interp.hooks.store import TOKENS_FILE, read_safetensors_header
    from interp.models import load_model
    from interp.probes import ProbeConfig, probe_report, random_model, write_probe_run
    from interp.probes.labels import labels_for_rows, token_labels

    source = ctx.find("capture", "minilm")
    store = ActivationStore(source.artifact("store"))
    hook = next(h for h in store.hooks if h.endswith("hook_resid_post"))
    c = store.corpus()
    header, _ = read_safetensors_header(store.path / store.manifest.get("tokens_file", TOKENS_FILE))
    n = min(MAX_SEQS, int(c["tokens"].shape[0]))
    corpus = TokenizedCorpus(c["tokens"][:n].long(), c["attention_mask"][:n].long(), c["doc_ids"][:n].long(),
                             c["doc_offsets"][:n].long(), **special_token_counts(header.get("__metadata__")))
    model = load_model("minilm", device=ctx.device)
    meta = store.meta()
    keep_rows = meta["seq_id"] < n
    stop = int(keep_rows.nonzero().max()) + 1  # rows are in sequence order
    for task in TASKS:
        labels = labels_for_rows(token_labels(task, model.tokenizer, corpus), meta["seq_id"][:stop], meta["seq_pos"][:stop])
        rate = float(labels[labels >= 0].float().mean())
        if min(rate, 1 - rate) >= MIN_RATE:
            break
    acts = store.rows(hook, 0, stop)
    include_bos = bool(store.manifest.get("spec", {}).get("include_bos", True))
    rand = capture(random_model(model, seed=1), corpus, [hook], progress=False, include_bos=include_bos)[hook]
    if rand.shape[0] != stop:
        raise RuntimeError(f"The random-model capture has {rand.shape[0]} rows, the store's first {n} sequences {stop}.")
    keep = labels >= 0
    report = probe_report(acts[keep], labels[keep], rand[keep], meta["token_id"][:stop][keep],
                          config=ProbeConfig(max_epochs=20))
    report.hook = report.probe.hook = hook
    run = write_probe_run(task, [report], {"store": str(store.path), "max_seqs": n, "control_types": "token id",
                                           "random_seed": 1},
                          model="minilm", root=ctx.runs_root, slug=f"demo-minilm-{task}")
    print(f"  minilm {hook}: '{task}' probe test accuracy {report.test:.3f} (chance {report.chance:.3f}), "
          f"control {report.control:.3f}, selectivity {report.selectivity:.3f}, random model "
          f"{report.random_model:.3f} -> {run.path}")
    return [run]

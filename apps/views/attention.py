"""Attention: any model that loads here, on your prompt or a corpus example, every head at once.

Computed live (no run needed): the head grid overview with each head's sink mass
(mean attention on position 0: BOS / [CLS]) overlaid, a layer x head sink-mass map,
and one head's pattern with token labels. ``heads`` runs of the same model add their
previous-token / induction scores.
"""

import html

import numpy as np
import streamlit as st
import torch

import common
import live
from common import plain
from interp.viz.attention import attention_heatmap, head_grid, head_heatmap, sink_mass

MAX_TOKENS = 64  # beyond this the per-token labels become unreadable

st.title("Attention")
with common.guard("the attention patterns"):
    from interp.models import available_specs

    specs = available_specs()
    specs += sorted({r.model for r in common.all_runs()[0] if r.model and r.model not in specs})
    wanted = common.qp_get("model")
    if wanted and wanted not in specs:
        # A hub name or a local folder from a link is loaded only when the reader says so:
        # a link must not make the dashboard read whatever path it names.
        if st.session_state.get("att_allowed_model") != wanted:
            st.warning(f"The link asks for the model {common.plain(wanted)}, which is neither shipped here nor the "
                       "model of one of your runs.")
            if st.button("load it anyway", key="att_allow_model"):
                st.session_state["att_allowed_model"] = wanted
            elif st.button("show a shipped model instead", key="att_drop_model"):
                common.qp_set(model=None)
                wanted = None
            else:
                st.stop()  # neither loaded nor silently swapped for another model
        if wanted and st.session_state.get("att_allowed_model") == wanted:
            specs.append(wanted)
    spec = st.selectbox("model", specs, index=specs.index(wanted) if wanted in specs else 0, key="att_model")
    common.qp_set(model=spec)
    m = common.model(spec)

    if m.tokenizer is not None:
        source = st.radio("input", ["type a prompt", "corpus example"], horizontal=True, key="att_source")
        if source == "corpus example":
            texts = live.corpus_texts()
            doc = st.selectbox("document", range(min(len(texts), 200)), key="att_doc",
                               format_func=lambda i: f"{i}: {texts[i][:90]}…")
            text = texts[doc][:1500]
        else:
            text = st.text_area("prompt", "Mr. Darcy danced with Elizabeth, and then Mr. Darcy bowed.", key="att_text")
        from interp.datasets import tokenize_corpus

        corpus = tokenize_corpus(m.tokenizer, [text], seq_len=min(int(m.cfg.n_ctx), MAX_TOKENS), max_seqs=1)
        ids = corpus.tokens[0, : int(corpus.attention_mask[0].sum())].tolist()
    else:
        extra = dict(getattr(getattr(m, "toy_config", None), "extra", {}) or {})
        vocab, n_ctx = int(m.cfg.d_vocab), min(int(m.cfg.n_ctx), MAX_TOKENS)
        bos = [int(extra["bos"])] if "bos" in extra else []
        if "eq_token" in extra:  # modular arithmetic: "a b ="
            st.caption(f"{plain(spec)} reads token ids: `a b =` with a, b < {plain(extra.get('p'))}.")
            default = f"17 42 {int(extra['eq_token'])}"
        else:
            st.caption(f"{plain(spec)} has no tokenizer: it reads token ids. The default is a random segment "
                       "followed by its repeat, where induction heads show their stripe.")
            c1, c2 = st.columns(2)
            seg = c1.number_input("segment length", 1, max(1, (n_ctx - len(bos)) // 2),
                                  min(int(extra.get("eval_segment", 10)), 12, max(1, (n_ctx - len(bos)) // 2)),
                                  key="att_seg")
            seed = c2.number_input("seed", 0, 10_000, 0, key="att_seed")
            g = torch.Generator().manual_seed(int(seed))
            seq = torch.randint(1 if bos else 0, vocab, (int(seg),), generator=g).tolist()
            default = " ".join(map(str, bos + seq + seq))
        ids_text = st.text_input(f"token ids (0 … {vocab - 1})", default, key=f"att_ids_{default}")
        try:
            ids = [int(t) for t in ids_text.replace(",", " ").split()]
        except ValueError:
            raise ValueError("token ids must be whole numbers separated by spaces.") from None
        if any(not 0 <= t < vocab for t in ids):
            raise ValueError(f"token ids must lie in 0 … {vocab - 1}.")
    if not ids:
        raise ValueError("the input has no tokens.")
    ids = ids[: min(int(m.cfg.n_ctx), MAX_TOKENS)]
    labels = [f"{common.token_strings(m.tokenizer, [t])[0]!r}"[1:-1] if m.tokenizer is not None else str(t)
              for t in ids]

    p = live.patterns(spec, tuple(ids))  # [layer, head, q, k]
    n_layers, n_heads = p.shape[:2]
    sink = sink_mass(p)  # [layer, head]
    st.caption(f"{len(ids)} tokens · {n_layers} layers × {n_heads} heads · sink mass = mean attention "
               f"on position 0 ({plain(repr(labels[0]))}) over queries 1…")

    c1, c2 = st.columns([3, 2])
    with c1:
        common.chart(st, head_grid(p, sink, title="All heads"), key="grid")
    with c2:
        common.chart(st, head_heatmap(sink, title="Sink mass per head", zmin=0, zmax=1,
                                     colorscale="Oranges"), key="sinkmass")

    st.subheader("One head")
    c1, c2 = st.columns(2)
    layer = c1.selectbox("layer", range(n_layers), index=common.qp_int("layer", 0, 0, n_layers - 1),
                         key=f"att_layer_{spec}")
    head = c2.selectbox("head", range(n_heads), index=common.qp_int("head", 0, 0, n_heads - 1),
                        key=f"att_head_{spec}")
    common.qp_set(layer=layer, head=head)
    common.chart(st, attention_heatmap(p[layer, head], labels,
                                      title=f"L{layer}H{head} · sink mass {sink[layer, head]:.2f}"), key="one")

    heads_runs = [r for r in common.all_runs(["heads"])[0] if r.model == spec]
    if heads_runs:
        st.subheader("Head scores from `heads` runs")
        run = heads_runs[0]
        with common.guard(f"the head scores of heads run {run.name}"):  # a bad run costs this panel only
            scores = common.json_artifact(run, "scores")
            cols = st.columns(max(len(scores), 1))
            for col, (name, values) in zip(cols, scores.items()):
                common.chart(col, head_heatmap(np.asarray(values, dtype=float), title=f"{html.escape(name)} score",
                                               zmin=0, zmax=1), key=f"score_{name}")
        st.caption(f"from run {plain(common.run_ref(run))}")

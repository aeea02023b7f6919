"""Features: browse an SAE's or a transcoder's latents the way sae_vis / Neuronpedia show them.

Reads the run's ``features`` (safetensors), ``features_meta`` and ``vocab`` (when the model has a tokenizer) artifacts
(docs/runs.md, kind ``sae``) - no model needed - and, for "try your own text", loads
the model and the run's ``sae`` folder to compute the latent live. A ``transcoder`` run has one
feature set per layer (``features_L<l>``, ``features_meta_L<l>``): a layer picker chooses it, and
the URL's ``layer`` (which the Graphs page's feature links set) opens it.
"""

import re

import numpy as np
import pandas as pd
import streamlit as st

import common
from common import plain
from interp.viz.base import display_token
from interp.viz.sae import activation_histogram, context_html, density_histogram, logit_effects, tokens_html

REQUIRED = ["density", "max_act", "top_value", "top_tokens", "top_acts"]

st.title("Features")
run = common.select_run(["sae", "transcoder"], "SAE or transcoder run")
if run is None:
    st.stop()


def tok(vocab, t) -> str:
    """Display string of token id ``t`` (the id itself without a vocab; "" for -1, off the sequence)."""
    t = int(t)
    if t < 0:
        return ""
    return vocab[t] if vocab is not None and t < len(vocab) else str(t)


def show_contexts(tokens, acts, values, vocab, scale, centre, limit):
    """Coloured contexts, one row each (tokens [n, ctx] int, acts [n, ctx]); rows with value 0 are empty slots."""
    rows = []
    for toks, a, v in zip(tokens, acts, values):
        if v <= 0 or len(rows) >= limit:
            continue
        ctx = context_html(toks, a, vocab, scale, centre)  # ids -1 (the window ran off its sequence) dropped
        rows.append(f'<div style="display: flex; gap: 0.8em; align-items: baseline;">'
                    f'<code style="min-width: 4.5em; text-align: right;">{v:.3f}</code>'
                    f'<div style="flex: 1; min-width: 0;">{ctx}</div></div>')
    if rows:
        st.html("".join(rows))
    else:
        st.caption("no examples")


def feature_layers(run) -> list[int]:
    """The layers a transcoder run has feature dashboards for (its ``features_L<l>`` artifacts), in order."""
    return sorted(int(m.group(1)) for k in run.artifacts if (m := re.fullmatch(r"features_L(\d+)", k)))


def pick_layer(run) -> int | None:
    """A transcoder run's layer: the picker, defaulting to the URL's ``layer``; None (and a hint) without dashboards."""
    layers = feature_layers(run)
    if not layers:
        st.info(f"Transcoder run {plain(run.name)} has no feature dashboards yet; compute them with "
                f"`interp transcoder features --run` {plain(run.path)}.")
        return None
    if st.session_state.get("layer") not in layers:
        wanted = common.qp_int("layer", layers[0], 0)
        st.session_state["layer"] = wanted if wanted in layers else layers[0]
    layer = int(st.selectbox("layer", layers, key="layer", help="each layer's transcoder latents are one feature set"))
    common.qp_set(layer=layer)
    return layer


transcoder = run.kind == "transcoder"
if transcoder:
    layer = pick_layer(run)
    if layer is None:
        st.stop()
    suffix = f"_L{layer}"
else:
    common.qp_set(layer=None)
    layer, suffix = None, ""

with common.guard(f"{run.kind} run {run.name}"):
    f = common.tensors(run, "features" + suffix, REQUIRED)
    meta = common.json_artifact(run, "features_meta" + suffix)
    vocab = [str(s) for s in common.json_artifact(run, "vocab", holds=list)] if "vocab" in run.artifacts else None
    d_sae = int(f["density"].shape[0])
    centre = int(meta.get("ctx_left", 0))
    if transcoder:
        common.metric_row(run.metrics, [f"{k}_L{layer}" for k in ("fvu", "l0", "dead_frac", "dense_frac")]
                          + ["ce_loss_score", "kl"])
        what = (f"{plain(run.config.get('kind', '?'))} {plain(run.config.get('activation', '?'))} transcoder, "
                f"layer {layer}")
    else:
        common.metric_row(run.metrics, ["l0", "fvu", "explained_variance", "dead_frac", "ce_loss_score", "kl",
                                        "downstream_cos"])
        what = plain(run.config.get('arch', '?'))
    hook = meta.get("hook") if transcoder else run.config.get("hook", meta.get("hook"))
    st.caption(f"{plain(run.model)} · {plain(hook)} · {what} · d_sae {d_sae} · "
               f"{plain(meta.get('n_tokens', '?'))} tokens analysed")
    common.show_config(run)

    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("Feature index")
        c1, c2 = st.columns(2)
        sort = c1.selectbox("sort by", ["max activation", "density", "index"], key="sort")
        query = c2.text_input("token in top contexts", key="token_query",
                              help="latents whose top contexts fire on a token containing this text")
        top_token = f["top_tokens"][:, 0, centre]  # [d_sae] the top example's centre token
        table = pd.DataFrame({
            "feature": np.arange(d_sae), "density": f["density"], "max_act": f["max_act"],
            "top token": [repr(display_token(tok(vocab, t))) for t in top_token],
        })
        if "mean_act" in f:
            table.insert(3, "mean_act", f["mean_act"])
        if query:
            if vocab is not None:
                ids = np.array([i for i, s in enumerate(vocab) if query.lower() in s.lower()], dtype=np.int64)
            else:  # no vocab: the query is a token id
                ids = np.array([int(query)] if query.strip().isdigit() else [], dtype=np.int64)
            active = f["top_acts"] > 0
            hit = (np.isin(f["top_tokens"], ids) & active).any(axis=(1, 2))
            table = table[hit]
        table = table[table["max_act"] > 0] if st.toggle("hide dead latents", value=True) else table
        key = {"max activation": "max_act", "density": "density", "index": "feature"}[sort]
        table = table.sort_values(key, ascending=key == "feature")
        st.caption(f"{len(table)} of {d_sae} latents")
        event = st.dataframe(table, hide_index=True, height=420, on_select="rerun", selection_mode="single-row",
                             key="feature_table", width="stretch",
                             column_config={"density": st.column_config.NumberColumn(format="%.2e"),
                                            "max_act": st.column_config.NumberColumn(format="%.3f"),
                                            "mean_act": st.column_config.NumberColumn(format="%.3f")})
        rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
        if rows and st.session_state.get("_last_row") != (rows[0], query, sort):
            st.session_state["_last_row"] = (rows[0], query, sort)
            st.session_state["feature"] = int(table.iloc[rows[0]]["feature"])
        common.chart(st, density_histogram(f["density"]), key="density_all")

    with right:
        if "feature" not in st.session_state:
            first = int(table.iloc[0]["feature"]) if len(table) else 0
            st.session_state["feature"] = common.qp_int("feature", first, 0, d_sae - 1)
        st.session_state["feature"] = min(max(int(st.session_state["feature"]), 0), d_sae - 1)
        i = int(st.number_input("feature", 0, d_sae - 1, key="feature"))
        common.qp_set(feature=i)
        dens, mx = float(f["density"][i]), float(f["max_act"][i])
        st.subheader(f"Feature {i}")
        c = st.columns(3)
        c[0].metric("density", f"{dens:.2%}" if dens >= 1e-3 else f"{dens:.1e}")
        c[1].metric("max activation", f"{mx:.3f}")
        if "mean_act" in f:
            c[2].metric("mean (when firing)", f"{float(f['mean_act'][i]):.3f}")
        if mx <= 0:
            st.info("This latent never fired on the analysed tokens (dead).")
        if "hist_counts" in f and "hist_edges" in f:
            common.chart(st, activation_histogram(f["hist_counts"][i], f["hist_edges"][i]), key="hist")

        st.markdown("#### Top activating contexts")
        show_contexts(f["top_tokens"][i], f["top_acts"][i], f["top_value"][i], vocab, mx, centre, 20)

        if "quantile_tokens" in f and "quantile_acts" in f:
            st.markdown("#### Examples by activation interval")
            qt, qa = f["quantile_tokens"][i], f["quantile_acts"][i]  # [n_q, n_per, ctx]
            edges = f["quantile_edges"][i] if "quantile_edges" in f else None
            for q in reversed(range(qt.shape[0])):
                label = (f"interval {q + 1}: {edges[q]:.3f} – {edges[q + 1]:.3f}" if edges is not None
                         else f"interval {q + 1}")
                with st.expander(label, expanded=q == qt.shape[0] - 1):
                    values = f["quantile_value"][i, q] if "quantile_value" in f else qa[q][:, centre]
                    show_contexts(qt[q], qa[q], values, vocab, mx, centre, qt.shape[1])

        if all(k in f for k in ("logit_pos_ids", "logit_pos_vals", "logit_neg_ids", "logit_neg_vals")):
            st.markdown("#### Logit effects (" + ("what it writes to the residual stream · W_U" if transcoder
                                                  else "W_dec · W_U") + ")")
            name = lambda ids: [tok(vocab, t) for t in ids]  # noqa: E731
            common.chart(st, logit_effects(name(f["logit_pos_ids"][i]), f["logit_pos_vals"][i],
                                          name(f["logit_neg_ids"][i]), f["logit_neg_vals"][i]), key="logits")
        elif not meta.get("has_logits", False):
            st.caption("No logit effects: this model has no unembedding (an encoder) or they were not computed.")

        if "neighbour_ids" in f and "neighbour_cos" in f:
            st.markdown("#### Nearest features (decoder cosine)")
            nb = pd.DataFrame({"feature": f["neighbour_ids"][i].astype(int), "cosine": f["neighbour_cos"][i]})
            nb["top token"] = [repr(display_token(tok(vocab, top_token[j]))) for j in nb["feature"]]
            st.dataframe(nb, hide_index=True, width="stretch")
            def _go() -> None:  # a callback may set another widget's state before it is drawn
                if st.session_state.get("nb_pick") is not None:
                    st.session_state["feature"] = int(st.session_state["nb_pick"])
                st.session_state["nb_pick"] = None

            st.selectbox("go to a neighbour", [None, *nb["feature"].tolist()], key="nb_pick", on_change=_go)

    st.divider()
    st.subheader("Try your own text")
    text = st.text_area("text", "It is a truth universally acknowledged, that a single man in possession of a good "
                        "fortune, must be in want of a wife.", key="own_text")
    clicked = st.button("Run the model and " + ("transcoder" if transcoder else "SAE") + " on it", key="own_go")
    if clicked or st.session_state.get("own_result_for") == (run.name, layer, text):
        with common.guard("the live activations"):
            from live import feature_on_text

            toks, acts = feature_on_text(run, text, layer)  # [pos] strings, [pos, d_sae]
            st.session_state["own_result_for"] = (run.name, layer, text)
            st.markdown(f"Feature {i} on your text (max {acts[:, i].max():.3f}):")
            st.html(tokens_html(toks, acts[:, i], scale=mx or None))
            top = np.argsort(-acts.max(0))[:10]
            st.markdown("Most active features on this text:")
            st.dataframe(pd.DataFrame({"feature": top, "max on text": acts.max(0)[top],
                                       "tokens firing": (acts[:, top] > 0).sum(0)}), hide_index=True)

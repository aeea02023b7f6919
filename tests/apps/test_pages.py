"""Every dashboard page, run with Streamlit's AppTest on fixture runs written per docs/runs.md."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs

import numpy as np
import pytest
import torch

import fixture_runs
from app_fixtures import app, runs  # noqa: F401 (pytest fixtures)
from fixture_runs import SAE_TOKEN, WORDS
from interp.runs import runs_root


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(text: str) -> str:
    """What Markdown renders for ``text``: backslash escapes (common.plain) dropped."""
    return re.sub(r"\\(.)", r"\1", text)


def _html(at) -> str:
    return "\n".join(e.proto.body for e in at.get("html"))


def _charts(at) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def _arr(x) -> np.ndarray:
    """A plotly JSON array: a list, or numpy's binary encoding {"dtype", "bdata", "shape"}."""
    if isinstance(x, dict) and "bdata" in x:
        a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return a.reshape([int(n) for n in str(x["shape"]).split(",")]) if "shape" in x else a
    return np.asarray(x, dtype=float)


def _ref(run) -> str:
    return f"{run.kind}/{run.name}"


# --- Runs -------------------------------------------------------------------------------------------

def test_runs_page_lists_every_run_and_warns_about_a_corrupt_one(app, runs):
    bad = fixture_runs.corrupt_run(runs_root(), "probe")
    at = app()
    _ok(at)
    table = at.dataframe[0].value
    assert set(table["run"]) == {r.name for r in runs.values()}
    assert set(table["kind"]) == set(runs)
    assert any(bad.name in _shown(w.value) and "not valid JSON" in _shown(w.value) for w in at.warning)
    # every kind with a page gets a one-click link carrying the run in its query string
    links = dict(zip(table["run"], table["open"]))
    assert links[runs["sae"].name] == f"./features?run={_ref(runs['sae'])}"
    assert links[runs["probe"].name] == f"./probes?run={_ref(runs['probe'])}"


def test_runs_page_filters_and_links_the_selected_run(app, runs):
    at = app(run=_ref(runs["circuit"]))
    _ok(at)
    link = at.get("page_link")[0].proto
    assert link.page == "circuits"
    assert parse_qs(link.query_string) == {"run": [_ref(runs["circuit"])]}
    at.multiselect[0].select("sinks").run()  # kind filter
    assert set(at.dataframe[0].value["kind"]) == {"sinks"}
    assert at.query_params["kind"] == "sinks"


def test_pages_explain_an_empty_runs_folder(app):
    for page in ["views/runs.py", "views/features.py", "views/sinks.py", "views/circuits.py", "views/probes.py",
                 "views/graphs.py"]:
        at = app(page)
        _ok(at)
        assert at.info, page
        assert not at.error, page


# --- Features ---------------------------------------------------------------------------------------

def test_features_page_shows_the_chosen_feature(app, runs):
    f = 3
    at = app("views/features.py", run=_ref(runs["sae"]), feature=str(f))
    _ok(at)
    assert not at.error
    assert at.number_input(key="feature").value == f
    assert at.query_params["feature"] == str(f) and at.query_params["run"] == _ref(runs["sae"])
    html = _html(at)
    assert html.count(f">{WORDS[SAE_TOKEN[f]]}</span>") >= 5  # the 5 top contexts' centre token
    feats = runs["sae"].read_tensors("features")
    top = float(feats["top_value"][f, 0])
    assert f": {top:.3f}" in html  # hover text carries the activation value
    charts = [c["data"][0]["type"] for c in _charts(at)]
    assert "bar" in charts and "histogram" in charts  # activation histogram, density overview
    labels = [e.label for e in at.get("metric")]
    assert "density" in labels and "max activation" in labels
    titles = [m.value for m in at.markdown]
    for panel in ("Top activating contexts", "Examples by activation interval", "Logit effects",
                  "Nearest features"):
        assert any(panel in t for t in titles), panel


def test_features_page_without_a_vocab_shows_token_ids(app):
    run = fixture_runs.sae_run(runs_root(), model="toy:induction", vocab=False)
    f = 2
    at = app("views/features.py", run=_ref(run), feature=str(f))
    _ok(at)
    assert not at.error
    html = _html(at)
    assert html.count(f">{SAE_TOKEN[f]}</span>") >= 5  # the centre token id, in every top context
    assert "<code style=\"min-width: 4.5em; text-align: right;\">0.123</code>" in html  # quantile_value rows
    at.text_input(key="token_query").input(str(SAE_TOKEN[f])).run()
    assert f in set(at.dataframe[0].value["feature"])


def test_features_index_searches_tokens_and_sorts(app, runs):
    at = app("views/features.py", run=_ref(runs["sae"]))
    table = at.dataframe[0].value
    assert fixture_runs.DEAD not in set(table["feature"])  # dead latents hidden by default
    assert list(table["max_act"]) == sorted(table["max_act"], reverse=True)
    at.text_input(key="token_query").input(WORDS[SAE_TOKEN[5]].strip()).run()
    _ok(at)
    assert 5 in set(at.dataframe[0].value["feature"])
    at.selectbox(key="sort").select("density").run()
    dens = list(at.dataframe[0].value["density"])
    assert dens == sorted(dens, reverse=True)


def test_features_neighbour_jump(app, runs):
    at = app("views/features.py", run=_ref(runs["sae"]), feature="2")
    nb = int(runs["sae"].read_tensors("features")["neighbour_ids"][2, 0])
    at.selectbox(key="nb_pick").select(nb).run()
    _ok(at)
    assert at.number_input(key="feature").value == nb
    assert at.query_params["feature"] == str(nb)


def test_features_corrupt_artifact_shows_an_error_not_a_traceback(app, runs):
    (runs["sae"].path / "features.safetensors").write_bytes(b"garbage")
    at = app("views/features.py", run=_ref(runs["sae"]))
    _ok(at)
    assert any("features.safetensors" in _shown(e.value) for e in at.error)


def test_link_to_a_corrupt_run_shows_an_error(app, runs):
    bad = fixture_runs.corrupt_run(runs_root(), "sae")
    at = app("views/features.py", run=f"sae/{bad.name}")
    _ok(at)
    assert any(bad.name in _shown(e.value) for e in at.error)
    assert at.html  # the readable sae run is still shown


def test_features_live_text_without_load_sae_says_why(app, runs, monkeypatch):
    import sys

    import interp.sae

    monkeypatch.delattr(interp.sae, "load_sae", raising=False)  # already imported: the package caches it
    monkeypatch.setitem(sys.modules, "interp.sae.io", None)  # and the lazy import of it fails
    at = app("views/features.py", run=_ref(runs["sae"]))
    at.button(key="own_go").click().run()
    _ok(at)
    assert any("load_sae" in _shown(e.value) for e in at.error)


def _relu_sae_loader(path):
    """A stand-in for interp.sae.load_sae: a plain ReLU SAE from the SAELens-format folder."""
    from safetensors.torch import load_file

    w = load_file(f"{path}/sae_weights.safetensors")

    class ReluSAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.W_enc, self.b_enc = torch.nn.Parameter(w["W_enc"]), torch.nn.Parameter(w["b_enc"])
            self.b_dec = torch.nn.Parameter(w["b_dec"])

        def encode(self, x):
            return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    return ReluSAE()


def test_features_live_text_runs_model_and_sae(app, runs, monkeypatch):
    import interp.sae
    from interp.datasets import tokenize_corpus
    from interp.models import load_model

    monkeypatch.setattr(interp.sae, "load_sae", _relu_sae_loader, raising=False)
    f, text = 4, "Mr. Darcy looked at the sea."
    at = app("views/features.py", run=_ref(runs["sae"]), feature=str(f))
    at.text_area(key="own_text").input(text).run()
    at.button(key="own_go").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    # the same numbers computed here, independently: resid_post of layer 1 through the SAE's encoder
    model = load_model("toy:toylm", device="cpu")
    toks = tokenize_corpus(model.tokenizer, [text], 128, max_seqs=1)
    n = int(toks.attention_mask[0].sum())
    _, cache = model.run_with_cache(toks.tokens[:1, :n], names_filter=lambda h: h == "blocks.1.hook_resid_post")
    z = _relu_sae_loader(runs["sae"].artifact("sae")).encode(cache["blocks.1.hook_resid_post"][0]).detach()
    assert any(f"Feature {f} on your text (max {float(z[:, f].max()):.3f})" in m.value for m in at.markdown)
    assert "> Darcy</span>" in _html(at)
    top = at.dataframe[-1].value
    assert int(top["feature"].iloc[0]) == int(z.max(0).values.argmax())


# --- Attention --------------------------------------------------------------------------------------

def test_attention_page_on_the_induction_model(app, runs):
    from interp.viz.attention import sink_mass

    at = app("views/attention.py", model="toy:induction", layer="1", head="2")
    _ok(at)
    assert not at.error
    assert at.selectbox(key="att_layer_toy:induction").value == 1
    assert at.selectbox(key="att_head_toy:induction").value == 2
    charts = _charts(at)
    grid = charts[0]
    n_heads = 8  # toy:induction: 2 layers x 8 heads
    assert sum(1 for t in grid["data"] if t["type"] == "heatmap") == 2 * n_heads  # layers x heads
    titles = [a["text"] for a in grid["layout"]["annotations"]]
    assert titles[0].startswith("L0H0 · sink ") and titles[-1].startswith(f"L1H{n_heads - 1} · sink ")
    one = charts[2]
    assert one["layout"]["title"]["text"].startswith("L1H2 · sink mass")
    z = _arr(one["data"][0]["z"])  # the head's pattern: rows are causal distributions
    assert np.allclose(z.sum(1), 1, atol=1e-4) and np.allclose(np.triu(z, 1), 0, atol=1e-6)
    assert float(titles[n_heads + 2].split("sink ")[1]) == pytest.approx(sink_mass(z[None, None])[0, 0], abs=0.006)
    assert len(charts) == 5  # + previous-token and induction scores from the fixture heads run


@pytest.mark.parametrize("spec,first", [("toy:toylm", "<|bos|>"), ("minilm", "[CLS]")])
def test_attention_page_on_typed_text(app, spec, first):
    at = app("views/attention.py", model=spec)
    at.text_area(key="att_text").input("Elizabeth smiled at Darcy").run()
    _ok(at)
    assert not at.error
    one = _charts(at)[2]
    ticks = one["layout"]["xaxis"]["ticktext"]
    assert ticks[0] == first and "darcy" in "".join(ticks).lower()
    assert len(_charts(at)[0]["data"]) == len(at.selectbox(key=f"att_layer_{spec}").options) * len(
        at.selectbox(key=f"att_head_{spec}").options)


def test_attention_page_on_modular_addition(app):
    at = app("views/attention.py", model="toy:modadd")
    _ok(at)
    assert not at.error
    assert _charts(at)[2]["layout"]["xaxis"]["ticktext"] == ["17", "42", "113"]


# --- Sinks, Circuits, Probes ------------------------------------------------------------------------

def test_sinks_page(app, runs):
    at = app("views/sinks.py", run=_ref(runs["sinks"]))
    _ok(at)
    assert not at.error
    charts = _charts(at)
    rate = next(c for c in charts if c["layout"]["title"]["text"].startswith("Sink rate"))
    assert _arr(rate["data"][0]["z"]).shape == (2, 4)
    assert any(c["layout"].get("barmode") == "stack" for c in charts)
    grid = next(c for c in charts if c["layout"]["title"]["text"].startswith("Every head on one example"))
    assert sum(1 for t in grid["data"] if t["type"] == "heatmap") == 2 * 4
    assert ". → &lt;|bos|&gt;" in str(grid["data"][0]["text"])  # hover names the query and key tokens (HTML-escaped for plotly)
    assert any("<|bos|>" in str(d.value.to_dict()) for d in at.dataframe)
    at = app("views/sinks.py", run=_ref(runs["sink-emergence"]))  # a link to the other kind opens its section
    _ok(at)
    assert at.radio[0].value == "emergence over training"
    assert _charts(at)[0]["layout"]["title"]["text"].startswith("Sink emergence")
    at.radio(key="emergence_metric").set_value("loss").run()
    _ok(at)
    assert list(_arr(_charts(at)[0]["data"][0]["y"])) == [8.3, 6.0, 5.1, 4.6, 4.4]
    assert list(at.dataframe[0].value["final sink rate"]) == [0.8, 0.5]


def test_circuits_page(app, runs):
    at = app("views/circuits.py", run=_ref(runs["circuit"]))
    _ok(at)
    assert not at.error
    charts = _charts(at)
    graph = charts[0]
    nodes = next(t for t in graph["data"] if t.get("mode") == "markers+text")
    assert set(nodes["text"]) == {"input", "L0H1", "L0H3", "MLP0", "L1H2", "MLP1", "logits"}  # circuit edges only
    assert list(_arr(charts[1]["data"][0]["y"])) == [0.2, 0.55, 0.93, 1.0]  # faithfulness curve
    assert charts[1]["layout"]["title"]["text"] == "Faithfulness (mean ablation, AUC 0.710)"
    assert {m.label: m.value for m in at.metric}["KL p90"] == "0.32"
    assert "7 3 9 7 3" in str(at.dataframe[0].value.to_dict())  # worst adversarial input
    at.radio[0].set_value("activation patching").run()
    _ok(at)
    assert at.query_params["run"] == _ref(runs["patching"])
    charts = _charts(at)
    assert [c["layout"]["title"]["text"] for c in charts] == [
        "resid_pre: layer × position", "attn_out: layer × position", "heads: layer × head"]
    assert " Mary" in charts[0]["layout"]["xaxis"]["ticktext"]


def test_probes_page(app, runs):
    at = app("views/probes.py", run=_ref(runs["probe"]))
    _ok(at)
    assert not at.error
    names = {t["name"] for t in _charts(at)[0]["data"]}
    assert {"probe (test)", "control task", "selectivity", "random model"} <= names
    assert len(at.dataframe[0].value) == 2


def test_probes_page_fourier_section_on_a_real_modadd_run(app):
    from interp.circuits.fourier import fourier_analysis
    from interp.circuits.writers import write_fourier_run
    from interp.models import load_model
    from interp.runs import runs_root

    result = fourier_analysis(load_model("toy:modadd", device="cpu"))
    run = write_fourier_run(result, spec="toy:modadd", config={}, root=runs_root())
    at = app("views/probes.py", run=_ref(run))  # the URL's run kind opens the Fourier section
    _ok(at)
    assert not at.error
    bars = _charts(at)[0]["data"][0]
    keys = {int(k) for k in result.key_freqs}
    colours = dict(zip(_arr(bars["x"]).astype(int).tolist(), bars["marker"]["color"]))
    assert {k for k, c in colours.items() if c != "#adb5bd"} == keys  # the key frequencies are the highlighted bars
    losses = dict(zip(at.dataframe[0].value["logits"], at.dataframe[0].value["loss"]))
    assert losses["restricted"] <= losses["clean"] + 0.05 and losses["excluded"] > losses["chance (ln p)"] * 0.9


def test_missing_artifact_file_is_reported(app, runs):
    (runs["probe"].path / "results.json").unlink()
    at = app("views/probes.py", run=_ref(runs["probe"]))
    _ok(at)
    assert any("results.json" in _shown(e.value) for e in at.error)

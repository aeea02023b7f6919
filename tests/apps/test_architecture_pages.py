"""The Attention page on each hub architecture (tiny, random weights, loaded from a hub-style folder)."""

from __future__ import annotations

import json

import pytest

from app_fixtures import app  # noqa: F401  (fixture)
from interp.models.tiny import FAMILIES, build_tiny


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {f: str(build_tiny(f, tmp_path_factory.mktemp(f))) for f in FAMILIES}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_attention_page_on_each_architecture(app, folders, family):  # noqa: F811
    spec = folders[family]
    at = app("views/attention.py", model=spec)
    assert any("link asks for the model" in w.value for w in at.warning)  # not loaded on a link's say-so
    at.button(key="att_allow_model").click().run()
    at.text_area(key="att_text").input("the quick brown fox jumps").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    charts = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    grid = charts[0]
    assert sum(1 for t in grid["data"] if t["type"] == "heatmap") == 2 * 4  # 2 layers x 4 query heads
    ticks = charts[2]["layout"]["xaxis"]["ticktext"]
    assert "fox" in "".join(ticks)

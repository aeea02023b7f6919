"""Fixture runs for the dashboard tests (see fixture_runs.py) and an AppTest factory.

Not a conftest.py: tests/models imports ``tiny_config`` from the top-level conftest
by module name, which a second conftest module would shadow. Test modules import
these fixtures by name instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fixture_runs
from interp.runs import runs_root

APP = Path(__file__).resolve().parents[2] / "apps" / "dashboard.py"


@pytest.fixture
def runs():
    """One fixture run of every kind in the test's isolated runs folder ($INTERP_RUNS)."""
    return fixture_runs.make_all(runs_root())


@pytest.fixture
def app():
    """``app(page, **query_params)`` → an AppTest of the dashboard that has run that page."""
    from streamlit.testing.v1 import AppTest

    def make(page: str | None = None, **params: str):
        at = AppTest.from_file(str(APP), default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        if page:
            at.switch_page(page).run()
        return at

    return make

"""An opt-in fixture: circuit tests run many tiny forward passes, and one torch thread is much
faster than threads contending on a shared 2-core machine. Import it into a test module
(``from circuit_threads import one_thread``) and mark the module with
``pytestmark = pytest.mark.usefixtures("one_thread")``. (Not a conftest.py: other tests
import ``tiny_config`` from ``conftest``, and a second conftest module would shadow it.)
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

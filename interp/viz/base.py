"""What every figure module shares: turning inputs into numpy, and showing a token.

The topic modules (``attention``, ``sae``, ``sinks``, ``circuits``, ``probes``)
accept numpy arrays, torch tensors (any dtype or device, bf16 included) or lists;
:func:`to_numpy` is the one place that conversion happens. :func:`display_token`
is how a token string is written on an axis, in a legend or in a context, so a
newline or tab shows as a symbol instead of breaking the line.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any, dtype: Any = float) -> np.ndarray:
    """A numpy array from an array, tensor (detached, on the CPU) or list; ``dtype=None`` keeps the type."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.float() if dtype is float else x
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def display_token(s: str) -> str:
    """Make whitespace visible in a token string (newline → ↵, tab → ⇥); spaces stay spaces."""
    return s.replace("\n", "↵").replace("\t", "⇥").replace("\r", "")


def plot_label(s: str) -> str:
    """A token (or any text from a run) as a plotly label: whitespace visible, and no HTML.

    Plotly renders a subset of HTML in titles, ticks and hover text (``<a href>``, ``<img>``
    is not, but links are); a token such as ``<a href="http://…">`` must show as itself.
    """
    import html

    return html.escape(display_token(s), quote=False)

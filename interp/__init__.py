"""interp: a mechanistic-interpretability workbench.

Capture activations from toy and pretrained transformers (``interp.hooks``), load
models by a short spec (``interp.models.load_model``), record every analysis as a
run (``interp.runs``), and browse them in the Streamlit dashboard (``apps/``).
"""

__version__ = "0.1.0"

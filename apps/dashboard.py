"""The interp dashboard: ``interp dashboard`` (or ``streamlit run apps/dashboard.py``).

A multipage Streamlit app over the runs folder ($INTERP_RUNS, default ./runs):
Runs (the registry), Features (SAE runs), Attention (any model, live), Sinks,
Circuits (circuit discovery and patching runs) and Probes. Each page is a script in
apps/pages/; the shared pieces (run picker, URL state, caching, error display) are
in apps/common.py; every figure comes from ``interp.viz`` so notebooks draw the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pages import `common`

import streamlit as st  # noqa: E402

st.set_page_config(page_title="interp dashboard", page_icon="🔬", layout="wide")

pages = {
    "Registry": [st.Page("pages/runs.py", title="Runs", icon="🗂️", url_path="runs", default=True)],
    "Analyses": [
        st.Page("pages/features.py", title="Features", icon="✨", url_path="features"),
        st.Page("pages/attention.py", title="Attention", icon="👀", url_path="attention"),
        st.Page("pages/sinks.py", title="Sinks", icon="🕳️", url_path="sinks"),
        st.Page("pages/circuits.py", title="Circuits", icon="🔌", url_path="circuits"),
        st.Page("pages/probes.py", title="Probes", icon="📈", url_path="probes"),
    ],
}
nav = st.navigation(pages)

import common  # noqa: E402

st.sidebar.caption(f"runs folder: `{common.root()}`")
if st.sidebar.button("Reload runs", help="re-read the runs folder and artifacts"):
    st.cache_data.clear()
nav.run()

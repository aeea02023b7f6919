"""The interp dashboard: ``interp dashboard`` (or ``streamlit run apps/dashboard.py``).

A multipage Streamlit app over the runs folder ($INTERP_RUNS, default ./runs):
Runs (the registry), Features (SAE and transcoder runs), Attention (any model, live), Sinks,
Circuits (circuit discovery and patching runs), Graphs (attribution graphs), Probes and Superposition (toy
  models of superposition). Each page is a script in
apps/views/ (not pages/, which Streamlit would also auto-register as pages); the
shared pieces (run picker, URL state, caching, error display) are in apps/common.py;
every figure comes from ``interp.viz`` so notebooks draw the same.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pages import `common`

import streamlit as st  # noqa: E402

st.set_page_config(page_title="interp dashboard", page_icon=":material/biotech:", layout="wide")

pages = {
    "Registry": [st.Page("views/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs", default=True)],
    "Analyses": [
        st.Page("views/features.py", title="Features", icon=":material/auto_awesome:", url_path="features"),
        st.Page("views/attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
        st.Page("views/sinks.py", title="Sinks", icon=":material/adjust:", url_path="sinks"),
        st.Page("views/circuits.py", title="Circuits", icon=":material/hub:", url_path="circuits"),
        st.Page("views/graphs.py", title="Graphs", icon=":material/account_tree:", url_path="graphs"),
        st.Page("views/probes.py", title="Probes", icon=":material/show_chart:", url_path="probes"),
        st.Page("views/superposition.py", title="Superposition", icon=":material/hexagon:", url_path="superposition"),
    ],
}
nav = st.navigation(pages)

import common  # noqa: E402

st.sidebar.caption(f"runs folder: `{common.root()}`")
if st.sidebar.button("Reload runs", help="re-read the runs folder and artifacts"):
    st.cache_data.clear()
nav.run()

"""HyperLens explorer: the frame around the pages. `streamlit run app/streamlit_app.py` (or `make run`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `analysis` and `app` import from the repo root

import streamlit as st  # noqa: E402

from app import config, keys, state  # noqa: E402
from app.services.catalog import pick_default  # noqa: E402

st.set_page_config(page_title="HyperLens", page_icon=":material/lens_blur:", layout="wide")
state.start_warmup()

with st.sidebar:
    st.title("HyperLens")
    names = list(state.checkpoint_paths())
    if names:
        if st.session_state.get(keys.CHECKPOINT) not in names:
            st.session_state[keys.CHECKPOINT] = pick_default(names, config.DEFAULT_CHECKPOINT)
        st.selectbox("Checkpoint", names, key=keys.CHECKPOINT, on_change=state.reset_for_checkpoint)

pages = [st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:", default=True),
         st.Page("app_pages/predict.py", title="Predict", icon=":material/edit_note:"),
         st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
         st.Page("app_pages/methods.py", title="Methods", icon=":material/science:"),
         st.Page("app_pages/train.py", title="Train", icon=":material/model_training:")]
st.navigation(pages).run()

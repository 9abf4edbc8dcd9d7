"""Active Learning Studio: ``streamlit run app.py [-- --project DIR]``.
Page config, navigation and the sidebar status; no logic."""
import streamlit as st

from ui import state

st.set_page_config(page_title="Active Learning Studio", page_icon=":material/target:",
                   layout="wide")
page = st.navigation([
    st.Page("pages/project.py", title="Project", icon=":material/dashboard:", default=True),
    st.Page("pages/images.py", title="Images", icon=":material/photo_library:"),
])
st.session_state["project_dir"] = state.ensure_project()

with state.store() as store, st.sidebar:
    status = store.status()
    st.caption("PROJECT")
    st.markdown(f"**{store.root.name}**")
    st.caption(f"`{store.root}`")
    st.markdown(f"{status.labeled:,} of {status.items:,} images labeled  \n"
                f"Active model: {status.active_model or 'none yet'}  \n"
                f"Rounds: {status.rounds}")

page.run()

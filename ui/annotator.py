"""Who is labeling: asked once per browser tab until team sign-in exists (kept in the
session and in the URL, so a reload keeps it)."""
from __future__ import annotations

import streamlit as st

_KEY = "annotator"


def annotator() -> str:
    """The annotator's name; asks for it (and stops the page) when not known yet."""
    name = st.session_state.get(_KEY) or st.query_params.get(_KEY)
    if name:
        st.session_state[_KEY] = name
        st.query_params[_KEY] = name  # a reload of the page keeps it
        return name
    st.markdown("Your name goes with every box you save, so the team can see who labeled "
                "what and two people never get the same image.")
    with st.form("annotator-form"):
        typed = st.text_input("Your name", max_chars=60, placeholder="e.g. ana")
        if st.form_submit_button("Start reviewing", type="primary"):
            if typed.strip():
                st.session_state[_KEY] = typed.strip()
                st.rerun()
            st.warning("Enter a name first.")
    st.stop()

"""Fragments that never show a traceback, and a fragment rerun that is valid in every run.

``st.rerun(scope="fragment")`` is allowed only while a fragment reruns on its own; the
same fragment body also runs inside a full-page run (the first draw, a sidebar change),
where that call raises ``StreamlitInvalidLayoutContextError``. :func:`rerun_fragment`
reruns the fragment where Streamlit allows it and the page otherwise.
"""
from __future__ import annotations

import functools

import streamlit as st
from streamlit.errors import StreamlitInvalidLayoutContextError

from ui.errors import guarded


def rerun_fragment() -> None:
    """Rerun the fragment being drawn; in a full-page run, the page (never raises
    Streamlit's layout error)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitInvalidLayoutContextError:  # a full-page run: the page reruns
        st.rerun()


def fragment(where: str, **options):
    """``@st.fragment(**options)`` whose body runs in :func:`ui.errors.guarded`: an
    unexpected error is one message in the fragment, and logged."""
    def wrap(func):
        @functools.wraps(func)
        def body(*args, **kwargs):
            with guarded(where):
                return func(*args, **kwargs)
        return st.fragment(body, **options)
    return wrap

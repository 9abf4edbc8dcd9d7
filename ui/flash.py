"""Messages that survive the rerun an action triggers, so the page redraws with fresh
numbers and still tells the user what just happened. A message is shown as plain text
(:func:`ui.text.md`): it may quote names, tags, file names and errors as they are."""
from __future__ import annotations

import streamlit as st

from ui.text import md

_KEY = "_flash"


def flash(kind: str, text: str, details: list[str] | None = None, *,
          title: str | None = None) -> None:
    """Queue a message (kind: success, info, warning, error) and rerun the page;
    ``details`` are shown under ``title`` (default: 'N problems'). ``text`` and ``title``
    are shown as they are, never read as Markdown."""
    st.session_state[_KEY] = (kind, text, details or [], title)
    st.rerun()


def show_flash() -> None:
    if _KEY not in st.session_state:
        return
    kind, text, details, title = st.session_state.pop(_KEY)
    getattr(st, kind)(md(text))
    if details:
        with st.expander(md(title or f"{len(details)} problems"), expanded=True):
            st.code("\n".join(details), language=None, wrap_lines=True)  # read whole

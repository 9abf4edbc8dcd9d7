"""A place on the page whose keyed elements go at once when they are replaced.

Streamlit 1.67's browser side keeps a keyed element that a run replaces with another one
at the same place (``retained`` nodes: a canvas under a new key, a box-list button keyed
by a revision) and shows it after the new one until that run ends well; a run cut short
(the next key press, ``st.rerun``) leaves it there, for as long as the next runs are cut
short too. On the Review page that was the "second, broken canvas" under the first, and
doubled box-list rows. Only a container replaced by an element drops what it held at
once, so :func:`slot` draws two places, a container and an empty element, and swaps them
when the content's key changes: the container of the old content becomes the empty
element and the new content goes into a fresh container. Under the same key nothing
moves, and what is drawn stays mounted (a canvas keeps its undo and edit mode).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st


@contextmanager
def slot(name: str, key: str, **container) -> Iterator:
    """Draw the ``with`` body in a container (``st.container(**container)``, also the
    ``as`` target) that is new whenever ``key`` differs from the key last drawn under
    ``name``: a session-state key holding ``(key, 0 or 1)``, what the browser shows, so
    it must outlive a page's own state (the Review page's reset drops every ``rv_`` key
    while the canvas stays on screen: a lost record can put the next canvas beside the
    last one). Two elements every run either way, so the page keeps its shape."""
    last_key, last = st.session_state.get(name) or (None, 0)
    which = last if last_key == key else 1 - last
    if which == 0:
        frame = st.container(**container)
        st.empty()
    else:
        st.empty()
        frame = st.container(**container)
    with frame:
        yield frame
    st.session_state[name] = (key, which)  # drawn: the next key swaps the places

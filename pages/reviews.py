"""Approve (team mode): a reviewer's queue of submitted images, and one image at a time
to approve, fix and approve, or return to its annotator with comments. The decisions are
al_core.review.reviewing's; the page is :mod:`ui.reviewer_editor` and its helpers."""
import streamlit as st

from ui import auth, reviewer_editor
from ui import reviewer_nav as nav
from ui.chrome import editor_frame, page_entry

page_entry()

if not auth.may("review"):
    st.stop()  # the frame has said whose page this is; nothing of the queue is shown

editor_frame()  # the image first; no focus ring round the page
nav.init()
nav.lease_keeper()
reviewer_editor.render()

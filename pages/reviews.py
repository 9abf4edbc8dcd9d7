"""Approve (team mode): a reviewer's queue of submitted images, and one image at a time
to approve, fix and approve, or return to its annotator with comments. The decisions are
al_core.review.reviewing's; the page is :mod:`ui.reviewer_editor` and its helpers."""
import streamlit as st

from ui import auth, reviewer_editor
from ui import reviewer_nav as nav
from ui.chrome import page_entry

page_entry()

if not auth.may("review"):
    st.stop()  # the frame has said whose page this is; nothing of the queue is shown

# The image is what matters here: less space above it than Streamlit's default page top.
# Streamlit focuses the main area after a shortcut's button goes away (a decision's
# next image) and rings it with a ::before frame: no ring, as on the Review page.
st.html("<style>.stMainBlockContainer{padding-top:2.2rem} .stMain:focus{outline:none} "
        ".stMain:focus-visible::before{display:none}</style>")
nav.init()
nav.lease_keeper()
reviewer_editor.render()

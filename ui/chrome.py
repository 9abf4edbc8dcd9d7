"""The app's frame: navigation, the project, the sidebar status.

Streamlit treats an app with a ``pages/`` folder in its compatibility mode: a deep link
or a reload of ``/images`` runs ``pages/images.py`` directly, without ``app.py``. Every
page therefore starts with :func:`page_entry`, which runs the whole app (navigation
included) when the page was entered that way, and stops the direct run.
"""
from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from ui import errors, params, state
from ui.text import md, md_code

PAGES = [  # url paths equal Streamlit's own names for pages/*.py, so links agree
    ("pages/project.py", "Project", ":material/dashboard:", "project"),
    ("pages/images.py", "Images", ":material/photo_library:", "images"),
    ("pages/models.py", "Models", ":material/model_training:", "models"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("pages/query.py", "Query", ":material/manage_search:", "query"),
    ("pages/review.py", "Review", ":material/rate_review:", "review"),
    ("pages/progress.py", "Progress", ":material/trending_up:", "progress"),
]
_running = threading.local()  # Streamlit runs each session's script in one thread
# a file, served by the app: a ":material/...:" page icon is fetched from a font CDN
ICON = Path(__file__).with_name("icon.png")


def run_app() -> None:
    st.set_page_config(page_title="Active Learning Studio", page_icon=str(ICON), layout="wide")
    page = st.navigation([st.Page(path, title=title, icon=icon, url_path=url, default=(k == 0))
                          for k, (path, title, icon, url) in enumerate(PAGES)])
    params.keep_notices_of(page.url_path)  # a link's notices stay until its page is left
    _running.active = True
    try:
        with errors.guarded(f"the {page.title} page"):  # one message, never a traceback
            st.session_state["project_dir"] = state.ensure_project()
            _sidebar_status()
            errors.show_pending()
            page.run()
    finally:
        _running.active = False


def page_entry() -> None:
    """First line of every page: a page run outside :func:`run_app` runs the app instead."""
    if not getattr(_running, "active", False):
        run_app()
        st.stop()


def _sidebar_status() -> None:
    with state.store() as store, st.sidebar:
        status = store.status()
        st.caption("PROJECT")
        st.markdown(f"**{md(store.root.name)}**")
        st.caption(md_code(store.root))
        st.markdown(f"{status.labeled:,} of {status.items:,} images labeled  \n"
                    f"Active model: {md(status.active_model or 'none yet')}  \n"
                    f"Rounds: {status.rounds}")

"""The app's frame: navigation, the project, the sidebar status.

Streamlit treats an app with a ``pages/`` folder in its compatibility mode: a deep link
or a reload of ``/images`` runs ``pages/images.py`` directly, without ``app.py``. Every
page therefore starts with :func:`page_entry`, which runs the whole app (navigation
included) when the page was entered that way, and stops the direct run.

Team mode (a project with users): who is signed in is checked on every rerun before
navigation (:mod:`ui.auth`); nobody signed in sees the sign-in screen and no page. The
navigation lists the pages the user's role can use (:data:`PAGE_ACTIONS` read against
:data:`al_core.permissions.ACTIONS`): a convenience, as every change a page makes is
checked by al_core, whose refusal the page shows as one message (:mod:`ui.errors`).
"""
from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

import streamlit as st

from al_core.permissions import ROLES, allowed
from ui import auth, errors, params, state
from ui.text import md, md_code

PAGES = [  # url paths equal Streamlit's own names for pages/*.py, so links agree
    ("pages/project.py", "Project", ":material/dashboard:", "project"),
    ("pages/images.py", "Images", ":material/photo_library:", "images"),
    ("pages/models.py", "Models", ":material/model_training:", "models"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("pages/query.py", "Query", ":material/manage_search:", "query"),
    ("pages/review.py", "Review", ":material/rate_review:", "review"),
    ("pages/reviews.py", "Approve", ":material/fact_check:", "reviews"),
    ("pages/progress.py", "Progress", ":material/trending_up:", "progress"),
    ("pages/dashboard.py", "Dashboard", ":material/monitoring:", "dashboard"),
    ("pages/team.py", "Team", ":material/group:", "team"),
]
TEAM_ONLY = {"reviews", "dashboard"}  # the review workflow's pages: team mode has one
# url path -> the actions (al_core.permissions.ACTIONS) the page is for: it is listed for
# a role allowed any of them; a page for none (Progress: the team's own figures) is
# listed for everyone
PAGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "project": ("import", "split", "export"),
    "images": ("export", "import"),
    "models": ("train", "decide", "evaluate"),
    "compare": ("compare", "decide", "evaluate"),
    "query": ("query",),
    "review": ("label",),
    "reviews": ("review",),
    "dashboard": ("team_stats",),
    "progress": (),
    "team": ("manage_users", "read_audit"),
}
_running = threading.local()  # Streamlit runs each session's script in one thread
# a file, served by the app: a ":material/...:" page icon is fetched from a font CDN
ICON = Path(__file__).with_name("icon.png")


def run_app() -> None:
    st.set_page_config(page_title="Active Learning Studio", page_icon=str(ICON), layout="wide")
    who, failure = _visitor()
    listed = listed_for(who.role) - (set() if who.team else TEAM_ONLY)
    entries = PAGES
    page = st.navigation([st.Page(path, title=title, icon=icon, url_path=url, default=(k == 0),
                                  visibility="visible" if url in listed else "hidden")
                          for k, (path, title, icon, url) in enumerate(entries)],
                         position="sidebar" if who.may_enter else "hidden")
    entry = next(e for e in entries if e[1] == page.title)  # the default's url_path is ""
    params.keep_notices_of(page.url_path)  # a link's notices stay until its page is left
    _running.active = True
    try:
        with errors.guarded(f"the {page.title} page"):  # one message, never a traceback
            st.session_state["project_dir"] = root = state.ensure_project()
            if failure is not None:
                raise failure  # the sign-in check could not be made: nothing is shown
            auth.remember(who)
            if not who.may_enter:
                auth.sign_in_screen(who, root.name, _here(page.url_path))
            if entry[3] not in listed:
                if not page.url_path:  # "/": the role's first page instead
                    st.switch_page(next(e[0] for e in entries if e[3] in listed))
                if entry[3] in TEAM_ONLY and not who.team:
                    st.info("This page is part of team mode's review workflow: add users on "
                            "the Team page to hand out work, review it and see who does "
                            "what.", icon=":material/group:")
                    st.stop()
                _not_for_role(who, entry[3])
            _sidebar_status(who)
            errors.show_pending()
            page.run()
    finally:
        _running.active = False


def listed_for(role: str | None) -> set[str]:
    """The url paths of the pages the navigation lists for ``role`` (every page when
    ``role`` is None: nobody is signed in and no navigation is shown). The others stay
    reachable by link (the pages link to each other), hidden from the list."""
    return {url for _, _, _, url in PAGES
            if role is None or not PAGE_ACTIONS[url]
            or any(allowed(role, action) for action in PAGE_ACTIONS[url])}


def _not_for_role(who: auth.Visitor, url_path: str) -> None:
    roles = [r for r in ROLES if any(allowed(r, a) for a in PAGE_ACTIONS[url_path])]
    st.info(f"This page is for {' and '.join(r + 's' for r in roles)}; you are signed in as "
            f"{md(who.user.name if who.user else '?')} ({md(who.role)}), so its changes "
            "will be refused.", icon=":material/lock:")


def _visitor() -> tuple[auth.Visitor, Exception | None]:
    """This rerun's visitor; a check that failed (the database locked, unreadable) lets
    nobody in and is reported inside the page's guard."""
    try:
        return auth.visitor(state.project_dir()), None
    except Exception as exc:  # noqa: BLE001 - reported by errors.guarded in run_app
        return auth.Visitor(team=True, reason="no session"), exc


def _here(url_path: str) -> str:
    """This page's path with its query (where signing in returns to)."""
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in st.query_params.items())
    return f"/{url_path}" + (f"?{query}" if query else "")


# The editing pages (Review, Approve) put the image first: less space above it than
# Streamlit's page top. Streamlit focuses the main area after a shortcut's button goes
# away (the next image's buttons) and rings it with an outline and a ::before frame: the
# ring framed the whole page for the rest of the session, so neither is drawn.
EDITOR_STYLE = ("<style>.stMainBlockContainer{padding-top:2.2rem} .stMain:focus{outline:none} "
                ".stMain:focus-visible::before{display:none}</style>")


def editor_frame() -> None:
    """The frame of a page that edits one image at a time (:data:`EDITOR_STYLE`)."""
    st.html(EDITOR_STYLE)


def page_entry() -> None:
    """First line of every page: a page run outside :func:`run_app` runs the app instead."""
    if not getattr(_running, "active", False):
        run_app()
        st.stop()


def _sidebar_status(who: auth.Visitor) -> None:
    auth.sidebar(who)
    with state.store() as store, st.sidebar:
        status = store.status()
        st.caption("PROJECT")
        st.markdown(f"**{md(store.root.name)}**")
        st.caption(md_code(store.root))
        st.markdown(f"{status.labeled:,} of {status.items:,} images labeled  \n"
                    f"Active model: {md(status.active_model or 'none yet')}  \n"
                    f"Rounds: {status.rounds}")

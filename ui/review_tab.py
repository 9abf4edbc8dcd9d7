"""The Review page tab's hold on its images and its clock.

A tab holds the image open in its editor and its grid page's images for
:data:`~al_core.review.save.TAB_LEASE_SECONDS`, renewed every
:data:`~al_core.review.save.TAB_HEARTBEAT_SECONDS` while the tab is open, and by the
editor's own runs. Served by ``serve.py``, the tab's watcher renews them through the
renew route (:mod:`ui.tab_leases`) while the tab is in use, with no rerun of the page (a
rerun under way when a key is pressed left the screen one step behind); without the
routes (``streamlit run app.py``) the watcher reruns :func:`lease_keeper`, a fragment,
instead. Either stops with the tab. The tab gives them back:

- at once when the tab goes away: its watcher (:mod:`ui.activity`) sends the tab's token
  to the release route (:mod:`ui.tab_leases`), which knows what the tab holds
  (:func:`register`);
- when the tab goes idle: with the routes its watcher stops renewing them, and they
  run out with their short lease; without, they are released after the tab has been
  idle :func:`ui.activity.release_after_idle` seconds. The page says so, and when the
  user comes back the images are claimed again, or the page says plainly which one
  someone else took (saving it is then refused: the store never saves over another's
  work, ``HeldError`` / ``StaleLabelsError``).

The tab's :class:`~ui.activity.ActiveClock` (:func:`clock`) counts each image's active
seconds, which its save records. State in ``st.session_state``: the clock and the scroll
request (:data:`CLOCK_KEY`, :data:`SCROLL_KEY`), ``rv_away`` (the images given back while
idle), ``rv_renewed``.
"""
from __future__ import annotations

import math
import os
import time

import streamlit as st

from al_core.review.save import TAB_HEARTBEAT_SECONDS, TAB_LEASE_SECONDS
from al_core.store import Store
from al_core.workflow import WorkflowError
from ui import activity, review_work, state, tab_leases
from ui.activity import ActiveClock, Activity
from ui.auth_routes import ROUTES_ENV
from ui.fragments import fragment, rerun_fragment
from ui.text import md

GRID_CLOCK = "grid"  # the grid's page on the clock (an image goes by its id)
WATCH_KEY = "rv-tab-watch"
# not rv_ keys: they outlive the page's resets (another selection, a single image)
CLOCK_KEY, SCROLL_KEY = "_review_clock", "_review_scroll"


def clock() -> ActiveClock:
    """This tab's clock (one per session: it outlives the page's resets)."""
    if not isinstance(st.session_state.get(CLOCK_KEY), ActiveClock):
        st.session_state[CLOCK_KEY] = ActiveClock()
    return st.session_state[CLOCK_KEY]


def held() -> list[int]:
    """The images this tab holds: the editor's image, then the grid page's."""
    ids = [] if st.session_state.get("rv_item") is None else [st.session_state["rv_item"]]
    return ids + [i for i in st.session_state.get("rv_grid_page") or [] if i not in ids]


def register(root, user: str) -> None:
    """Tell the release route what this tab holds now (nothing while it is away)."""
    tab_leases.hold(tab_leases.token(), root, user,
                    [] if st.session_state.get("rv_away") else held())


def _say(kind: str, text: str) -> None:
    """A message where the page shows one now: the grid's line, else the editor's."""
    if st.session_state.get("rv-mode") == "Grid" and st.session_state.get("rv_grid_page"):
        st.session_state["rv_grid_msg"] = (kind, text)
    else:
        st.session_state["rv_msg"] = (kind, text)


def _claim(store: Store, item_id: int, user: str) -> str | None:
    """Hold ``item_id`` again: None, or why not (Markdown: who has it instead)."""
    try:
        other = store.claim(item_id, user, seconds=TAB_LEASE_SECONDS)
    except WorkflowError as exc:  # team mode: it left this person's work meanwhile
        return review_work.refused(item_id, exc)
    return None if other is None else f"{md(other)} has image #{item_id}"


def _mine(store: Store, ids: list[int]) -> list[int]:
    """The images of ``ids`` that still need holding: the editor's, and the grid page's
    unlabeled ones."""
    page = set(st.session_state.get("rv_grid_page") or [])
    if not ids or not page:
        return list(ids)
    open_ = {i.id for i in store.items(ids=[i for i in ids if i in page], status="unlabeled")}
    return [i for i in ids if i not in page or i in open_]


def keep(store: Store, user: str, *, heartbeat: bool = False, routes: bool = False) -> bool:
    """Renew, give back or claim again the tab's images as the tab's state asks; True
    when the page must be drawn again to say what happened. Only a ``heartbeat`` (a run
    of the watcher's fragment) lets them go for idleness: the editor's runs follow an
    action (the tracker's report of the return may still be on its way). With the
    ``routes`` (``serve.py``) the watcher renews them itself while the tab is in use, so
    from the idle report on they are left to run out (:data:`TAB_LEASE_SECONDS`);
    without, they are given back after :func:`ui.activity.release_after_idle`."""
    c, now = clock(), time.monotonic()
    ids, away = held(), st.session_state.get("rv_away")
    if heartbeat and c.idle and (routes or c.idle_for(now) >= activity.release_after_idle()):
        if away or not ids:
            return False
        if not routes:
            for item_id in ids:
                store.release(item_id, user)
        st.session_state["rv_away"] = ids
        register(store.root, user)
        idle = c.idle_for(now)
        for_ = f"{idle:.0f} s" if idle < 90 else f"{math.floor(idle / 60)} min"
        names = ", ".join(f"#{i}" for i in ids[:4]) + (" …" if len(ids) > 4 else "")
        if routes:
            within = f"others can take {'it' if len(ids) == 1 else 'them'} within " \
                     f"{TAB_LEASE_SECONDS} s"
            what = (f"image {names} is no longer held for you ({within}). It is" if
                    len(ids) == 1 else
                    f"images {names} are no longer held for you ({within}). They are")
        else:
            what = (f"image {names} was given back so that others can take it. It is" if
                    len(ids) == 1 else
                    f"images {names} were given back so that others can take them. They are")
        _say("info", f"No input here for {for_}: {what} yours again when you come back, "
                     "unless someone opens it meanwhile; nothing of yours is ever saved over "
                     "their work.")
        return True
    if away:
        if c.idle:
            return False
        st.session_state["rv_away"] = None
        taken = [why for item_id in _mine(store, away)
                 if (why := _claim(store, item_id, user)) is not None]
        st.session_state.setdefault("rv_renewed", {}).update(dict.fromkeys(away, now))
        register(store.root, user)
        if taken:
            _say("warning", f"While you were away: {'; '.join(taken)}. Your edits there stay "
                            "on screen but cannot be saved, and nothing of yours is saved "
                            "over their work: skip (S) to go on.")
        else:
            _say("info", "Welcome back: your images are held for you again.")
        return True
    renewed = st.session_state.setdefault("rv_renewed", {})
    due = [i for i in ids if now - renewed.get(i, 0) >= TAB_HEARTBEAT_SECONDS - 1]
    mine, current = _mine(store, due), st.session_state.get("rv_item")
    if current in mine and (why := _claim(store, current, user)) is not None:
        _say("warning", f"{why}: it was opened while it was not held here. Your edits "
                        "stay on screen but cannot be saved.")
    page = [i for i in mine if i != current]
    if page:  # the grid's page, in one transaction (one taken meanwhile stays theirs)
        store.claim_many(page, user, seconds=TAB_LEASE_SECONDS)
    renewed.update(dict.fromkeys(due, now))
    register(store.root, user)
    return False


def renew(store: Store, item_id: int, user: str) -> None:
    """The editor shows ``item_id``: its clock runs, and its lease is kept (:func:`keep`);
    the editor is drawn again when there is something new to say, and the whole page
    when an action changed what it shows outside the editor (``rv_redraw_page``: a skip
    or a skipped image saved, for "Show my skipped")."""
    if st.session_state.pop("rv_redraw_page", False):
        st.rerun()
    clock().show(item_id, time.monotonic())
    if keep(store, user):
        rerun_fragment()


def scroll_to_top() -> None:
    """Scroll the page to the top at its next full run (the editor opened from below)."""
    st.session_state[SCROLL_KEY] = st.session_state.get(SCROLL_KEY, 0) + 1


def show_grid(*, new_page: bool) -> None:
    """The grid shows a page: its clock runs (from 0 for a new page)."""
    if new_page:
        clock().forget(GRID_CLOCK)
    clock().show(GRID_CLOCK, time.monotonic())
    st.session_state["rv_grid_shown"] = True


def _heard(report: Activity) -> None:
    now = time.monotonic()
    if report.state == "idle":
        clock().went_idle(report.idle_for, now)
    else:
        clock().came_back(now)


@fragment("keeping the open image")
def lease_keeper(root, user: str) -> None:
    """The tab's watcher and heartbeat: keep the images open here held while the page
    stays open (a fragment of its own: it never redraws the editor, except to say that
    they were given back or taken), and scroll the page to the top when the editor opens
    after the grid."""
    if st.session_state.get("rv-mode") != "Grid" and st.session_state.pop("rv_grid_shown",
                                                                          False):
        scroll_to_top()
    routes = os.environ.get(ROUTES_ENV) == "1"
    activity.tab_watch(
        key=WATCH_KEY, tab=tab_leases.token(),
        release_url=tab_leases.RELEASE_PATH if routes else None,
        renew_url=tab_leases.RENEW_PATH if routes else None,
        idle=clock().idle, on_report=_heard, beat_seconds=TAB_HEARTBEAT_SECONDS,
        scroll=st.session_state.get(SCROLL_KEY, 0))
    if not held() and not st.session_state.get("rv_away"):
        return
    with state.store() as store:
        redraw = keep(store, user, heartbeat=True, routes=routes)
    if redraw:
        st.rerun()

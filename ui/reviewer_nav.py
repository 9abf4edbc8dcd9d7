"""The Approve page's state and actions: which image the reviewer has open, the per-box
verdicts and comments, the fix being drawn, and the button callbacks that call
:mod:`al_core.review.reviewing` (open, decide, leave). State lives in
``st.session_state`` under ``ap_*`` keys; each opening of an image has a ``serial``, so
the widgets and canvas of an earlier opening are never read as this one's.

Every refusal (another reviewer holds the image, it is no longer waiting, one's own
labels, labels changed since it was opened) becomes one message beside the image
(:func:`msg`), never a traceback.
"""
from __future__ import annotations

import itertools
import sqlite3
import time

import streamlit as st

from al_core.permissions import PermissionDenied
from al_core.review.reviewing import (MAX_COMMENT, Comment, decide, release_review,
                                      review_queue, review_view, start_review)
from al_core.review.save import LEASE_SECONDS, HeldError
from al_core.store import Store
from al_core.workflow import WorkflowError
from ui import canvas, state
from ui.errors import guarded_callback, refusal, storage_problem
from ui.fragments import fragment
from ui.text import md
from ui.working import Working

RENEW_AFTER = LEASE_SECONDS / 5  # seconds between lease renewals while an image is open
_serials = itertools.count(1)
REFUSED = (HeldError, WorkflowError, PermissionDenied, ValueError)


def init() -> None:
    """The page's state, once per session."""
    st.session_state.setdefault("ap_item", None)  # the image open for review, or None
    st.session_state.setdefault("ap_msg", None)  # (kind, text) until the next action
    st.session_state.setdefault("ap_open", None)  # this opening (:func:`_opened`)
    st.session_state.setdefault("ap_fix", None)  # a Working while fixing, else None


def msg(kind: str, text: str) -> None:
    """Say ``text`` (Markdown, values already escaped) until the next action."""
    st.session_state["ap_msg"] = (kind, text)


def opening() -> dict | None:
    """This opening of the image: ``item_id``, ``serial``, ``version`` (its labels' when
    opened), ``opened`` (monotonic seconds), ``verdicts`` (one per annotator box)."""
    return st.session_state.get("ap_open")


def comment_key(serial: int, k: int | None) -> str:
    """The widget key of the comment on box ``k`` (None: on the image)."""
    return f"ap-comment-{serial}-{'image' if k is None else k}"


def _opened(store: Store, item_id: int) -> None:
    view = review_view(store, item_id)
    st.session_state.update(
        ap_item=item_id, ap_fix=None,
        ap_open={"item_id": item_id, "serial": next(_serials), "version": view.label_version,
                 "opened": time.monotonic(), "renewed": time.monotonic(),
                 "verdicts": [True] * len(view.boxes)})


def _closed() -> None:
    st.session_state.update(ap_item=None, ap_open=None, ap_fix=None)


def open_item(store: Store, item_id: int) -> bool:
    """Start reviewing ``item_id`` (``start_review`` takes its lease); False, with the
    reason said, when it cannot be opened."""
    try:
        start_review(store, item_id)
    except REFUSED as exc:
        msg("error", _refused("Not opened", exc))
        return False
    _opened(store, item_id)
    return True


def open_next(store: Store) -> bool:
    """Open the first image of the reviewer's queue that can be opened (one another
    reviewer took meanwhile is passed over); False, with a message, when none is left."""
    for row in review_queue(store):
        try:
            start_review(store, row["item_id"])
        except (HeldError, WorkflowError):
            continue  # taken or decided by someone else since the queue was read
        _opened(store, row["item_id"])
        return True
    _closed()
    return False


def _refused(lead: str, exc: Exception) -> str:
    if isinstance(exc, PermissionDenied):
        return refusal(exc)
    return f"{lead}: {md(exc)}"


def _guard(where: str):
    return guarded_callback(where, on_error=lambda text: msg("error", text))


# -- callbacks ------------------------------------------------------------------------------
@_guard("opening the next image")
def review_next() -> None:
    st.session_state["ap_msg"] = None
    with state.store() as store:
        if not open_next(store):
            msg("info", "Nothing is waiting for your review.")


@_guard("opening the image")
def open_row(item_id: int) -> None:
    st.session_state["ap_msg"] = None
    with state.store() as store:
        open_item(store, item_id)


@_guard("leaving the image")
def leave(item_id: int) -> None:
    st.session_state["ap_msg"] = None
    if st.session_state.get("ap_item") != item_id:
        return  # a key pressed twice: the image it was meant for is gone already
    with state.store() as store:
        release_review(store, item_id)
    _closed()
    msg("info", f"Left #{item_id} undecided: it waits for review again.")


def toggle_verdict(item_id: int, serial: int, k: int) -> None:
    """Accept <-> reject annotator box ``k`` of this opening."""
    now = opening()
    if now is None or now["serial"] != serial or k >= len(now["verdicts"]):
        return
    st.session_state["ap_msg"] = None
    now["verdicts"][k] = not now["verdicts"][k]


def start_fix(item_id: int, serial: int) -> None:
    """Edit the boxes on the canvas, starting from the annotator's accepted boxes."""
    now = opening()
    if now is None or now["serial"] != serial:
        return
    st.session_state["ap_msg"] = None
    with state.store() as store:
        view = review_view(store, item_id)
        item = store.item(item_id)
    kept = [b for b, ok in zip(view.boxes, now["verdicts"]) if ok]
    st.session_state["ap_fix"] = Working.open(
        item_id, item.width, item.height, base_version=now["version"], prelabels=[],
        labels=kept, min_score=0.0)


def cancel_fix() -> None:
    st.session_state.update(ap_fix=None, ap_msg=None)


def undo_fix() -> None:
    w = sync_fix()
    if w is not None and not w.undo():
        msg("info", "Nothing to undo in this fix.")


def sync_fix() -> Working | None:
    """Take a canvas edit that reached the server together with a button (the canvas
    sends its drawing in the same rerun as a key pressed right after a drag), so the
    button never drops it. Returns the fix's working boxes (None when not fixing)."""
    w = st.session_state.get("ap_fix")
    for problem in canvas.sync_drawn(w, st.session_state.get("ap_canvas")):
        msg("warning", problem)
    return w


def comments_given(serial: int, n_boxes: int) -> list[Comment]:
    """The comments typed on this opening: one per box with text, then the image's."""
    out = [Comment(text, k) for k in range(n_boxes)
           if (text := str(st.session_state.get(comment_key(serial, k)) or "").strip())]
    image = str(st.session_state.get(comment_key(serial, None)) or "").strip()
    return out + ([Comment(image)] if image else [])


@_guard("deciding on the image")
def decide_cb(item_id: int, serial: int, decision: str) -> None:
    """Approve, fix (the fix's boxes) or return the open image, then open the next."""
    now = opening()
    if now is None or now["serial"] != serial or st.session_state.get("ap_item") != item_id:
        return  # a key pressed twice: the next image is open, unseen
    st.session_state["ap_msg"] = None
    w = sync_fix() if decision == "fix" else None
    if decision == "fix" and w is None:
        msg("error", "Nothing was decided: press Fix and approve first, edit the boxes, "
                     "then save the fix.")
        return
    said = comments_given(serial, len(now["verdicts"]))
    try:
        with state.store() as store:
            record = decide(store, item_id, decision, boxes=w.final() if w else None,
                            verdicts=now["verdicts"], comments=said,
                            seconds=time.monotonic() - now["opened"],
                            expected_version=now["version"])
            done = _done(item_id, record, len(said))
            if not open_next(store):
                done += " Nothing else is waiting for your review."
    except REFUSED as exc:
        _not_decided(item_id, exc)
        return
    except (sqlite3.OperationalError, OSError) as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        msg("error", f"Not decided: {problem}. Your verdicts and comments are still here: "
                     "decide again when that is fixed.")
        return
    msg("success", done)


def _done(item_id: int, record: dict, n_comments: int) -> str:
    who = md(record["annotator"] or "the annotator")
    if record["decision"] == "return":
        said = f"{n_comments} comment{'' if n_comments == 1 else 's'}" if n_comments else \
            "the rejected boxes marked"
        return f"Returned #{item_id} to {who} with {said}."
    if record["decision"] == "fix":
        n = record["corrections"]
        return (f"Fixed and approved #{item_id}: {n} correction{'' if n == 1 else 's'} "
                f"counted against {who}.")
    return f"Approved #{item_id} as {who} labeled it."


def _not_decided(item_id: int, exc: Exception) -> None:
    """A refused decision: the reason beside the image. When the image's labels changed
    since it was opened, it is opened again on the new labels (the verdicts and any fix
    were for the old ones)."""
    text = _refused("Not decided", exc)
    with state.store() as store:
        row = store.work(item_id) or {}
        me = (store.actor_name or "").casefold()
        now = opening()
        if row.get("state") == "in_review" and (row.get("reviewer") or "").casefold() == me:
            if now is not None and store.item(item_id).label_version != now["version"]:
                _opened(store, item_id)
                text += " It now shows the new labels."
        else:
            _closed()  # no longer reviewable here: back to the queue
    msg("error", text)


def still_mine(store: Store) -> str | None:
    """None while the open image is in review by this reviewer; else why not (another
    tab decided it, a lead took it over), and the page goes back to the queue."""
    item_id = st.session_state.get("ap_item")
    if item_id is None:
        return None
    row = store.work(item_id) or {}
    me = (store.actor_name or "").casefold()
    if row.get("state") == "in_review" and (row.get("reviewer") or "").casefold() == me:
        return None
    _closed()
    state_ = str(row.get("state") or "gone").replace("_", " ")
    by = f" (by {md(row['reviewer'])})" if row.get("reviewer") else ""
    return f"Image #{item_id} is no longer in review for you: it is {state_}{by}."


@fragment("keeping the open image", run_every=RENEW_AFTER)
def lease_keeper() -> None:
    """Renew the lease on the open image while the page stays open, even with no input
    (a fragment of its own: it never redraws the image)."""
    now = opening()
    if now is None or time.monotonic() - now["renewed"] < RENEW_AFTER:
        return
    with state.store() as store:
        try:
            start_review(store, now["item_id"])  # in review by me: renews the lease
        except REFUSED as exc:
            msg("warning", _refused("The image could not be kept open", exc))
        now["renewed"] = time.monotonic()


__all__ = ["MAX_COMMENT", "comment_key", "decide_cb", "init", "leave", "lease_keeper",
           "msg", "open_next", "open_row", "opening", "review_next", "start_fix",
           "still_mine", "sync_fix", "toggle_verdict"]

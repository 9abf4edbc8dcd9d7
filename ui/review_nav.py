"""The Review page's navigation and actions: which image is open, the button callbacks,
and the lease on the open image. State lives in ``st.session_state`` under ``rv_*`` keys
(see :func:`reset`); the boxes of each opened image are a :class:`ui.working.Working`,
kept until it is saved, so going back and forth between images loses nothing.

Leases follow the tab (:func:`lease_keeper`): the images a tab holds are held for
:data:`~al_core.review.save.TAB_LEASE_SECONDS`, renewed by a heartbeat while the tab is
open, given back the moment the tab closes (:mod:`ui.tab_leases`) and after it has been
idle a while (:mod:`ui.activity`), and claimed again when the user comes back. The
seconds saved with an image are its active time (:class:`ui.activity.ActiveClock`).
"""
from __future__ import annotations

import sqlite3
import time

import streamlit as st

from al_core.review.save import TAB_LEASE_SECONDS, HeldError, StaleLabelsError, submit_review
from al_core.store import Store
from al_core.types import Selection
from al_core.workflow import WorkflowError
from ui import canvas, params, review_work, state
from ui.errors import guarded_callback, storage_problem
from ui import review_tab
from ui.review_tab import clock, register
from ui.text import md
from ui.working import Working

# the tab's hold on its images (ui.review_tab), called by the page and the editor as here
lease_keeper, renew = review_tab.lease_keeper, review_tab.renew


def reset(tag: str | None, store: Store | None = None, user: str | None = None) -> None:
    """Start over on selection ``tag`` (None: single images opened by id), giving up the
    lease on the image that was open unless it has unsaved edits."""
    if store is not None and user is not None:
        _leave(store, user)
    for k in [k for k in st.session_state if str(k).startswith("rv_")]:
        del st.session_state[k]
    st.session_state.update(rv_sel=tag, rv_item=None, rv_work={}, rv_hist=[], rv_pos=-1,
                            rv_class=None, rv_focus=None, rv_hidden=False, rv_msg=None,
                            rv_queue=[], rv_renewed={}, rv_done=False, rv_away=None)


def msg(kind: str, text: str) -> None:
    st.session_state["rv_msg"] = (kind, text)


def current() -> Working | None:
    return st.session_state.get("rv_work", {}).get(st.session_state.get("rv_item"))


def follow_focus(w: Working | None) -> None:
    """After the canvas's own edits: the highlighted box keeps its highlight at its new
    index, or loses it when the canvas deleted or moved it (an edit-mode delete of a box
    before it shifted the index, and a number key, an arrow or Delete then went to the
    next box)."""
    moved = w.take_renumbered() if w is not None else None
    focus = st.session_state.get("rv_focus")
    if moved is not None and focus is not None:
        st.session_state["rv_focus"] = moved.get(focus)


def sync() -> Working | None:
    """Apply a canvas edit that reached the server together with an action (the canvas
    sends its drawing in the same rerun as a key pressed right after a drag; callbacks
    run before the page is drawn), so the action never drops it. Returns the current
    working boxes."""
    st.session_state["rv_msg"] = None  # a message stays until the next action, and so
    params.forget("item", "selection")  # does a link's notice (ui.params) once acted on
    w = current()
    for problem in canvas.sync_drawn(w, st.session_state.get("rv_canvas")):
        msg("warning", problem)
    follow_focus(w)
    return w


def _leave(store: Store, user: str) -> None:
    """Give up the lease on the open image unless it has unsaved edits (then it stays
    held for its lease, so coming back to it finds the edits still saveable)."""
    w = current()
    if w is not None and not w.dirty:
        store.release(w.item_id, user)


# -- navigation ---------------------------------------------------------------------------
def open_item(store: Store, item_id: int, user: str) -> bool:
    """Make ``item_id`` the current image, holding it for ``user``; False (with a
    message) when another annotator holds it or, in team mode, the workflow will not
    open it for them (past the cap, another's image, a gold image not theirs)."""
    try:
        other = store.claim(item_id, user, seconds=TAB_LEASE_SECONDS)
    except WorkflowError as exc:
        msg("warning", review_work.refused(item_id, exc))
        return False
    if other is not None:
        msg("warning", f"Image #{item_id} is open for {md(other)}; pick another one.")
        return False
    if st.session_state.get("rv_item") not in (None, item_id):
        _leave(store, user)
    st.session_state["rv_renewed"][item_id] = time.monotonic()
    hist = st.session_state["rv_hist"]
    if item_id in hist:
        st.session_state["rv_pos"] = hist.index(item_id)
    else:
        hist.append(item_id)
        st.session_state["rv_pos"] = len(hist) - 1
    st.session_state.update(rv_item=item_id, rv_focus=None, rv_done=False, rv_away=None)
    st.query_params["item"] = st.session_state["rv_link"] = str(item_id)
    clock().show(item_id, time.monotonic())
    register(store.root, user)
    return True


def advance(store: Store, selection: Selection | None, user: str) -> None:
    """Go to the next image: forward in this session's history, then images marked in
    the grid, then the selection's next unclaimed unlabeled image in rank order (team
    mode: the workflow's order, the person's own images first; none past the cap)."""
    hist, pos = st.session_state["rv_hist"], st.session_state["rv_pos"]
    ahead = hist[pos + 1:]
    if ahead and store.team_mode():  # not back into the reviewer's queue
        ahead = [i for i in ahead if not _submitted_by(store, i, user)]
    if ahead and open_item(store, ahead[0], user):
        return
    queue = st.session_state["rv_queue"]
    while queue:
        item_id = queue.pop(0)
        if store.item(item_id).status == "unlabeled" and open_item(store, item_id, user):
            return
    nxt = store.claim_next(selection.id, user, seconds=TAB_LEASE_SECONDS, exclude=hist) \
        if selection is not None else None
    if nxt is None:
        # the batch is done (team mode: or the cap reached): redraw the whole page once
        # (sidebar and picker counts)
        st.session_state.update(rv_item=None, rv_done=True, rv_refresh=True)
        st.query_params.pop("item", None)
        st.session_state["rv_link"] = None
        register(store.root, user)
    else:
        open_item(store, nxt, user)


def _submitted_by(store: Store, item_id: int, user: str) -> bool:
    """Team mode: ``user`` is done with ``item_id`` (submitted, in review or approved,
    no unsaved edits of theirs on it). Going forward in the page's history skips it:
    opening it would take it back from review (a returned image reopened from early in
    the history, then saved, went on to the image saved after it). D still opens it."""
    w = st.session_state["rv_work"].get(item_id)
    if w is not None and w.dirty:
        return False
    return (store.work_state(item_id) in ("submitted", "in_review", "approved")
            and not store.gold_served(item_id, user))


def previous(store: Store, user: str) -> None:
    hist, pos = st.session_state["rv_hist"], st.session_state["rv_pos"]
    if pos <= 0:
        msg("info", "This is the first image of this session.")
        return
    open_item(store, hist[pos - 1], user)


# -- actions (button callbacks; each reruns the fragment) -----------------------------------
def _on(item_id: int) -> Working | None:
    """The current working boxes when the action was meant for ``item_id`` (a key pressed
    twice can arrive after the next image opened: it must not act on an unseen image)."""
    w = sync()
    return w if w is not None and w.item_id == item_id else None


def _failed(text: str) -> None:
    msg("error", text)


def _guard(where: str):
    """A callback of the editor: an unexpected error is one message beside the image."""
    return guarded_callback(where, on_error=_failed)


@_guard("saving the image")
def save(root, selection: Selection | None, user: str, accept: bool, item_id: int) -> None:
    w = _on(item_id)
    if w is None:
        return
    try:
        with state.store() as store:
            saved = _submit(store, selection, user, accept, w)
    except (sqlite3.OperationalError, OSError) as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        msg("error", f"Not saved: {problem}. Your boxes are still here: save again when "
                     "that is fixed.")
        return
    if saved:
        _next(root, selection, user)


def _submit(store: Store, selection: Selection | None, user: str, accept: bool,
            w: Working) -> bool:
    """Save the working boxes (True: move on); a refusal is the message instead."""
    team = store.team_mode()
    if w.from_labels and not w.dirty and not (team and review_work.must_submit(
            store, w.item_id)):  # a labeled image taken as it is: saving would
        del st.session_state["rv_work"][w.item_id]  # only bump its version (and for
        store.release(w.item_id, user)  # a test image, invalidate evaluations)
        msg("info", f"#{w.item_id} is unchanged: nothing saved.")
        return True
    gold = team and store.gold_served(w.item_id, user)
    before = store.work(w.item_id) if team else None
    try:
        result = submit_review(
            store, w.item_id, w.final(), author=user,
            action="accept" if accept and not w.dirty else "save", prelabels=w.shown(),
            expected_version=w.base_version, selection=selection,
            seconds=clock().seconds(w.item_id, time.monotonic()), auto_accepted=w.accepted())
    except StaleLabelsError as exc:
        del st.session_state["rv_work"][w.item_id]  # reopened with their labels
        msg("error", f"Not saved: {md(exc)}. It now shows their labels.")
        return False
    except (HeldError, ValueError, WorkflowError) as exc:
        msg("error", f"Not saved: {md(exc)}")
        return False
    del st.session_state["rv_work"][w.item_id]
    clock().forget(w.item_id)
    if w.item_id in st.session_state.get("rv_skipped_shown", ()):
        st.session_state["rv_redraw_page"] = True  # "Show my skipped" lists one less
    n, auto = len(w.final()), len(w.accepted())
    if team:  # submitted for review; the split it joined is a lead's matter
        msg("success", review_work.saved_message(store, w, result, gold=gold, before=before,
                                                 boxes=n + auto))
        return True
    c = result.changes
    joined = f"; joined {result.split}" if result.split else ""
    dropped = f"; {result.dropped} stray-click boxes dropped" if result.dropped else ""
    accepted = f", {auto} accepted without asking" if auto else ""
    msg("success", f"Saved #{w.item_id}: {n + auto} box{'' if n + auto == 1 else 'es'} "
                   f"({c.kept} kept, {c.moved} moved, {c.relabeled} relabeled, {c.deleted} "
                   f"deleted, {c.added} added{accepted}){joined}{dropped}.")
    return True


def _next(root, selection: Selection | None, user: str) -> None:
    """After a save: the next image of the selection (a single image: done)."""
    if selection is None:
        st.session_state["rv_done"] = True
        return
    try:
        with state.store() as store:
            advance(store, selection, user)
    except (sqlite3.OperationalError, OSError) as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        done = (st.session_state.get("rv_msg") or ("", ""))[1]
        msg("error", f"{done} The next image could not be opened: {problem}. Press F to "
                     "try again.")


@_guard("skipping the image")
def skip(root, selection: Selection | None, user: str, item_id: int) -> None:
    if _on(item_id) is None and st.session_state["rv_item"] != item_id:
        return
    with state.store() as store:
        gold = store.team_mode() and store.gold_served(item_id, user)
        store.skip(item_id, user, selection_id=selection.id if selection else None)
        st.session_state["rv_work"].pop(item_id, None)
        clock().forget(item_id)
        st.session_state["rv_redraw_page"] = True  # "Show my skipped" lists one more
        msg("info", review_work.skipped_message(store, item_id, gold=gold)
            if store.team_mode() else
            f"Skipped #{item_id}: it stays unlabeled and leaves your queue.")
        advance(store, selection, user)


@_guard("opening the previous image")
def previous_cb(root, user: str) -> None:
    sync()
    with state.store() as store:
        previous(store, user)


def undo() -> None:
    w = sync()
    if w is not None and not w.undo():
        msg("info", "Nothing to undo on this image.")
    elif w is not None:  # the boxes' indices may have moved: the highlight would name
        st.session_state["rv_focus"] = None  # another box for the keys


def palette(class_id: int) -> None:
    """The class for new boxes (a number key, a chip or the picker of
    :mod:`ui.review_palette`), given to the highlighted box too."""
    st.session_state["rv_class"] = class_id
    w = sync()
    focus = st.session_state["rv_focus"]
    if w is not None and focus is not None and focus < len(w.boxes):
        w.relabel(focus, class_id)
        st.session_state["rv_focus"] = None


def target(tag: str) -> Working | None:
    """The working boxes a box-list widget was drawn for (``Working.tag``), or None when
    the image, its opening or its revision has changed since: Streamlit can deliver a
    change of a widget that is no longer on the page (the previous image's class picker,
    say) after a navigation, and such a change must never land on another image's boxes."""
    w = current()
    if w is not None and w.tag == tag:
        w = sync()  # an edit on the canvas first, then this change on top of it
        return w if w is not None and w.tag == tag else None
    return None


def relabel_from_list(k: int, key: str, ids: dict, tag: str) -> None:
    w = target(tag)
    if w is not None and k < len(w.boxes):
        w.relabel(k, ids[st.session_state[key]])
        st.session_state["rv_focus"] = None


def delete(k: int, tag: str) -> None:
    w = target(tag)
    if w is not None and k < len(w.boxes):
        w.delete(k)
        st.session_state["rv_focus"] = None


def focus(k: int, tag: str) -> None:
    w = target(tag)
    if w is not None:
        st.session_state["rv_focus"] = None if st.session_state["rv_focus"] == k else k
        w.rev += 1  # redraw with the focused box highlighted


def toggle_hidden() -> None:
    w = sync()
    st.session_state["rv_hidden"] = not st.session_state["rv_hidden"]
    if w is not None:  # shown again, the canvas starts from the boxes as they are now:
        w.rev += 1  # under its old key it reloaded its first drawing and sent it back



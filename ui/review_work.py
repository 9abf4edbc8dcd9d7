"""The annotator's own work on the Review page in team mode (the review workflow,
:mod:`al_core.workflow`): their queue in one line with the cap, a returned image's open
comments (listed beside it, the boxes they are pinned to drawn on the picture), what a
save or a skip did to the image, and why nothing is left (the cap, or nothing at all).

A served gold image is spoken of exactly as an image pulled from the pool: unlabeled,
counted as in progress while open, "submitted" after a save (or approved, drawn as the
spot check draws). Single-user mode uses none of this. Functions draw widgets or return
plain text; the workflow's rules stay in al_core.
"""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from al_core.review.reviewing import comments
from al_core.review.save import ReviewResult
from al_core.store import Store
from al_core.types import ClassInfo, Item, Selection
from al_core.workflow import CapReached, WorkflowError
from ui.canvas_view import to_canvas_xyxy
from ui.text import md


def team(store: Store) -> bool:
    return store.team_mode()


# -- the queue line --------------------------------------------------------------------
def queue_text(store: Store, selection: Selection, user: str, item_id: int | None) -> str:
    """The progress line of team mode: the selection's labeled images, then the user's
    own work in it (returned to them and assigned to them, open now or not; other images
    open; waiting for review) and how many images they hold against the project's cap
    (in every selection). A served gold image open now counts as open and held, as a
    pulled image would."""
    p = store.review_progress(selection.id, user)
    count = dict.fromkeys(("returned", "assigned", "in_progress", "submitted", "in_review"), 0)
    for row in store.work_rows(selection_id=selection.id, annotator=user):
        state = row["state"]  # an open image counts where it came from: returned, assigned
        if state == "in_progress" and row["resume"] in ("returned", "assigned"):
            state = row["resume"]
        if state in count:
            count[state] += 1
    held = store.held_count(user)
    if item_id is not None and store.gold_served(item_id, user):
        count["in_progress"] += 1
        held += 1
    parts = [f"{count['returned']} returned to you" if count["returned"] else "",
             f"{count['assigned']} assigned" if count["assigned"] else "",
             f"{count['in_progress']} open" if count["in_progress"] else "",
             f"{count['submitted'] + count['in_review']} waiting for review"]
    cap = store.workflow_settings().cap
    return (f"**{p['labeled']} / {p['total']}** labeled in {md(selection.tag)} · yours: "
            + " · ".join(x for x in parts if x) + f" · **{held} of {cap} held**")


# -- what the caption says of the image --------------------------------------------------
def status_word(store: Store, item: Item, user: str) -> str:
    """The image's state in the caption: ``unlabeled`` for a pool image (and a served
    gold image), else where it stands in the workflow."""
    if item.status != "labeled" or store.gold_served(item.id, user):
        return "unlabeled"
    row = store.work(item.id) or {}
    state = row.get("resume") if row.get("state") == "in_progress" else row.get("state")
    if state == "returned":
        return f"returned to you by {md(row.get('reviewer') or 'a reviewer')}"
    return {"submitted": "submitted, taken back from review",
            "in_review": "in review", "approved": "approved"}.get(state or "", "labeled")


def shown_split(store: Store, item: Item, user: str) -> str:
    """The split named in the caption: a served gold image is in the pool, as the images
    it is mixed with are."""
    return "pool" if store.gold_served(item.id, user) else item.split or "pool"


# -- a returned image's comments -------------------------------------------------------
def open_comments(store: Store, item_id: int) -> list[dict]:
    """The reviewer's open comments on the image when it is the acting user's."""
    return comments(store, item_id, open_only=True)


def pinned(notes: Sequence[dict]) -> list[tuple[int, list[float], list[dict]]]:
    """The comments pinned to a box, grouped by box and numbered from 1 in the order
    they were written: ``(number, [x1, y1, x2, y2] image pixels, comments)``."""
    out: list[tuple[int, list[float], list[dict]]] = []
    for note in notes:
        if note.get("box") is None:
            continue
        for _, box, group in out:
            if box == list(note["box"]):
                group.append(note)
                break
        else:
            out.append((len(out) + 1, list(note["box"]), [note]))
    return out


def pins(notes: Sequence[dict], view) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """The pinned boxes to draw on the canvas background: ``(number, canvas-pixel box)``
    through ``view`` (a :class:`ui.canvas_view.View`, zoomed or not)."""
    return tuple((str(n), to_canvas_xyxy(box, view)) for n, box, _ in pinned(notes))



def _text(value: str) -> str:
    """A comment's text as Markdown that shows it as written, its lines kept."""
    return "  \n".join(md(line) for line in str(value).splitlines() or [""])


def comments_panel(notes: Sequence[dict], classes: Sequence[ClassInfo]) -> None:
    """The open comments beside the image: those pinned to a box numbered as on the
    image (a yellow badge), then those on the whole image. Draws nothing without
    comments. The text is shown as text (:func:`ui.text.md`), its lines kept."""
    if not notes:
        return
    names = {c.id: c.name for c in classes}
    authors = list(dict.fromkeys(n["author"] for n in notes))
    with st.container(border=True, gap="small"):
        st.markdown(f":material/rate_review: **Returned by {md(', '.join(authors))}**: fix "
                    "what they say, then save to send it back.")
        for number, _, group in pinned(notes):
            cls = names.get(group[0].get("class_id"))
            st.markdown(f":yellow-badge[**{int(number)}**] "
                        + (f"**{md(cls)}** · " if cls else "")
                        + "  \n".join(_text(n["text"]) for n in group))
        for note in (n for n in notes if n.get("box") is None):
            st.markdown(f":gray-badge[:material/image: image] {_text(note['text'])}")


# -- what a save, a skip or a refusal says ---------------------------------------------
def saved_message(store: Store, w, result: ReviewResult, *, gold: bool, before: dict | None,
                  boxes: int) -> str:
    """After a save in team mode: submitted for review (a fix: back to its reviewer), or
    approved when the spot check passed it by. ``before``: the image's work row before
    the save; ``gold``: it was a served gold image (said as a pulled image would be)."""
    c = result.changes
    what = (f"{boxes} box{'' if boxes == 1 else 'es'} ({c.kept} kept, {c.moved} moved, "
            f"{c.relabeled} relabeled, {c.deleted} deleted, {c.added} added)")
    if gold:  # no row: said as a first submission, sampled as the spot check samples
        state = "submitted" if store.work_rng.random() < \
            store.workflow_settings().review_share else "approved"
    else:
        state = store.work_state(w.item_id)
    if state == "approved":
        return f"Submitted #{w.item_id}, approved without review (not picked for the spot " \
               f"check): {what}."
    if before and before.get("resume") == "returned" and before.get("reviewer"):
        return f"Sent your fix of #{w.item_id} back to {md(before['reviewer'])}: {what}."
    return f"Submitted #{w.item_id} for review: {what}."


def skipped_message(store: Store, item_id: int, *, gold: bool) -> str:
    """After a skip in team mode: where the image went (the project's ``skip_to``)."""
    state = store.work_state(item_id)
    if gold:  # goes where a pulled image would
        state = "assigned" if store.workflow_settings().skip_to == "me" else "queued"
    if state == "returned":
        return f"Skipped #{item_id} for now: it stays returned to you, to fix later."
    if state == "assigned":
        return f"Skipped #{item_id}: it stays in your queue, for later."
    return f"Skipped #{item_id}: it goes back to the pool for someone else."


def refused(item_id: int, exc: WorkflowError) -> str:
    """An image the workflow would not open for the user: past the cap, or not theirs."""
    if isinstance(exc, CapReached):
        return f"Image #{item_id} was not opened: {md(exc)}."
    return f"Image #{item_id} cannot be opened for you: {md(exc)}."


def must_submit(store: Store, item_id: int) -> bool:
    """A returned image saved unchanged is still submitted (the reviewer may have been
    wrong): left as it was, it would only come back first again."""
    row = store.work(item_id)
    return bool(row and row["state"] == "in_progress" and row["resume"] == "returned")


# -- nothing left ----------------------------------------------------------------------
def capped(store: Store, user: str) -> bool:
    return store.held_count(user) >= store.workflow_settings().cap


def cap_reached(store: Store, user: str) -> None:
    """Say that no image opened because the user holds as many as the cap allows."""
    settings = store.workflow_settings()
    n, cap = store.held_count(user), settings.cap
    # a skip frees a place only when skipped images go back to the pool
    free = ("submit some of yours (a skipped image stays yours in this project)"
            if settings.skip_to == "me" else "submit or skip some of yours")
    st.warning(f"You hold {n} image{'' if n == 1 else 's'}, the project's cap of {cap}: no "
               f"more come from the pool until you {free}.", icon=":material/block:")


def held_list(store: Store, user: str) -> None:
    """The images the user holds (returned, assigned, open), each a button that opens
    it; nothing when they hold none."""
    held = store.work_rows(("returned", "assigned", "in_progress"), annotator=user)
    if not held:
        return
    st.caption("YOURS TO FINISH")
    with st.container(horizontal=True, gap="small"):
        for row in held[:20]:
            what = {"returned": "returned", "assigned": "assigned"}.get(row["state"], "open")
            st.button(f"#{row['item_id']} · {what} · {row['tag'] or 'no selection'}",
                      key=f"rv-held-{row['item_id']}", on_click=_open_held,
                      args=(row["tag"], row["item_id"]))


def nothing_left(store: Store, selection: Selection, user: str) -> None:
    """Why no image is left (the grid's page): the cap, or nothing left for the user in
    the selection; then the images they hold, to open."""
    if capped(store, user):
        cap_reached(store, user)
    else:
        st.success(nothing_left_text(selection))
    held_list(store, user)


def nothing_left_text(selection: Selection) -> str:
    """No image left for the user in the selection, said in the workflow's words."""
    return (f"Nothing left for you in {md(selection.tag)}: every image is submitted, "
            "skipped by you, or given to or open for someone else.")


def look_again() -> None:
    """For one who may not retrain, at the end of their work: where it stands, and a
    button that looks for new work (an image returned to them, one a lead handed out or
    put back in the pool) without reloading the page."""
    st.caption("What you submitted waits for a reviewer; an image returned to you, or one "
               "a lead hands you, opens here first.")
    st.button("Look for new work", key="rv-again", icon=":material/refresh:",
              on_click=lambda: st.session_state.update(rv_done=False, rv_item=None))


def _open_held(tag: str | None, item_id: int) -> None:
    """Open one of the user's held images: the page starts over on its selection, from
    a link to it (the page's own link handling opens it)."""
    st.query_params.clear()
    if tag is not None:
        st.query_params["selection"] = tag
    st.query_params["item"] = str(item_id)
    # the whole page reruns (the editor's or the grid's fragment asks for it): the page
    # reads the link
    st.session_state.update({"rv_sel": "unset", "rv_refresh": True, "rv_switch": True,
                             "rv-mode": "One at a time"})

"""Grid review (the "mark the wrong ones" flow of FiftyOne's active-learning plugin): a
page of thumbnails with their pre-labels; the annotator marks the wrong ones, accepts the
rest of the page with their shown boxes, and the marked ones open in the editor."""
from __future__ import annotations

import sqlite3
import time

import streamlit as st

from al_core.formats.images import ImageError, load_image
from al_core.review.save import (TAB_LEASE_SECONDS, HeldError, StaleLabelsError, prelabels,
                                 submit_review)
from al_core.store import Store
from al_core.types import Selection
from ui import review_tab, review_work, state
from ui.draw import draw_boxes, thumbnail_scale
from ui.errors import guarded_callback, storage_problem
from ui.fragments import fragment
from ui.text import md

GRID_PAGE = 12
COLUMNS = 4
THUMB_PX = 300


@fragment("the grid")
def render(root, selection: Selection, user: str, min_score: float) -> None:
    with state.store() as store:
        _grid(store, selection, user, min_score)


def _page(store: Store, selection: Selection, user: str) -> list[int]:
    """This page's items: unlabeled ones kept from before, else the next claimed page."""
    kept = st.session_state.get("rv_grid_page") or []
    open_ = {i.id for i in store.items(ids=kept, status="unlabeled")}
    ids = [i for i in kept if i in open_]
    new_page = not ids
    if new_page:
        # images queued for the editor, and any with unsaved edits there, stay out
        queued = st.session_state.get("rv_queue", []) + [
            i for i, w in st.session_state.get("rv_work", {}).items() if w.dirty]
        ids = store.claim_many(_queue(store, selection, user, queued), user,
                               seconds=TAB_LEASE_SECONDS)
        # images the model has not predicted would be accepted as empty: never unseen
        missing = set(store.unpredicted_items(selection.model_id, ids)) \
            if selection.model_id is not None else set()
        st.session_state.update(
            rv_grid_page=ids, rv_marked=set(missing),
            rv_grid_missing=missing,
            # the versions shown: accepting later never overwrites someone else's save
            rv_grid_versions={i.id: i.label_version for i in store.items(ids=ids)})
        review_tab.register(store.root, user)
    review_tab.show_grid(new_page=new_page)
    return ids


def _queue(store: Store, selection: Selection, user: str, queued: list[int]) -> list[int]:
    """The next page's images. Team mode: unlabeled ones only (the person's returned or
    reopened images hold their own labels: they open in the editor, never accepted here
    as pre-labels)."""
    if not review_work.team(store):
        return store.review_queue(selection.id, user, exclude=queued, limit=GRID_PAGE)
    ids = store.review_queue(selection.id, user, exclude=queued)
    unlabeled = {i.id for i in store.items(ids=ids, status="unlabeled")}
    return [i for i in ids if i in unlabeled][:GRID_PAGE]


def _grid(store: Store, selection: Selection, user: str, min_score: float) -> None:
    if st.session_state.pop("rv_switch", False):
        st.rerun()  # the mode control lives outside this fragment
    message = st.container()  # always drawn: the fragment keeps one shape
    msg = st.session_state.pop("rv_grid_msg", None)
    if msg:
        getattr(message, msg[0])(msg[1])
    ids = _page(store, selection, user)
    if review_work.team(store):  # the person's queue and the cap, as the editor says them
        p = store.review_progress(selection.id, user)
        message.progress(p["labeled"] / max(p["total"], 1),
                         text=review_work.queue_text(store, selection, user, None))
    if not ids:
        if review_work.team(store):  # the cap, or nothing; their own images to open
            review_work.nothing_left(store, selection, user)
        else:
            st.success(f"Nothing left for you in {md(selection.tag)}.")
        return
    marked: set[int] = st.session_state["rv_marked"]
    shown = prelabels(store, selection.model_id, ids, min_score=min_score)
    missing = st.session_state.get("rv_grid_missing", set())
    classes = store.classes()
    items = {i.id: i for i in store.items(ids=ids)}
    rest = [i for i in ids if i not in marked]
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(f"Accept the rest of this page ({len(rest)})", key="rv-grid-accept",
                  shortcut="A", type="primary", on_click=_accept,
                  args=(store.root, selection, user, min_score))
        st.caption(f"{len(ids)} images, pre-labels scoring {min_score:.2f} or more. Mark the "
                   f"wrong ones ({len(marked)} now): they open in the editor after this page; "
                   "the rest are saved as shown.")
    for start in range(0, len(ids), COLUMNS):
        for col, item_id in zip(st.columns(COLUMNS), ids[start:start + COLUMNS]):
            item = items[item_id]
            boxes = shown[item_id]
            try:
                image = draw_boxes(
                    load_image(store.image_path(item)),
                    [b for b, _ in boxes],
                    classes, scale=thumbnail_scale(item.width, item.height, THUMB_PX),
                    scores=[s for _, s in boxes])
            except ImageError as exc:
                col.warning(f"#{item_id}: {md(exc)}")
                marked.add(item_id)  # never accepted unseen
                continue
            col.image(image, width="stretch")
            what = "no predictions: opens in the editor" if item_id in missing else \
                f"{len(boxes)} boxes"
            wrong = item_id in marked
            # a button, not a checkbox: a focused checkbox would swallow the A key
            col.button(f"✗ Wrong · #{item_id}" if wrong else f"Mark wrong · #{item_id}",
                       key=f"rv-wrong-{item_id}", type="primary" if wrong else "secondary",
                       on_click=_mark, args=(item_id, not wrong))
            col.caption(what)


def _mark(item_id: int, wrong: bool) -> None:
    """Set (never toggle) the mark the button showed, for an image of this page only."""
    if item_id not in (st.session_state.get("rv_grid_page") or []):
        return
    if wrong:
        st.session_state["rv_marked"].add(item_id)
    else:
        st.session_state["rv_marked"].discard(item_id)


@guarded_callback("accepting the page", on_error=lambda text: st.session_state.update(
    rv_grid_msg=("error", text)))
def _accept(root, selection: Selection, user: str, min_score: float) -> None:
    ids = st.session_state["rv_grid_page"]
    marked = st.session_state["rv_marked"]
    rest = [i for i in ids if i not in marked]
    # the page's active time (ui.activity), shared by its images
    seconds = review_tab.clock().seconds(review_tab.GRID_CLOCK, time.monotonic()) / max(
        len(ids), 1)
    review_tab.clock().forget(review_tab.GRID_CLOCK)
    saved, problems = 0, []
    with state.store() as store:
        team = store.team_mode()
        shown = prelabels(store, selection.model_id, rest, min_score=min_score)
        versions = st.session_state["rv_grid_versions"]
        for item_id in rest:
            boxes = [b for b, _ in shown[item_id]]
            try:
                submit_review(store, item_id, boxes, author=user, action="accept",
                              prelabels=boxes, expected_version=versions[item_id],
                              selection=selection, seconds=seconds)
                saved += 1
            except (StaleLabelsError, HeldError, ValueError) as exc:
                problems.append(md(exc))  # the message is Markdown: it names people
            except (sqlite3.OperationalError, OSError) as exc:
                if storage_problem(exc) is None:
                    raise
                problems.append(f"{storage_problem(exc)}: the rest of the page stays "
                                "unlabeled, to accept again")
                break
    if st.session_state.get("rv_item") in rest:  # the editor's image was accepted here
        st.session_state["rv_work"].pop(st.session_state["rv_item"], None)
        st.session_state["rv_item"] = None
    queue = st.session_state.setdefault("rv_queue", [])
    queue.extend(i for i in ids if i in marked and i not in queue)
    st.session_state.update(rv_grid_page=None, rv_marked=set())
    text = (f"Submitted {saved} images as shown." if team else
            f"Accepted {saved} images as shown.")
    if marked:
        text += (f" {len(marked)} marked wrong "
                 f"{'is' if len(marked) == 1 else 'are'} next in the editor.")
        st.session_state["rv-mode"] = "One at a time"
        st.session_state["rv_switch"] = True
    if problems:
        text += " Not saved: " + "; ".join(problems)
    st.session_state["rv_grid_msg"] = ("warning" if problems else "success", text)
    st.session_state["rv_msg"] = st.session_state["rv_grid_msg"] if marked else None

"""The Approve page's body: the reviewer's queue (:mod:`ui.reviewer_queue`) or the image
open for review, one at a time: the picture with the model's pre-labels and the
annotator's boxes coloured by what changed (:mod:`ui.reviewer_draw`), the box list with
an Accept / Reject toggle and a comment per box, a comment on the image, and the
decisions (Approve, Fix and approve, Return, Leave). A fragment, so a toggle or a canvas
edit reruns only it. The actions are :mod:`ui.reviewer_nav`'s.
"""
from __future__ import annotations

import streamlit as st

from al_core.formats.images import ImageError
from al_core.review.reviewing import ReviewView, review_queue, review_view
from al_core.store import Store
from al_core.types import ClassInfo
from ui import browser, canvas, reviewer_queue, slots, state
from ui import reviewer_draw as draw
from ui import reviewer_nav as nav
from ui.fragments import fragment, rerun_fragment
from ui.text import css_color, md, md_code
from ui.timefmt import when
from ui.working import Working

HEADER_PX = 250  # what the page shows above and below the canvas, in CSS pixels
CANVAS_SLOT = "als_slot_approve_canvas"  # ui.slots: where the canvas is, swapped per key
ROW_PX = 105  # one box's rows in the box list (its line and its comment field)
SIDE_PX = 500  # what the side column shows besides the box list (buttons, comment...)
FIXING_PX = 75  # and the class picker while fixing
EARLIER_PX = 170  # and the earlier comments (scrolled past this)


@fragment("the review of submitted images")
def render() -> None:
    # Every part sits in a container drawn on every run, so the fragment's element tree
    # keeps one shape between the queue and an image (see ui.review_editor).
    with state.store() as store:
        gone = nav.still_mine(store)
        if gone:
            nav.msg("warning", gone)
        message = st.container()
        body = st.container()
        item_id = st.session_state.get("ap_item")
        with body:
            if item_id is None:
                reviewer_queue.panel(store)
            else:
                _image(store, item_id)
        with message:
            _message(store, item_id)


def _message(store: Store, item_id: int | None) -> None:
    """The last action's outcome: a confirmation on a line that is always drawn (with an
    image open and nothing to say, how many wait after it: the image never moves); a
    problem at the top in the queue, beside the image (drawn there) when one is open."""
    said = st.session_state.get("ap_msg")
    if said and said[0] == "success":
        st.caption(f":material/check_circle: {said[1]}")
    elif said and said[0] == "info":
        st.caption(f":material/info: {said[1]}")
    elif said and item_id is None:
        getattr(st, said[0])(said[1])
    elif item_id is not None:
        more = sum(r["item_id"] != item_id for r in review_queue(store))
        st.caption(f":material/inbox: {more} more waiting for you after this one"
                   if more else ":material/inbox: The last image waiting for you")
    else:
        st.caption("\u00a0")


def _image(store: Store, item_id: int) -> None:
    now = nav.opening()
    view = review_view(store, item_id)
    if len(view.boxes) != len(now["verdicts"]):  # relabeled meanwhile (a lead's edit)
        now["verdicts"] = [True] * len(view.boxes)
    item = store.item(item_id)
    classes = store.classes()
    fixing: Working | None = st.session_state.get("ap_fix")
    _caption(store, view, item)
    left, side = st.columns([2.6, 1.4], gap="medium")
    with left:
        avail = browser.viewport(key="ap-viewport")
        v = canvas.fit_view(item.width, item.height, max_w=max(avail[0], 200),
                            max_h=max(avail[1] - HEADER_PX, 240))
        slot = st.container()
        st.html(draw.legend_html(fixing=fixing is not None, base=view.base))
        st.caption(
            "Drag on the image to draw a box of the class picked beside it · **E** edit "
            "mode: move, resize, click a selected box to retype its class · **N** draw "
            "again · **Del** deletes the selected box · **Z** undo · **F** saves the fix"
            if fixing else
            "**A** approve · **F** fix the boxes, then approve · **X** return to the "
            "annotator · **L** leave undecided · **1-9** accept or reject box 1-9")
    with slot:
        _picture(store, view, item, classes, v, fixing)
    with side:
        _actions(view, now, fixing)
        said = st.session_state.get("ap_msg")
        with st.container():
            if said and said[0] in ("warning", "error"):
                getattr(st, said[0])(said[1])
        _earlier(view, classes)  # a fix comes back: what was asked for, first
        if fixing:
            _class_picker(classes, now["serial"])
        _box_list(view, now, classes, fixing,
                  max_h=max(160, avail[1] - SIDE_PX - (FIXING_PX if fixing else 0)
                            - (EARLIER_PX if view.comments else 0)))
        st.text_area("Comment on the image", key=nav.comment_key(now["serial"], None),
                     max_chars=nav.MAX_COMMENT, height=68,
                     placeholder="What to fix, for the whole image (sent with Return)")


def _caption(store: Store, view: ReviewView, item) -> None:
    """One line on what is judged: the image, its selection, who labeled it, how (first
    labels, a fix after a return, an edit of approved labels), how long it took them."""
    row = next((r for r in store.work_rows(("in_review",)) if r["item_id"] == view.item_id),
               {})  # with its selection's tag
    sub = view.submission or {}
    returns = row.get("returns") or 0
    how = {"fix": "fixed", "edit": "edited"}.get(sub.get("kind"), "labeled")
    after = (f" after {'a return' if returns == 1 else f'{returns} returns'}"
             if how == "fixed" and returns else "")
    spent = f" in {sub['seconds']:.0f} s" if sub.get("seconds") else ""
    tag = f" · {md(row['tag'])}" if row.get("tag") else ""
    st.markdown(f"**#{item.id}** {md_code(item.file, limit=60)} · {item.width}×{item.height}"
                f"{tag} · {how} by **{md(view.annotator or '?')}**{after}{spent}, "
                f"{when(sub.get('at'))}")


def _picture(store: Store, view: ReviewView, item, classes: list[ClassInfo],
             v: canvas.View, fixing: Working | None) -> None:
    try:
        path = store.image_path(item)
        jpeg = canvas.background_jpeg(str(path), _mtime(path), v.canvas_w, v.canvas_h)
    except ImageError as exc:
        st.error(f"Image #{item.id} cannot be shown: {md(exc)}. Judge it from the box list, "
                 "or leave it (L) and tell whoever manages the project.")
        return
    background = canvas.with_accepted(jpeg, draw.background_boxes(view.prelabels,
                                                                  view.deleted, v))
    if fixing is None:
        now = nav.opening()
        marks = "".join("1" if ok else "0" for ok in now["verdicts"])
        tag = f"{now['serial']}-{marks}"
        key = f"ap-view-{tag}-{v.canvas_w}x{v.canvas_h}"
        with slots.slot(CANVAS_SLOT, key):  # the old canvas goes at once (ui/slots.py)
            canvas.review_canvas(background=background, view=v, label="", disabled=True,
                                 key=key, initial=draw.status_drawing(
                                     view.boxes, view.changes, now["verdicts"], classes, v,
                                     nonce=tag))
        return
    _fix_canvas(fixing, classes, v, background)


def _fix_canvas(w: Working, classes: list[ClassInfo], v: canvas.View,
                background: bytes) -> None:
    """The editable canvas of a fix: the boxes in their class colours."""
    key = canvas.canvas_key(f"ap-{w.tag}", v)
    names = canvas.chip_names(classes)
    # one initial drawing per key: the canvas's own edits are already on it (passing them
    # back as a new drawing reloads the canvas and loses its undo)
    drawn = st.session_state.setdefault("ap_initial", {})
    if key not in drawn:
        drawn.clear()
        drawn[key] = canvas.drawing(w.boxes, classes, v, nonce=w.tag)
    picked = st.session_state.get(f"ap-class-{nav.opening()['serial']}")
    with slots.slot(CANVAS_SLOT, key):  # the old canvas goes at once (ui/slots.py)
        result = canvas.review_canvas(background=background, initial=drawn[key], view=v,
                                      label=picked if picked in names.values() else
                                      names[classes[0].id], key=key)
    st.session_state["ap_canvas"] = {"tag": w.tag, "key": key, "view": v, "classes": classes}
    browser.canvas_keys(key)
    if canvas.state_boxes(st.session_state.get(key)) is None:
        return  # the canvas has sent nothing under this key: it shows our drawing
    rev = w.rev
    for problem in w.from_canvas(canvas.to_working(result, classes, v)):
        nav.msg("warning", problem)
    if w.rev != rev:
        rerun_fragment()


def _class_picker(classes: list[ClassInfo], serial: int) -> None:
    names = list(canvas.chip_names(classes).values())
    st.selectbox("Class for new boxes", names, key=f"ap-class-{serial}",
                 help="The class a box drawn on the image gets; retype a box's class on "
                      "the image in edit mode (E)")


def _actions(view: ReviewView, now: dict, fixing: Working | None) -> None:
    args = (view.item_id, now["serial"])
    rejected = now["verdicts"].count(False)
    with st.container(horizontal=True, gap="small"):
        if fixing is None:
            st.button("Approve", key="ap-approve", shortcut="A", type="primary",
                      on_click=nav.decide_cb, args=(*args, "approve"),
                      help="Approve the labels as the annotator saved them" if not rejected
                      else "Approve without the rejected boxes (recorded as a fix)")
            st.button("Fix and approve", key="ap-fix", shortcut="F", on_click=nav.start_fix,
                      args=args, help="Edit the boxes on the image, then save the fix; "
                                      "your edits count as corrections against the annotator")
        else:
            st.button("Save fix and approve", key="ap-save-fix", shortcut="F",
                      type="primary", on_click=nav.decide_cb, args=(*args, "fix"))
            st.button("Undo", key="ap-undo", shortcut="Z", on_click=nav.undo_fix,
                      disabled=not fixing.dirty)
            st.button("Cancel fix", key="ap-cancel-fix", on_click=nav.cancel_fix)
        st.button("Return", key="ap-return", shortcut="X", on_click=nav.decide_cb,
                  args=(*args, "return"),
                  help="Send it back to the annotator with your comments and rejected boxes")
        st.button("Leave", key="ap-leave", shortcut="L", on_click=nav.leave,
                  args=(view.item_id,), help="Close it undecided: it waits for review again")
    said = nav.comments_given(now["serial"], len(now["verdicts"]))
    notes = []
    if rejected and fixing is None:
        notes.append(f"{rejected} rejected box{'' if rejected == 1 else 'es'}: Approve removes "
                     f"{'it' if rejected == 1 else 'them'} (a fix); Return sends "
                     f"{'it' if rejected == 1 else 'them'} back.")
    if not rejected and not said:
        notes.append("Return needs a comment or a rejected box.")
    st.caption(" ".join(notes) or "\u00a0")


def _box_list(view: ReviewView, now: dict, classes: list[ClassInfo],
              fixing: Working | None, *, max_h: int) -> None:
    by_id = {c.id: c for c in classes}
    n = len(view.boxes)
    st.caption(f"THE ANNOTATOR'S BOXES ({n})" + (" · as submitted; your fix is on the image"
                                                  if fixing else
                                                  " · 1-9 accepts or rejects a box"))
    box = st.container(height=min(16 + ROW_PX * n, max_h) if n else "content", border=False)
    if not n:
        box.container().markdown("No boxes: the annotator saved the image as empty.")
    serial = now["serial"]
    for k, (b, change) in enumerate(zip(view.boxes, view.changes)):
        ok = now["verdicts"][k]
        cls = by_id.get(b.class_id)
        name = md(cls.name, limit=40) if cls else f"class #{b.class_id}"
        with box.container(key=f"ap-row-{k}", gap="small"):
            st.markdown(f"<span style='color:{css_color(draw.STATUS_COLORS.get(change))};"
                        f"font-size:1.3em'>■</span> **{k + 1}** {name} · "
                        f"{draw.STATUS_WORDS.get(change, change)}", unsafe_allow_html=True)
            with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                st.button("Accepted" if ok else "Rejected", key=f"ap-verdict-{serial}-{k}",
                          icon=":material/check:" if ok else ":material/close:",
                          type="secondary" if ok else "primary", width="content",
                          shortcut=str(k + 1) if k < 9 and fixing is None else None,
                          disabled=fixing is not None, on_click=nav.toggle_verdict,
                          args=(view.item_id, serial, k),
                          help="Accept or reject this box" + (f" (key {k + 1})" if k < 9
                                                              else ""))
                st.text_input(f"Comment on box {k + 1}", key=nav.comment_key(serial, k),
                              max_chars=nav.MAX_COMMENT, label_visibility="collapsed",
                              placeholder=f"Comment on box {k + 1}")


def _earlier(view: ReviewView, classes: list[ClassInfo]) -> None:
    """The comments of earlier rounds (a returned image's fix comes back with them),
    newest first: what the annotator was asked to fix."""
    with st.container():
        if not view.comments:
            return
        names = {c.id: c.name for c in classes}
        st.caption(f"EARLIER COMMENTS ({len(view.comments)})")
        with st.container(height=min(EARLIER_PX - 30, 30 + 92 * len(view.comments)),
                          border=True):
            for c in reversed(view.comments):
                on = (f"on a {md(names.get(c['class_id'], 'deleted class'), limit=40)} box"
                      if c.get("box") else "on the image")
                done = " · resolved by the fix" if c.get("resolved") else ""
                st.markdown(f"{md(c['text'])}  \n"
                            f":small[{md(c['author'])} · {when(c['at'])} · {on}{done}]")


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except OSError as exc:
        raise ImageError(f"{path}: {exc.strerror or exc}") from exc

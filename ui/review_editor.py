"""The one-image-at-a-time editor of the Review page: a fragment holding the canvas, the
box list, the class palette and the actions, so moving between images reruns only it.

Navigation, the actions and the lease live in :mod:`ui.review_nav`.
"""
from __future__ import annotations


import streamlit as st

from al_core.decide.retrain import start_retrain
from al_core.formats.images import ImageError
from al_core.review.save import prelabels
from al_core.store import Store
from al_core.types import LabeledBox, Selection
from ui import auth, browser, canvas, review_boxlevel, review_work, review_zoom, state
from ui import canvas_chips, review_palette, slots
from ui import review_nav as nav
from ui.fragments import fragment, rerun_fragment
from ui.text import css_color, md, md_code
from ui.working import Working

# what the page shows above and below the canvas, in CSS pixels: with the zoom row and
# its overview (ui.review_zoom, ~60 px) under the image, so they stay in the window
HEADER_PX = 345
MSG_LINE_PX = 24  # the line of confirmations above the image
NOTICES_PX = "_review_notices_px"  # set by the page: the height of a link's notices


def _working(store: Store, item_id: int, selection: Selection | None, min_score: float,
             box_level: bool = False, *, user: str | None = None) -> Working:
    """The image's working boxes, opened now from its labels or pre-labels if needed, with
    notes about where its pre-labels came from; in box-level review, the pre-labels at or
    above their class's threshold marked accepted. A gold image served to ``user`` (team
    mode) opens as an unlabeled image: from the pre-labels, its labels never read."""
    notes: list[str] = []
    work = st.session_state["rv_work"]
    if item_id in work:
        if not box_level:  # switched off while this image was being edited: nothing
            work[item_id].reopen()  # stays accepted that can no longer be reopened
        return work[item_id]
    item = store.item(item_id)
    labeled = item.status == "labeled" and not (
        user is not None and store.team_mode() and store.gold_served(item_id, user))
    model_id = selection.model_id if selection is not None else store.active_model_id()
    preds = []
    if model_id is None:
        notes.append("No model picked this batch (a cold start): there are no pre-labels; "
                     "draw the boxes." if selection is not None else
                     "No active model yet: no predictions to start from.")
    else:
        preds = [{"class_id": b.class_id, "box": b.box.as_list(), "score": score}
                 for b, score in prelabels(store, model_id, [item_id], min_score=0)[item_id]]
        if not labeled and store.unpredicted_items(model_id, [item_id]):
            notes.append(f"Model #{model_id}'s predictions are missing for this image: it is "
                         "shown without pre-labels.")
        if box_level and not labeled and preds:
            preds, more = review_boxlevel.mark(store, model_id, preds)
            notes += more
    labels = None
    if labeled:
        labels = [LabeledBox(a.class_id, a.box) for a in store.annotations([item_id])[item_id]]
    w = Working.open(item_id, item.width, item.height, base_version=item.label_version,
                     prelabels=preds, labels=labels, min_score=min_score)
    w.notes = notes
    work[item_id] = w
    return w


def editor(root, selection: Selection | None, user: str, min_score: float,
           box_level: bool = False) -> None:
    """Draw the editor for the current image (a fragment: see :func:`render`)."""
    with state.store() as store:
        _editor(store, selection, user, min_score, box_level)


@fragment("the review editor")
def render(root, selection: Selection | None, user: str, min_score: float,
           box_level: bool = False) -> None:
    editor(root, selection, user, min_score, box_level)


def _editor(store: Store, selection: Selection | None, user: str, min_score: float,
            box_level: bool) -> None:
    # Every optional element sits inside a container drawn on every run, so the fragment's
    # element tree keeps one shape from image to image: Streamlit's browser side fails
    # ("'setIn' cannot be called on an ElementNode", a blank page) when a rerun puts a
    # container where an element was.
    classes = store.classes()
    if not classes:
        st.warning("This project has no classes yet: import labels or a COCO file first.")
        return
    if st.session_state["rv_item"] is None and not st.session_state["rv_done"]:
        nav.advance(store, selection, user)
    item_id = st.session_state["rv_item"]
    team = review_work.team(store)
    if selection is not None:
        _progress(store, selection, user, team=team)
    # Confirmations sit on one line that is always drawn, problems beside the image,
    # both until the next action: neither moves the image, nor covers the buttons.
    msg = st.session_state.get("rv_msg")
    with st.container(height=MSG_LINE_PX, border=False):  # one line, empty or not
        st.caption(f":material/check_circle: {msg[1]}" if msg and msg[0] == "success" else
                   f":material/info: {msg[1]}" if msg and msg[0] == "info" else "\u00a0",
                   wrap=False)
    if item_id is None:
        if st.session_state.pop("rv_refresh", False):
            st.rerun()
        with st.container():
            if msg and msg[0] in ("warning", "error"):
                getattr(st, msg[0])(msg[1])
            if team and selection is not None and review_work.capped(store, user):
                review_work.cap_reached(store, user)  # not done: the cap stops the pool
            else:
                _done(selection, team=team)
            if team and selection is not None:
                review_work.held_list(store, user)
        return
    nav.renew(store, item_id, user)
    item = store.item(item_id)
    w = _working(store, item_id, selection, min_score, box_level, user=user)
    reindexed = w.reindexed
    w.set_min_score(min_score)
    if w.reindexed != reindexed:  # the highlight's index may name another box now
        st.session_state["rv_focus"] = None
    if st.session_state["rv_class"] is None:
        st.session_state["rv_class"] = classes[0].id
    notes = review_work.open_comments(store, item_id) if team else []
    left, side = st.columns([2.6, 1.4], gap="medium")
    with left:
        _caption(store, item, selection, user if team else None)
        avail = browser.viewport(key="rv-viewport")
        fit = _view(item, avail)
        view = review_zoom.view_of(item.id, fit)
        image_slot = st.container()
        zoom_slot = st.container()
    try:
        path, mtime = str(store.image_path(item)), _mtime(store, item)
        background = canvas.view_jpeg(path, mtime, view)
    except ImageError as exc:
        image_slot.error(f"Image #{item.id} cannot be shown: {md(exc)}. Nothing was saved; skip "
                         "it (S) and tell whoever manages the project.")
        background = None
    if background is not None:  # before the side panel: it lists the canvas's edits
        with image_slot:
            _draw(w, classes, view, background, review_work.pins(notes, view), fit=fit)
        with zoom_slot:
            review_zoom.controls(item.id, view, fit, path, mtime, reopen_key=box_level)
    with side:
        _actions(store.root, selection, user, w, broken=background is None,
                 returned=team and review_work.must_submit(store, item_id))
        if box_level:
            review_boxlevel.panel(w)
        review_palette.picker(store, user, classes)
        with st.container():
            if msg and msg[0] in ("warning", "error"):
                getattr(st, msg[0])(msg[1])
        with st.container():  # where its pre-labels came from; a test image's warning
            _notes(store, item, w)
        with st.container():  # a returned image's comments, numbered as on the image
            review_work.comments_panel(notes, classes)
        _box_list(w, classes, max_h=max(200, avail[1] - 560 - (80 + 40 * len(notes)
                                                               if notes else 0)
                                        - 90 * (len(w.notes) + (item.split == "test"))))
        review_palette.chips(store, user, classes)
    _prefetch(store, selection, user, avail)


def _draw(w: Working, classes, view, background: bytes, pins: tuple = (), *,
          fit: canvas.View | None = None) -> None:
    """The canvas for the working boxes on ``view`` (``fit``: the whole image's view, for
    zooming; :mod:`ui.review_zoom`); ``pins``: a reviewer's comments pinned to boxes
    (:func:`ui.review_work.pins`), drawn into the picture."""
    if st.session_state["rv_hidden"]:
        st.image(background, width=view.canvas_w)
        st.caption("Boxes hidden (H shows them).")
        return
    background = canvas.with_pins(review_boxlevel.background(w, background, classes, view),
                                  pins)
    key = canvas.canvas_key(w.tag, view)
    label = canvas.chip_names(classes).get(st.session_state["rv_class"], "")
    # One initial drawing per key: edits made on the canvas are already on it. Passing
    # them back as a new initial drawing made the canvas reload and echo its state, and
    # two draws in a row then fought (the box count flipping, a box lost on save).
    drawn = st.session_state.setdefault("rv_initial", {})
    if key not in drawn:
        drawn.clear()
        drawing = canvas.drawing(w.boxes, classes, view,
                                 focus=st.session_state["rv_focus"], nonce=w.tag)
        drawn[key] = canvas_chips.fit_chips(  # each chip inside the image
            drawing, view.canvas_w, set(canvas.chip_names(classes).values()))
        w.on_canvas = canvas.on_canvas(w.boxes, view)  # a zoomed view holds only these
    initial = drawn[key]
    with slots.slot("slot:review-canvas", key):  # a canvas under a new key replaces the
        result = canvas.review_canvas(  # last one at once (ui.slots)
            background=background, initial=initial, view=view, label=label, key=key)
    st.session_state["rv_canvas"] = {"tag": w.tag, "key": key, "view": view,
                                     "classes": classes}
    if canvas.state_boxes(st.session_state.get(key)) is not None:  # else it has sent
        rev = w.rev  # nothing under this key: it shows our drawing
        problems = w.from_canvas(canvas.to_working(result, classes, view),
                                 canvas.noise_px(view))
        nav.follow_focus(w)
        for p in problems:
            nav.msg("warning", p)
        if w.rev != rev:  # redraw the canvas (the page, when this is a full-page run)
            rerun_fragment()
    review_zoom.bridge(w, view, fit or view, classes, st.session_state["rv_focus"])


def _caption(store: Store, item, selection: Selection | None, team_user: str | None) -> None:
    """The image's line above it. Team mode (``team_user``): its place in the workflow,
    not its rank (the workflow's order is not the rank's), and a gold image served to
    them named as a pool image."""
    if team_user is not None:
        st.markdown(f"**#{item.id}** {md_code(item.file)} · {item.width}×{item.height} · "
                    f"{review_work.shown_split(store, item, team_user)} · "
                    f"{review_work.status_word(store, item, team_user)}",
                    wrap=False)
        return
    why = ""
    if selection is not None:
        n, entry = next(((n, i) for n, i in enumerate(selection.items, 1)
                         if i.item_id == item.id), (None, None))
        if entry is not None:
            why = (f" · rank {n} · random control" if entry.is_control else
                   f" · rank {n} · {md(selection.strategy)} {entry.score:.3f}"
                   if entry.score is not None else f" · rank {n} · {md(selection.strategy)}")
    state_ = "labeled" if item.status == "labeled" else "unlabeled"
    st.markdown(f"**#{item.id}** {md_code(item.file)} · {item.width}×{item.height} · "
                f"{item.split or 'pool'} · {state_}{why}", wrap=False)


def _notes(store: Store, item, w: Working) -> None:
    """Where the image's pre-labels came from (a cold start, missing predictions) and a
    test image's warning: beside the image, never above it (the canvas stays put)."""
    for note in w.notes:
        st.info(note)
    if item.split == "test":
        _test_warning(store)


def _test_warning(store: Store) -> None:
    _, digest = store.test_set_identity()
    models = store.evaluated_models(digest)
    which = (f"the evaluations of model{'s' if len(models) > 1 else ''} "
             f"{', '.join(f'#{m}' for m in models)} will no longer compare with new ones "
             "until they are evaluated again" if models else
             "no evaluation has used this test set yet")
    st.warning(f"This image is in the frozen **test** set. Saving a change alters the test "
               f"set: {which}. Accepting it unchanged saves nothing.")


def _progress(store: Store, selection: Selection, user: str, *, team: bool = False) -> None:
    p = store.review_progress(selection.id, user)
    item_id = st.session_state["rv_item"]
    if team:  # the person's own queue and their cap
        st.progress(p["labeled"] / max(p["total"], 1),
                    text=review_work.queue_text(store, selection, user, item_id))
        return
    position = next((n for n, i in enumerate(selection.items, 1) if i.item_id == item_id),
                    None)
    where = f"{position} / {p['total']}" if position else f"{p['labeled']} / {p['total']}"
    held = f" · {p['held']} open by others" if p["held"] else ""
    st.progress(p["labeled"] / max(p["total"], 1),
                text=f"**{where}** in {md(selection.tag)} · {p['labeled']} labeled · "
                     f"{p['skipped']} skipped · {p['left']} left{held}")


def _done(selection: Selection | None, *, team: bool = False) -> None:
    if selection is None:
        st.success("Saved. Open another image from the Images page.")
        st.page_link("pages/images.py", label="Images", icon=":material/photo_library:")
        return
    if team and not auth.may("train"):  # an annotator's (or reviewer's) end of the batch:
        st.success(review_work.nothing_left_text(selection))  # the retrain and the
        review_work.look_again()  # Models page are a lead's
        return
    st.success(review_work.nothing_left_text(selection) if team else
               f"Nothing left for you in {md(selection.tag)}: every image is labeled, "
               "skipped by you, or open for someone else.")
    with state.store() as store:
        busy = [j for j in store.jobs(status="running") + store.jobs(status="queued")
                if j["kind"] in ("train", "retrain")]
        if busy:
            st.info(f"A training is under way (job {busy[0]['id']}).")
        elif not auth.may("train"):
            st.caption("A lead retrains the model on the new labels.")
        elif st.button("Retrain on the new labels", type="primary", key="rv-retrain",
                       icon=":material/model_training:",
                       help="A new version from the active model's config, trained, then "
                            "compared with the active model on the test split (the "
                            "project's first model becomes active when it is trained)."):
            try:
                model_id, job_id = start_retrain(store, decided_by=st.session_state.get(
                    "annotator") or "app")
            except ValueError as exc:
                st.error(f"Not started: {md(exc)}")
            else:
                st.success(f"Retraining: model #{model_id} (job {job_id}).")
    st.page_link("pages/models.py", label="Follow the training on the Models page",
                 icon=":material/model_training:")


def _box_list(w: Working, classes, *, max_h: int) -> None:
    """One light row per box (a selectbox per row costs ~100 ms a redraw in the browser):
    the class as a button that highlights the box; the highlighted box's row holds the class
    picker, and a number key relabels it."""
    shown = canvas.chip_names(classes)  # as the canvas shows them: one line, one per class
    names = {shown[c.id]: c.id for c in classes}
    by_id = {c.id: c for c in classes}
    st.caption(f"BOXES ({len(w.boxes)}) · click one to highlight it, then a number key, a "
               "chip or **/** sets its class. A dash: no model score.")
    focus = st.session_state["rv_focus"]
    # new for each revision (ui.slots): no row keyed by the last one is kept under these
    with slots.slot("slot:review-boxes", w.tag, border=False, autoscroll=False,
                    height=min(16 + 58 * len(w.boxes), max_h) if w.boxes else "content"):
        if not w.boxes:
            st.markdown("No boxes: drag on the image to draw one, or accept the image as "
                        "empty.")
        for k, b in enumerate(w.boxes):
            _box_row(w, k, b, by_id[b["class_id"]], names, shown, focused=k == focus)


def _box_row(w: Working, k: int, b: dict, cls, names: dict, shown: dict, *,
             focused: bool) -> None:
    with st.container(horizontal=True, vertical_alignment="center", gap="small",
                      key=f"rv-row-{k}"):
        st.markdown(f"<span style='color:{css_color(cls.color)};font-size:1.4em'>■</span>",
                    unsafe_allow_html=True, width="content")
        if focused:
            key = f"rv-cls-{w.tag}-{k}"
            st.selectbox("Class", list(names), index=list(names).index(shown[cls.id]),
                         key=key, label_visibility="collapsed",
                         on_change=nav.relabel_from_list, args=(k, key, names, w.tag),
                         width=112)
        else:
            st.button(md(shown[cls.id]), key=f"rv-focus-{w.tag}-{k}", width=112,
                      type="tertiary", on_click=nav.focus, args=(k, w.tag))
        st.markdown(f"{b['score']:.2f}" if b["score"] is not None else "—", width=36)
        st.button("", icon=":material/delete:", key=f"rv-del-{w.tag}-{k}", type="tertiary",
                  on_click=nav.delete, args=(k, w.tag))


def _actions(root, selection: Selection | None, user: str, w: Working, *, broken: bool,
             returned: bool = False) -> None:
    """The action buttons. ``returned``: the image was returned to the user (team mode),
    and it comes back first whatever they do: no skip."""
    with st.container(horizontal=True, gap="small"):
        st.button("Accept & next", key="rv-accept", shortcut="A", type="primary",
                  disabled=broken, on_click=nav.save,
                  args=(root, selection, user, True, w.item_id),
                  help="Save the boxes as shown and open the next image")
        st.button("Save & next", key="rv-save", shortcut="F", disabled=broken,
                  on_click=nav.save, args=(root, selection, user, False, w.item_id))
        st.button("Previous", key="rv-prev", shortcut="D", on_click=nav.previous_cb,
                  args=(root, user), disabled=st.session_state["rv_pos"] <= 0)
        st.button("Skip", key="rv-skip", shortcut="S", on_click=nav.skip,
                  args=(root, selection, user, w.item_id), disabled=returned,
                  help="A returned image stays yours and comes back first: fix it and "
                       "save" if returned else "Leave it unlabeled and out of your queue")
        st.button("Show boxes" if st.session_state["rv_hidden"] else "Hide boxes",
                  key="rv-hide", shortcut="H", on_click=nav.toggle_hidden)
        st.button("Undo", key="rv-undo", shortcut="Z", on_click=nav.undo, disabled=not w.dirty)


def _view(item, avail: tuple[int, int]) -> canvas.View:
    """The canvas size for an item in the space the browser reported."""
    width, window_h = avail
    above = st.session_state.get(NOTICES_PX, 0)
    return canvas.fit_view(item.width, item.height, max_w=max(width, 200),
                           max_h=max(window_h - HEADER_PX - above, 240))


def _mtime(store: Store, item) -> float:
    try:
        return store.image_path(item).stat().st_mtime
    except OSError as exc:
        raise ImageError(f"{store.image_path(item)}: {exc.strerror or exc}") from exc


def _prefetch(store: Store, selection: Selection | None, user: str,
              avail: tuple[int, int]) -> None:
    """Encode the likely next image now, so "next" finds it in the cache."""
    if selection is None:
        return
    hist, pos = st.session_state["rv_hist"], st.session_state["rv_pos"]
    nxt = hist[pos + 1] if pos + 1 < len(hist) else next(
        iter(store.review_queue(selection.id, user, exclude=hist, limit=1)), None)
    if nxt is None:
        return
    item = store.item(nxt)
    v = _view(item, avail)
    try:
        canvas.view_jpeg(str(store.image_path(item)), _mtime(store, item), v)
    except ImageError:
        pass  # shown with its message when it is opened

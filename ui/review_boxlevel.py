"""Box-level review on the Review page (:mod:`al_core.review.auto_accept`): the
annotator's setting, the pre-labels marked accepted, the accepted boxes drawn faint on
the image, and the O key that reopens them.

The setting is per annotator (``user_settings`` key :data:`SETTING`); off by default.
"""
from __future__ import annotations

import streamlit as st

from al_core.jobs.runner import start_job
from al_core.review.auto_accept import (TARGET_PRECISION, Thresholds, thresholds_for,
                                        unpredicted_by)
from al_core.store import Store
from al_core.types import ClassInfo
from ui import auth, canvas
from ui.canvas_view import to_canvas_xyxy
from ui import review_nav as nav
from ui.job_watch import running_jobs
from ui.text import md
from ui.working import Working

SETTING = "box_level"
REOPEN_KEY = "O"


def enabled(store: Store, user: str) -> bool:
    return store.user_setting(user, SETTING) == "1"


def sidebar_toggle(store: Store, user: str, model_id: int | None) -> bool:
    """The sidebar's switch (remembered per annotator) and, when on, what the selection's
    model accepts; returns whether box-level review is on."""
    on = enabled(store, user)
    new = st.toggle("Box-level review", value=on, key="rv-box-level",
                    help=f"Pre-labels scoring at or above their class's threshold (set on "
                         f"the validation images so that they are {TARGET_PRECISION:.0%} "
                         "right there) are saved without asking, drawn faint; you decide "
                         f"the rest and draw what is missing. {REOPEN_KEY} reopens them. "
                         "Remembered for you.")
    if new != on:
        store.set_user_setting(user, SETTING, "1" if new else "0")
        # images opened in the other mode, unedited, open again in this one
        work = st.session_state.get("rv_work", {})
        for item_id in [i for i, w in work.items() if not w.dirty]:
            del work[item_id]
        on = new
    if on and model_id is not None:
        _summary(store, model_id)
    return on


def _summary(store: Store, model_id: int) -> None:
    t = thresholds(store, model_id)
    if t.unpredicted:
        st.caption(f"Model #{model_id} has not predicted {t.unpredicted} validation images: "
                   "nothing is accepted until it has.")
        if not auth.may("train"):
            st.caption("Predicting them is a lead's job (it runs the model): ask a lead to "
                       "press this on their Review page, or to run `predict`.")
        elif st.button("Predict the validation images", key="rv-predict-val",
                       icon=":material/play_arrow:"):
            val_ids, _ = store.split_identity("val")
            missing = unpredicted_by(store, model_id, val_ids)
            try:
                job = start_job(store, "predict", {"model_id": model_id, "item_ids": missing})
            except ValueError as exc:
                st.error(f"Not started: {md(exc)}")
            else:
                st.caption(f"Predicting (job {job}): the thresholds show when it ends.")
        # a predict job running (this one, or one started elsewhere): followed here, and
        # the page redrawn when it ends, so the thresholds appear without a reload
        running_jobs(("predict",), key="rv-boxlevel")
        return
    names = {c.id: c.name for c in store.classes()}
    rows = [f"{md(names.get(c, c))} ≥ {v.threshold:.2f}" for c, v in t.classes.items()
            if v.threshold is not None]
    st.caption(f"Accepted without asking (model #{model_id}, {t.val_images} validation "
               "images): " + (", ".join(rows) if rows else
                              "no class yet: too few validation boxes, or none "
                              f"{TARGET_PRECISION:.0%} right"))
    why: dict[str, list[str]] = {}  # reason -> the classes it keeps asked about
    for c, v in t.classes.items():
        if v.threshold is None and v.why:
            why.setdefault(v.why, []).append(names.get(c, str(c)))
    if rows and why:  # a class is asked about until it has earned its threshold
        st.caption("Always asked: " + "; ".join(
            f"{md(', '.join(n))} ({md(reason)})" for reason, n in why.items()))


def thresholds(store: Store, model_id: int) -> Thresholds:
    """The model's thresholds on the current validation set (computed and stored on
    first need, :func:`thresholds_for`)."""
    return thresholds_for(store, model_id)


def mark(store: Store, model_id: int, preds: list[dict]) -> tuple[list[dict], list[str]]:
    """The pre-labels ``{class_id, box, score}`` with ``accepted`` set on those at or
    above their class's threshold, and notes for the image."""
    t = thresholds(store, model_id)
    marked = [{**p, "accepted": t.accepts(p["class_id"], p["score"])} for p in preds]
    notes = []
    if t.unpredicted:
        notes.append(f"Box-level review is on, but model #{model_id} has not predicted "
                     f"{t.unpredicted} validation images: every pre-label is asked about.")
    return marked, notes


def background(w: Working, background_jpeg: bytes, classes: list[ClassInfo],
               view: canvas.View) -> bytes:
    """The canvas background with the image's accepted boxes drawn faint."""
    colors = {c.id: c.color for c in classes}
    names = {c.id: c.name for c in classes}
    boxes = tuple((colors[p["class_id"]], to_canvas_xyxy(p["box"], view),
                   f"{names[p['class_id']]} {p['score']:.2f}")  # drawn as text, not markup
                  for p in w.accepted_boxes())
    return canvas.with_accepted(background_jpeg, boxes)



def panel(w: Working) -> None:
    """The side panel's line on the accepted boxes, with the reopen button (O). Drawn on
    every run (the fragment keeps one shape)."""
    n = len(w.accepted_boxes())
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption(f"ACCEPTED WITHOUT ASKING ({n}) · drawn faint, saved as they are"
                   if n else "ACCEPTED WITHOUT ASKING (0)")
        st.button("Reopen", key="rv-reopen", shortcut=REOPEN_KEY, disabled=not n,
                  icon=":material/lock_open:", on_click=reopen, args=(w.tag,),
                  help="Put the accepted boxes among the ones you decide on")


def reopen(tag: str) -> None:
    w = nav.target(tag)
    if w is not None:
        n = w.reopen()
        nav.msg("info", (f"Reopened {n} accepted box: it is yours to decide now." if n == 1
                         else f"Reopened {n} accepted boxes: they are yours to decide now.")
                if n else "No accepted boxes to reopen.")

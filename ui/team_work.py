"""The Team page's Work tab (a lead's, ``manage_work``): the review workflow's settings,
handing out a selection's images as tasks, and the gold images.

Each form draws its widgets and returns what was submitted (a small dataclass, or None
when nothing was); the page makes the change through al_core
(:meth:`~al_core.store.Store.set_workflow_settings`, :meth:`~al_core.store.Store.assign`,
:meth:`~al_core.store.Store.unassign`, :meth:`~al_core.store.Store.set_gold`), which
checks the role and writes the audit log. Tables show names as cells (text).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from al_core.review.team_stats import GoldImage, Workload
from al_core.workflow import WorkflowSettings
from ui.text import md
from ui.timefmt import when

MAX_IDS = 10_000  # image ids one form may name
SKIP_TO = {"pool": "back to the pool, for anyone", "me": "back to the same annotator"}
ROUND_ROBIN, BY_HAND = "round-robin", "by hand"
_DONE = "_team_work_done"  # (form, what the change did), said under the form once


@dataclass(frozen=True)
class Assignment:
    """Hand out the selection's images to ``annotators`` in tasks of ``size``: its
    queued images round-robin (``ids`` None) or the image ids typed (:func:`parse_ids`),
    in that order."""
    annotators: tuple[str, ...]
    size: int
    ids: str | None


@dataclass(frozen=True)
class GoldChange:
    """Mark (``gold``) or unmark the image ids typed (:func:`parse_ids`)."""
    ids: str
    gold: bool


def parse_ids(text: str) -> list[int]:
    """Image ids typed as ``12, 15 30-35`` (commas or spaces; ``#`` allowed; a range
    ``a-b`` inclusive), in the order typed, each once. ValueError naming the first piece
    that is not an id or a range, or when more than :data:`MAX_IDS` are named."""
    ids: list[int] = []
    for piece in re.split(r"[\s,;]+", text.strip()):
        if not piece:
            continue
        match = re.fullmatch(r"#?(\d{1,9})(?:-#?(\d{1,9}))?", piece)
        if match is None:
            raise ValueError(f"{piece[:30]!r} is not an image id or a range like 30-35")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f"the range {piece!r} runs backwards")
        if len(ids) + last - first + 1 > MAX_IDS:
            raise ValueError(f"more than {MAX_IDS:,} image ids at once")
        ids.extend(range(first, last + 1))
    if not ids:
        raise ValueError("type at least one image id")
    return list(dict.fromkeys(ids))


def settings_form(current: WorkflowSettings) -> dict | None:
    """The workflow's settings; on Save, the values changed (None when not saved)."""
    with st.form("team_workflow", border=True):
        c1, c2 = st.columns(2)
        share = c1.number_input(
            "Review share (%)", 0, 100, round(current.review_share * 100), step=5,
            key="team_workflow_share",
            help="The share of each annotator's first submissions a reviewer checks, drawn "
                 "at random per submission (a spot check); the rest are approved as "
                 "submitted. 100 reviews everything. A returned image's fix is always "
                 "reviewed.")
        gold = c2.number_input(
            "Gold rate (%)", 0, 100, round(current.gold_rate * 100), step=5,
            key="team_workflow_gold",
            help="The chance that an annotator's next image is a gold image they have not "
                 "answered; their boxes on it are scored, never saved.")
        cap = c1.number_input(
            "Cap (images one annotator holds)", 1, 10_000, current.cap,
            key="team_workflow_cap",
            help="Assigned, in progress and returned images count; past the cap, 'next' "
                 "stops pulling from the pool.")
        skip = c2.selectbox("A skipped image goes", list(SKIP_TO), format_func=SKIP_TO.get,
                            index=list(SKIP_TO).index(current.skip_to),
                            key="team_workflow_skip")
        approved = st.checkbox("Only approved labels train models", current.approved_only,
                               key="team_workflow_approved",
                               help="Off: submitted labels train too, before any review.")
        if not st.form_submit_button("Save", type="primary", key="team_workflow_submit"):
            return None
    shown = {"review_share": round(current.review_share * 100), "cap": current.cap,
             "skip_to": current.skip_to, "gold_rate": round(current.gold_rate * 100),
             "approved_only": current.approved_only}
    typed = {"review_share": share, "cap": int(cap), "skip_to": skip, "gold_rate": gold,
             "approved_only": bool(approved)}
    # only what was changed (a share set to 12.5% elsewhere shows as 12 and stays)
    return {k: v / 100 if k in ("review_share", "gold_rate") else v
            for k, v in typed.items() if v != shown[k]}


def settings_summary(changes: dict) -> str:
    """What a Save changed, each setting said as the form says it ("skip to back to the
    pool" and "approved only no" read as typos)."""
    def said(key, value):
        if key in ("review_share", "gold_rate"):
            return f"{key.replace('_', ' ')} {value * 100:g}%"
        if key == "skip_to":
            return f"a skipped image goes {SKIP_TO[value]}"
        if key == "approved_only":
            return f"only approved labels train: {'yes' if value else 'no'}"
        return f"{key.replace('_', ' ')} {value}"
    return "Saved: " + "; ".join(said(k, v) for k, v in changes.items()) + "."


def selection_picker(tags: list[str]) -> str:
    """The selection the section works on; the newest first time."""
    return st.selectbox("Selection", tags, index=len(tags) - 1, key="team_assign_tag")


def states_line(counts: dict[str, int]) -> str:
    """A selection's images by state, in the workflow's order, for a caption."""
    total = sum(counts.values())
    verb = "is" if counts["queued"] == 1 else "are"
    return (f"{counts['queued']:,} of its {total:,} images {verb} queued (nobody holds or was "
            "given them); " + ", ".join(f"{n:,} {state.replace('_', ' ')}"
                                        for state, n in counts.items()
                                        if n and state != "queued") + "."
            if total > counts["queued"] else f"All {total:,} of its images are queued.")


def done(form: str, text: str) -> None:
    """Say ``text`` under ``form`` once the page has redrawn (with the change in its
    tables): kept for :func:`show_done`, then the page reruns."""
    st.session_state[_DONE] = (form, text)
    st.rerun()


def show_done(form: str) -> None:
    """What the last change made with ``form`` did, once, under it (shown as text)."""
    said = st.session_state.get(_DONE)
    if said is not None and said[0] == form:
        del st.session_state[_DONE]
        st.success(md(said[1]), icon=":material/check_circle:")


def assign_form(users: list[str], queued: int) -> Assignment | None:
    """Hand out work: annotators (enabled users), a task size, round-robin (every one of
    the selection's ``queued`` images) or by hand."""
    with st.form("team_assign", border=True):
        names = st.multiselect("Annotators", users, key="team_assign_annotators",
                               placeholder="Choose who gets the tasks")
        c1, c2 = st.columns(2)
        size = c1.number_input(
            "Task size (images)", 1, 10_000, 10, key="team_assign_size",
            help="The most images one task holds. Round-robin hands out every queued "
                 "image of the selection, in tasks of this size, a task to each annotator "
                 "in turn (a size of 3 with 14 queued images and 2 annotators gives 8 and "
                 "6); to hand out fewer, give their ids by hand.")
        every = {0: "its queued images (none now)", 1: "its one queued image"}.get(
            queued, f"all {queued:,} queued images")
        how = c2.radio("Which images", [ROUND_ROBIN, BY_HAND], horizontal=True,
                       key="team_assign_how",
                       captions=[f"{every}, in rank order, a task each in turn",
                                 "the image ids below, in that order"])
        typed = st.text_input("Image ids (by hand)", key="team_assign_ids",
                              placeholder="e.g. 12, 15, 30-35")
        if not st.form_submit_button("Hand out", type="primary", key="team_assign_submit"):
            return None
    return Assignment(tuple(names), int(size), typed if how == BY_HAND else None)


def tasks_table(tasks: list[dict], unopened: dict[int, int], kept: dict[int, int]) -> None:
    """The selection's tasks, newest first (``unopened``: task id -> images still
    assigned, not opened; ``kept``: task id -> images still of the task, in any state:
    the rest went back to the pool, taken back or skipped there)."""
    st.dataframe(pd.DataFrame([{
        "task": t["id"], "annotator": t["annotator"], "images": t["size"],
        "not opened yet": unopened.get(t["id"], 0),
        "back in the pool": max(t["size"] - kept.get(t["id"], 0), 0),
        "made by": t["created_by"] or "", "made": when(t["created"])}
        for t in reversed(tasks)],
        columns=["task", "annotator", "images", "not opened yet", "back in the pool",
                 "made by", "made"]),
        hide_index=True, width="stretch", column_config={
            "back in the pool": st.column_config.NumberColumn(
                help="Images of the task back in the pool: taken back with Back to the "
                     "pool, or skipped there; the others were opened or wait unopened")})


def over_cap(rows: list[Workload], names: Sequence[str], cap: int) -> str:
    """The annotators of ``names`` who now hold more images than the cap, said after a
    hand-out ('' when none): the cap stops pulls from the pool, never a lead's tasks."""
    over = [w for w in rows if w.name in set(names) and w.held > cap]
    if not over:
        return ""
    who = ", ".join(f"{w.name} holds {w.held:,}" for w in over)
    return (f" Over the cap of {cap:,} now: {who} (the cap stops pulls from the pool, not "
            "tasks; Back to the pool takes a task's unopened images back).")


def take_back_form(unopened: dict[int, int], owners: dict[int, str]) -> int | None:
    """A task whose unopened images go back to the pool; its id, or None."""
    open_tasks = [t for t, n in sorted(unopened.items(), reverse=True) if n]
    with st.form("team_unassign", border=False):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        task = c1.selectbox("Take back a task's unopened images", open_tasks,
                            key="team_unassign_task", placeholder="No task has any",
                            format_func=lambda t: f"task {t} · {owners.get(t, '?')} · "
                                                  f"{unopened[t]:,} not opened")
        if not c2.form_submit_button("Back to the pool", key="team_unassign_submit",
                                     disabled=not open_tasks):
            return None
    return task


def workload_table(rows: list[Workload], cap: int) -> None:
    st.dataframe(pd.DataFrame([{
        "user": w.name, "role": w.role, "assigned": w.assigned, "in progress": w.in_progress,
        "returned": w.returned, f"held (cap {cap})": w.held} for w in rows]),
        hide_index=True, width="stretch")


def gold_form() -> GoldChange | None:
    """Mark or unmark gold images by id."""
    with st.form("team_gold", border=True):
        typed = st.text_input("Image ids", key="team_gold_ids",
                              placeholder="e.g. 12, 15, 30-35",
                              help="Labeled, approved train or val images (their ids are "
                                   "on the Images page). Their labels are the answer.")
        with st.container(horizontal=True):
            mark = st.form_submit_button("Mark gold", type="primary", key="team_gold_mark")
            unmark = st.form_submit_button("Unmark", key="team_gold_unmark")
    if not (mark or unmark):
        return None
    return GoldChange(typed, bool(mark))


def gold_table(rows: list[GoldImage]) -> None:
    st.dataframe(pd.DataFrame([{
        "image": g.item_id, "file": g.file, "split": g.split or "", "served": g.served,
        "answered": g.answered, "mean F1": g.f1,
        "mean class %": None if g.class_accuracy is None else g.class_accuracy * 100,
        "marked by": g.marked_by or ""} for g in rows]),
        hide_index=True, width="stretch", placeholder="—", column_config={
            "mean F1": st.column_config.NumberColumn(format="%.2f"),
            "mean class %": st.column_config.NumberColumn(format="%.0f%%")})


def unserved_gold_notice(model_id: int, tags: Sequence[str], ids: Sequence[int]) -> bool:
    """Say that gold images ``ids`` are never served in the selections ``tags`` (their
    model #``model_id`` has not predicted them), with a button that predicts them; True
    when it was clicked."""
    images = ", ".join(f"#{i}" for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
    one = len(ids) == 1
    st.warning(f"Gold image{'' if one else 's'} {images} {'is' if one else 'are'} never "
               f"served in {md(', '.join(tags))}: a gold image is served only with the "
               f"pre-labels of the model that made its batch (model #{model_id}), so that it "
               f"looks like the images around it, and {'it was' if one else 'they were'} "
               "marked after that query.", icon=":material/visibility_off:")
    return st.button(f"Predict {'it' if one else 'them'} with model #{model_id}",
                     key=f"team_gold_predict_{model_id}", icon=":material/visibility:")

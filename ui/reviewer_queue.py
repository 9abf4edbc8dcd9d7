"""The reviewer's queue on the Approve page: how many images wait for them and how long
the oldest has waited, a table of them (the reviewer's own in-review image first, then
oldest first, as :func:`al_core.review.reviewing.review_queue` orders them), "Review
next" (N) and a click on a row to open one."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import streamlit as st

from al_core.review.reviewing import queue_age, review_queue
from al_core.store import Store
from ui import reviewer_nav as nav
from ui.dashboard_charts import duration  # ages read as on the Dashboard's queue
from ui.timefmt import when

KINDS = {"first": "first", "fix": "fix", "edit": "edit"}
COLUMNS = ["image #", "selection", "annotator", "kind", "waiting since", "waiting", "state"]


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    t = datetime.fromisoformat(stamp)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (now - t).total_seconds()


def queue_rows(rows: Sequence[dict], submitted: dict[int, dict], me: str, *,
               now: datetime | None = None) -> list[dict]:
    """The table's rows (plain values, in the queue's order) for work rows ``rows``:
    ``submitted`` maps an image to its last submission (``kind``: first, fix, edit;
    ``at``: when, which is how long it has waited: a review left undecided does not
    restart the wait)."""
    now = now or datetime.now(timezone.utc)
    out = []
    for r in rows:
        mine = r["state"] == "in_review" and (r["reviewer"] or "").casefold() == me.casefold()
        sub = submitted.get(r["item_id"]) or {}
        since = waiting_since(r, submitted)
        out.append({"image #": r["item_id"], "selection": r.get("tag") or "",
                    "annotator": r["annotator"] or "", "kind": KINDS.get(sub.get("kind"), ""),
                    "waiting since": when(since, now=now), "waiting": duration(_age(since, now)),
                    "state": "open for you" if mine else
                             "fix for you" if r["reviewer"] else "submitted"})
    return out


def waiting_since(row: dict, submitted: dict[int, dict]) -> str:
    """When the image of work row ``row`` started waiting: its last submission's time
    (a review left undecided does not restart the wait), else its state's."""
    return (submitted.get(row["item_id"]) or {}).get("at") or row["since"]


def panel(store: Store) -> None:
    """The queue: its size and age, Review next, and the table (a row click opens it)."""
    rows = review_queue(store)
    submitted = {s["item_id"]: s for s in store.submissions()}  # the last one wins
    table = queue_rows(rows, submitted, store.actor_name or "")
    st.session_state["ap_table"] = [t["image #"] for t in table]  # what a row click opens
    oldest = min((waiting_since(r, submitted) for r in rows), default=None)
    mine = next((t["image #"] for t in table if t["state"] == "open for you"), None)
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.markdown(f"### {len(table)} image{'' if len(table) == 1 else 's'} waiting for you"
                    + (f" · the oldest for {duration(_age(oldest, _now()))}" if oldest else ""))
        st.button(f"Continue #{mine}" if mine else "Review next", key="ap-next",
                  shortcut="N", type="primary", icon=":material/play_arrow:",
                  disabled=not table, on_click=nav.review_next,
                  help="Open the first image of your queue (N)")
    everyone = queue_age(store)
    others = everyone["size"] - len(table)
    st.caption(f"Across all reviewers: {everyone['size']} waiting"
               + (f", the oldest for {duration(everyone['oldest_s'])}"
                  if everyone["oldest_s"] is not None else "")
               + (f"; {others} of them not for you (your own labels, a fix going back to "
                  "another reviewer, or open for someone)" if others > 0 else "") + ".")
    with st.container():
        if not table:
            st.info("Nothing is waiting for your review. Submitted images show here as "
                    "annotators save them.", icon=":material/inbox:")
            return
        st.dataframe(table, key="ap-queue", hide_index=True, on_select=_picked,
                     selection_mode="single-row", column_order=COLUMNS,
                     column_config={"image #": st.column_config.NumberColumn(format="%d")})
        st.caption("Click a row to open that image instead.")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _picked() -> None:
    """A row clicked in the table: open its image."""
    picked = st.session_state.get("ap-queue")
    chosen = picked.get("selection", {}).get("rows") if hasattr(picked, "get") else None
    shown = st.session_state.get("ap_table") or []
    if chosen and chosen[0] < len(shown):
        nav.open_row(shown[chosen[0]])

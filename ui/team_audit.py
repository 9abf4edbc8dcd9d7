"""The Team page's audit log: filters, one page of rows, and the CSV of the filtered rows.

The rows are shown in ``st.dataframe`` cells (text, never Markdown or HTML). The CSV is
:mod:`al_core.team.audit_csv`'s, the same as the command line's (formula-safe cells).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
import streamlit as st

from al_core.team.audit_csv import audit_csv, csv_cell  # noqa: F401 - the page's CSV
from al_core.types import AuditEntry

PAGE_ROWS = 100
ANYONE, ANY_ACTION = "anyone", "any action"


@dataclass(frozen=True)
class AuditFilter:
    """What the audit rows are filtered by: an actor and an action (None: all) and an
    ISO time range (``since`` inclusive, ``until`` exclusive; None: open)."""
    actor: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None


def day_bounds(days) -> tuple[str | None, str | None]:
    """A date input's value (no date, one date or a pair, local calendar days) as the
    stored ISO UTC bounds: from the first day's local midnight up to the end of the last
    day. One date: from that day on."""
    days = list(days) if isinstance(days, (list, tuple)) else [days] if days else []
    if not days:
        return None, None

    def utc(d: date) -> str:
        local = datetime.combine(d, time()).astimezone()  # local midnight
        return local.astimezone(timezone.utc).isoformat(timespec="seconds")

    return utc(days[0]), utc(days[1] + timedelta(days=1)) if len(days) > 1 else None


def audit_filters(actors: list[str], actions: list[str]) -> AuditFilter:
    """Draw the filters (the actors and actions the log holds); return the choice."""
    c1, c2, c3 = st.columns(3)
    actor = c1.selectbox("Actor", [ANYONE, *actors])
    action = c2.selectbox("Action", [ANY_ACTION, *actions])
    days = c3.date_input("Between (local days)", value=(), format="YYYY-MM-DD",
                         help="Pick a first and a last day; one day alone: from then on.")
    since, until = day_bounds(days)
    return AuditFilter(actor=None if actor == ANYONE else actor,
                       action=None if action == ANY_ACTION else action,
                       since=since, until=until)


def page_offset(total: int, filters: AuditFilter) -> int:
    """Draw the page selector (when there is more than one page) and the count; return
    the offset of the page chosen. Other filters start again at page 1."""
    pages = max(1, math.ceil(total / PAGE_ROWS))
    page = 1
    if pages > 1:
        page = st.selectbox(f"Page (of {pages:,})", range(1, pages + 1), index=0,
                            key=f"team_audit_page_{filters}")
    first = (page - 1) * PAGE_ROWS
    last = min(total, first + PAGE_ROWS)
    st.caption(f"Rows {first + 1:,}–{last:,} of {total:,}, newest first." if total else
               "No audit rows match.")
    return first


def _local(stamp: str) -> str:
    t = datetime.fromisoformat(stamp)
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone().strftime(
        "%Y-%m-%d %H:%M:%S")


def audit_table(entries: list[AuditEntry]) -> None:
    if not entries:
        return
    st.dataframe(pd.DataFrame([{
        "at (local time)": _local(e.at), "actor": e.actor or "", "action": e.action,
        "object": f"{e.object_type or ''} {e.object_id or ''}".strip(),
        "summary": e.summary, "before": e.before or "", "after": e.after or ""}
        for e in entries]), hide_index=True, width="stretch")

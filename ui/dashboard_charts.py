"""The Dashboard page's tables and charts (Altair, values on hover). Each ``*_frame``
turns the figures of :mod:`al_core.review.team_stats` into the DataFrame that is both
shown and offered as CSV, with column names people read; each ``*_chart`` draws one.

User names are text everywhere here: DataFrame cells, Altair axis labels and tooltips
(never Markdown). The CSV is formula-safe with the audit log's own guard
(:func:`al_core.team.audit_csv.csv_cell`).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from al_core.review.team_stats import (Agreement, AnnotatorFigures, SelectionStates,
                                       Throughput)
from al_core.team.audit_csv import csv_cell
from al_core.workflow import STATES

STATE_LABELS = {s: s.replace("_", " ") for s in STATES}
STATE_COLORS = {"queued": "#c7c7c7", "assigned": "#9ecae9", "in_progress": "#4c78a8",
                "submitted": "#f58518", "in_review": "#eeca3b", "returned": "#e45756",
                "approved": "#54a24b"}
ACTIVITY = ["submitted", "approved", "fixed", "returned"]
ACTIVITY_COLORS = ["#4c78a8", "#54a24b", "#eeca3b", "#e45756"]

# the per-annotator table: (column, AnnotatorFigures field, kind, what it is); a share
# is shown in percent (its column says so), a count beside the figure it is the base of
ANNOTATOR_COLUMNS = (
    ("annotator", "annotator", "name", "The annotator's user name."),
    ("images", "images", "count", "Distinct images submitted (gold answers are not "
                                   "submissions)."),
    ("submissions", "submissions", "count", "Every submission: first, the fix of a "
                                            "returned image, a later edit."),
    ("s per image", "seconds_per_image", "seconds", "Median active seconds from opening an "
     "image to saving it (a stretch without input, a tab left open, is not counted), over "
     "the timed ones."),
    ("timed", "timed", "count", "Submissions that carry a time."),
    ("returned %", "returned_share", "percent", "Of the first submissions the spot check "
     "sent to review and a reviewer decided, the share returned at that first decision: "
     "an unbiased error rate."),
    ("first reviews", "reviewed_first", "count", "First submissions reviewed and decided."),
    ("corrections per image", "corrections_per_image", "score", "Boxes reviewers moved, "
     "relabeled, deleted or added, per image of theirs decided."),
    ("reviewed images", "reviewed_images", "count", "Their images a reviewer decided."),
    ("gold F1", "gold_f1", "score", "Mean box F1 (IoU 0.5) of their gold answers."),
    ("gold class %", "gold_class_accuracy", "percent", "Mean share of matched boxes of the "
     "right class, over gold answers with a matched box."),
    ("gold answers", "gold_answers", "count", "Gold images they answered."),
    ("F1 vs peers", "peer_f1", "score", "Mean box F1 between their answer and another "
     "annotator's on the same gold image."),
    ("gold pairs", "peer_pairs", "count", "Pairs of answers on a shared gold image."),
    ("F1 vs fixes", "fix_f1", "score", "Mean box F1 between the boxes they submitted and a "
     "reviewer's fix of them (approvals agree fully and are not counted)."),
    ("fixes", "fixes", "count", "Their submissions a reviewer fixed."),
    ("holds now", "holds", "count", "Images assigned, in progress or returned to them."),
)
# what the bar chart can show: label -> (column, the count column it is from, format,
# fixed domain or None)
MEASURES = {
    "Images submitted": ("images", None, ",d", None),
    "Active seconds per image (median)": ("s per image", "timed", ".1f", None),
    "Returned at first review (%)": ("returned %", "first reviews", ".0f", (0, 100)),
    "Corrections per reviewed image": ("corrections per image", "reviewed images", ".2f",
                                       None),
    "Gold F1": ("gold F1", "gold answers", ".2f", (0, 1)),
    "F1 with other annotators (gold)": ("F1 vs peers", "gold pairs", ".2f", (0, 1)),
    "F1 with reviewers' fixes": ("F1 vs fixes", "fixes", ".2f", (0, 1)),
}
DEFINITIONS = """\
- **images**: distinct images the annotator submitted (gold answers are not submissions);
  **submissions** counts every one (first, the fix of a returned image, a later edit).
- **s per image**: the median of their submissions' active seconds, from opening an image
  to saving it, over the **timed** submissions. Active: a stretch without pointer, key or
  wheel input in the tab (30 s or more: a tab left open, a colleague's question) counts
  for nothing, from its last input on.
- **returned %**: among their *first* submissions that the spot check sent to review and
  a reviewer has decided (**first reviews**), the share returned at that first decision.
  The spot check draws at random, so this estimates their error rate without bias even
  when only a share is reviewed.
- **corrections per image**: boxes the reviewers moved, relabeled, deleted or added when
  fixing, over every decision on the annotator's images, per distinct **reviewed image**.
- **gold F1** and **gold class %**: the means over their **gold answers** (box F1 at IoU
  0.5, matched one to one; the share of matched boxes of the right class).
- **F1 vs peers**: the mean box F1 between their answer and another annotator's on the
  same gold image, over **gold pairs**.
- **F1 vs fixes**: the mean box F1 between the boxes they submitted and a reviewer's fix
  of them, over the **fixes** (approvals agree fully and are not counted).
- **holds now**: images assigned, in progress or returned to them.

An empty cell has nothing to count from yet. Hover a column's name for its meaning."""
_FORMATS = {"count": "%d", "seconds": "%.1f", "percent": "%.0f%%", "score": "%.2f"}


def annotator_frame(figures: Sequence[AnnotatorFigures]) -> pd.DataFrame:
    def value(f, name, kind):
        v = getattr(f, name)
        return v * 100 if kind == "percent" and v is not None else v
    return pd.DataFrame([{col: value(f, name, kind) for col, name, kind, _ in
                          ANNOTATOR_COLUMNS} for f in figures],
                        columns=[c[0] for c in ANNOTATOR_COLUMNS])


def annotator_columns() -> dict:
    """The table's column config: each column's format and meaning (on hover); the
    names stay in view while the table scrolls sideways."""
    out = {}
    for col, _, kind, what in ANNOTATOR_COLUMNS:
        if kind == "name":
            out[col] = st.column_config.TextColumn(col, help=what, pinned=True)
        else:
            out[col] = st.column_config.NumberColumn(col, help=what, format=_FORMATS[kind])
    return out


def annotator_chart(frame: pd.DataFrame, measure: str) -> alt.Chart:
    """One horizontal bar per annotator for ``measure`` (a key of :data:`MEASURES`), the
    count it is from in the tooltip; annotators with nothing to count from have no bar."""
    column, count, fmt, domain = MEASURES[measure]
    data = frame[frame[column].notna()]
    x = alt.X(f"{column}:Q", title=measure.lower(),
              axis=alt.Axis(format=fmt, tickMinStep=1 if fmt == ",d" else alt.Undefined),
              scale=alt.Scale(domain=list(domain)) if domain else alt.Undefined)
    tooltip = ["annotator:N", alt.Tooltip(f"{column}:Q", format=fmt)]
    if count:
        tooltip.append(alt.Tooltip(f"{count}:Q", title=f"from ({count})"))
    bars = alt.Chart(data).mark_bar(color="#4c78a8").encode(
        y=alt.Y("annotator:N", sort=None, title=None, axis=alt.Axis(labelLimit=200)),
        x=x, tooltip=tooltip)
    text = bars.mark_text(align="left", dx=4, color="#333").encode(
        text=alt.Text(f"{column}:Q", format=fmt))
    return (bars + text).properties(height=alt.Step(30))  # 30 px a bar, however many


def agreement_frame(pairs: Sequence[Agreement]) -> pd.DataFrame:
    return pd.DataFrame([{
        "where": "gold image, two annotators" if p.kind == "gold" else "reviewer's fix",
        "first": p.first, "second": p.second, "images": p.images, "box F1": p.f1,
        "class %": None if p.class_accuracy is None else p.class_accuracy * 100}
        for p in pairs],
        columns=["where", "first", "second", "images", "box F1", "class %"])


def states_frame(selections: Sequence[SelectionStates]) -> pd.DataFrame:
    return pd.DataFrame([{"selection": s.tag, **{STATE_LABELS[k]: s.counts[k] for k in STATES},
                          "images": s.total} for s in selections],
                        columns=["selection", *STATE_LABELS.values(), "images"])


def states_chart(frame: pd.DataFrame) -> alt.Chart:
    """One horizontal bar per selection, its images stacked by state in the workflow's
    order (queued first, approved last)."""
    labels = list(STATE_LABELS.values())
    long = frame.melt(id_vars=["selection", "images"], value_vars=labels, var_name="state",
                      value_name="count")
    long = long[long["count"] > 0].assign(order=lambda f: f["state"].map(labels.index))
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("selection:N", sort=list(frame["selection"]), title=None,
                axis=alt.Axis(labelLimit=200)),
        x=alt.X("count:Q", stack="zero", title="images", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("state:N", sort=labels, scale=alt.Scale(
            domain=labels, range=[STATE_COLORS[s] for s in STATES]),
            legend=alt.Legend(orient="top", title=None, columns=7)),
        order=alt.Order("order:Q"),
        tooltip=["selection:N", "state:N", alt.Tooltip("count:Q", title="images"),
                 alt.Tooltip("images:Q", title="of")],
    ).properties(height=alt.Step(34))  # 34 px a selection, however many


def queue_chart(histogram: Sequence[tuple[str, int]]) -> alt.Chart:
    """Waiting images per age bucket (oldest on the right)."""
    data = pd.DataFrame(histogram, columns=["waiting for", "images"])
    order = list(data["waiting for"])
    return alt.Chart(data).mark_bar(color="#f58518").encode(
        x=alt.X("waiting for:N", sort=order, title="waiting for",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("images:Q", title="images", axis=alt.Axis(tickMinStep=1)),
        tooltip=["waiting for:N", "images:Q"]).properties(height=220)


def throughput_frame(rows: Sequence[Throughput], period: str) -> pd.DataFrame:
    """Each day or hour of ``rows`` with work, in their order (the table and its CSV)."""
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m-%d %H:00"
    return pd.DataFrame([{period: r.start.strftime(fmt), "submitted": r.submitted,
                          "approved": r.approved, "fixed": r.fixed, "returned": r.returned}
                         for r in rows], columns=[period, *ACTIVITY])


def throughput_window(rows: Sequence[Throughput], period: str, now: datetime, *,
                      periods: int) -> pd.DataFrame:
    """The last ``periods`` days or hours up to ``now`` (aware, in the rows' zone),
    every one of them, those without work as zeros: a quiet day shows as a dip, not as
    a gap the axis closes up. ``start`` is the period's wall-clock time, without a zone,
    so the browser draws it as the table reads."""
    step = timedelta(days=1) if period == "day" else timedelta(hours=1)
    last = now.replace(minute=0, second=0, microsecond=0)
    if period == "day":
        last = last.replace(hour=0)
    starts = [last - step * k for k in range(periods - 1, -1, -1)]
    done = {r.start: r for r in rows}
    return pd.DataFrame([{
        "start": t.replace(tzinfo=None),
        **{what: getattr(done[t], what) if t in done else 0 for what in ACTIVITY}}
        for t in starts], columns=["start", *ACTIVITY])


def throughput_chart(window: pd.DataFrame, period: str) -> alt.Chart:
    """Per day or hour, images submitted and the review decisions (approved, fixed,
    returned), a line each on a time axis."""
    long = window.melt(id_vars=["start"], value_vars=ACTIVITY, var_name="what",
                       value_name="images")
    unit, fmt = ("yearmonthdate", "%b %d") if period == "day" else \
        ("yearmonthdatehours", "%b %d %H:00")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("start:T", timeUnit=unit, title=None, axis=alt.Axis(format=fmt)),
        y=alt.Y("images:Q", title="images", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("what:N", sort=ACTIVITY, title=None, scale=alt.Scale(
            domain=ACTIVITY, range=ACTIVITY_COLORS), legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("start:T", timeUnit=unit, format=fmt, title=period),
                 "what:N", "images:Q"]).properties(height=260)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV for a spreadsheet, as the audit log's: a header, every cell
    quoted and formula-safe (:func:`csv_cell`), UTF-8 with a byte-order mark; an empty
    cell for a missing value."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        writer.writerow([csv_cell(_plain(v)) for v in row])
    return out.getvalue().encode("utf-8-sig")


def _plain(value):
    """A cell's value for the CSV: None for a missing one (NaN, None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def duration(seconds: float | None) -> str:
    """An age as people read it: "45 s", "12 min", "3.5 h", "2.1 days"; "—" for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

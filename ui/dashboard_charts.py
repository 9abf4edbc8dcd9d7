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

import altair as alt
import pandas as pd

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

# the per-annotator table's columns, in order (frame column -> AnnotatorFigures field)
ANNOTATOR_COLUMNS = {
    "annotator": "annotator", "images": "images", "submissions": "submissions",
    "seconds per image (median)": "seconds_per_image", "timed": "timed",
    "returned at first review": "returned_share", "first reviews": "reviewed_first",
    "corrections per reviewed image": "corrections_per_image",
    "reviewed images": "reviewed_images", "gold F1": "gold_f1",
    "gold class accuracy": "gold_class_accuracy", "gold answers": "gold_answers",
    "F1 with other annotators (gold)": "peer_f1", "gold pairs": "peer_pairs",
    "F1 with reviewers' fixes": "fix_f1", "fixes": "fixes", "holds now": "holds"}
# what the bar chart can show: label -> (column, the count column it is from, format,
# fixed domain or None)
MEASURES = {
    "Images submitted": ("images", None, ",d", None),
    "Seconds per image (median)": ("seconds per image (median)", "timed", ".1f", None),
    "Returned at first review": ("returned at first review", "first reviews", ".0%",
                                 (0, 1)),
    "Corrections per reviewed image": ("corrections per reviewed image",
                                       "reviewed images", ".2f", None),
    "Gold F1": ("gold F1", "gold answers", ".2f", (0, 1)),
    "F1 with other annotators (gold)": ("F1 with other annotators (gold)", "gold pairs",
                                        ".2f", (0, 1)),
    "F1 with reviewers' fixes": ("F1 with reviewers' fixes", "fixes", ".2f", (0, 1)),
}
DEFINITIONS = """\
- **images**: distinct images the annotator submitted (gold answers are not submissions);
  **submissions** counts every one (first, the fix of a returned image, a later edit).
- **seconds per image**: the median of their submissions' seconds, from opening an image
  to saving it, over the **timed** submissions.
- **returned at first review**: among their *first* submissions that the spot check sent
  to review and a reviewer has decided (**first reviews**), the share returned at that
  first decision. The spot check draws at random, so this estimates their error rate
  without bias even when only a share is reviewed.
- **corrections per reviewed image**: boxes the reviewers moved, relabeled, deleted or
  added when fixing, over every decision on the annotator's images, per distinct
  **reviewed image**.
- **gold F1** and **gold class accuracy**: the means over their **gold answers** (box F1
  at IoU 0.5, matched one to one; class accuracy of the matched boxes).
- **F1 with other annotators (gold)**: the mean box F1 between their answer and another
  annotator's on the same gold image, over **gold pairs**.
- **F1 with reviewers' fixes**: the mean box F1 between the boxes they submitted and a
  reviewer's fix of them, over the **fixes** (approvals agree fully and are not counted).
- **holds now**: images assigned, in progress or returned to them.

An empty cell has nothing to count from yet."""


def annotator_frame(figures: Sequence[AnnotatorFigures]) -> pd.DataFrame:
    return pd.DataFrame([{col: getattr(f, name) for col, name in ANNOTATOR_COLUMNS.items()}
                         for f in figures], columns=list(ANNOTATOR_COLUMNS))


def annotator_chart(frame: pd.DataFrame, measure: str) -> alt.Chart:
    """One horizontal bar per annotator for ``measure`` (a key of :data:`MEASURES`), the
    count it is from in the tooltip; annotators with nothing to count from have no bar."""
    column, count, fmt, domain = MEASURES[measure]
    data = frame[frame[column].notna()]
    x = alt.X(f"{column}:Q", title=measure.lower(), axis=alt.Axis(format=fmt),
              scale=alt.Scale(domain=list(domain)) if domain else alt.Undefined)
    tooltip = ["annotator:N", alt.Tooltip(f"{column}:Q", format=fmt)]
    if count:
        tooltip.append(alt.Tooltip(f"{count}:Q", title=f"from ({count})"))
    bars = alt.Chart(data).mark_bar(color="#4c78a8").encode(
        y=alt.Y("annotator:N", sort=None, title=None, axis=alt.Axis(labelLimit=200)),
        x=x, tooltip=tooltip)
    text = bars.mark_text(align="left", dx=4, color="#333").encode(
        text=alt.Text(f"{column}:Q", format=fmt))
    return (bars + text).properties(height=max(80, 34 * len(data)))


def agreement_frame(pairs: Sequence[Agreement]) -> pd.DataFrame:
    return pd.DataFrame([{
        "where": "gold image, two annotators" if p.kind == "gold" else "reviewer's fix",
        "first": p.first, "second": p.second, "images": p.images, "box F1": p.f1,
        "class accuracy": p.class_accuracy} for p in pairs],
        columns=["where", "first", "second", "images", "box F1", "class accuracy"])


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
        x=alt.X("count:Q", stack="zero", title="images"),
        color=alt.Color("state:N", sort=labels, scale=alt.Scale(
            domain=labels, range=[STATE_COLORS[s] for s in STATES]),
            legend=alt.Legend(orient="top", title=None)),
        order=alt.Order("order:Q"),
        tooltip=["selection:N", "state:N", alt.Tooltip("count:Q", title="images"),
                 alt.Tooltip("images:Q", title="of")],
    ).properties(height=max(80, 40 * len(frame)))


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
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m-%d %H:00"
    return pd.DataFrame([{period: r.start.strftime(fmt), "submitted": r.submitted,
                          "approved": r.approved, "fixed": r.fixed, "returned": r.returned}
                         for r in rows], columns=[period, *ACTIVITY])


def throughput_chart(frame: pd.DataFrame, period: str) -> alt.Chart:
    """Per day or hour, images submitted beside the review decisions (approved, fixed,
    returned), grouped."""
    long = frame.melt(id_vars=[period], value_vars=ACTIVITY, var_name="what",
                      value_name="images")
    return alt.Chart(long).mark_bar().encode(
        x=alt.X(f"{period}:O", title=None, axis=alt.Axis(labelAngle=-40 if len(frame) > 8
                                                         else 0)),
        xOffset=alt.XOffset("what:N", sort=ACTIVITY),
        y=alt.Y("images:Q", title="images", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("what:N", sort=ACTIVITY, title=None, scale=alt.Scale(
            domain=ACTIVITY, range=ACTIVITY_COLORS), legend=alt.Legend(orient="top")),
        tooltip=[f"{period}:O", "what:N", "images:Q"]).properties(height=260)


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

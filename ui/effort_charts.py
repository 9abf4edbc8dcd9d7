"""The Progress page's annotator-time model: the table of seconds per action (published,
fitted, the fit's spread, which is in use) and the chart of the fitted seconds with
their 95% intervals beside the published constants (Altair, values on hover). The fit
uses the Review page's timed reviews, whose seconds are active time: a stretch with no
input in the tab is left out (:mod:`ui.activity`)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from al_core.review.effort import ACTION_NAMES, ACTIONS, SOURCES
from al_core.review.effort_fit import ProjectCost

PUBLISHED_COLOR, FITTED_COLOR = "#888888", "#1f77b4"
COLUMNS = ["action", "published s", "fitted s", "95% interval from", "95% interval to",
           "standard error s", "in use s", "source of the published figure"]


def cost_frame(cost: ProjectCost) -> pd.DataFrame:
    """One row per action of the cost model: its published seconds, and, when the model is
    fitted, the fitted seconds with their bootstrap interval and standard error (empty
    for an action kept at its published constant), and the seconds in use."""
    fit = cost.fit
    rows = []
    for action in ACTIONS:
        fitted = fit is not None and action in fit.fitted
        low, high = fit.interval[action] if fitted else (None, None)
        rows.append({
            "action": ACTION_NAMES[action],
            "published s": getattr(cost.published, action),
            "fitted s": getattr(fit.model, action) if fitted else None,
            "95% interval from": low, "95% interval to": high,
            "standard error s": fit.standard_error[action] if fitted else None,
            "in use s": getattr(cost.model, action),
            "source of the published figure": SOURCES[action]})
    return pd.DataFrame(rows, columns=COLUMNS)


def cost_chart(frame: pd.DataFrame, *, height: int = 240) -> alt.Chart:
    """Per action, the fitted seconds (a point) and their 95% interval (a rule), beside
    the published constant (a grey tick); actions not fitted show the tick only."""
    order = list(frame["action"])
    y = alt.Y("action:N", sort=order, title=None)
    tooltip = ["action:N", alt.Tooltip("published s:Q", format=".1f"),
               alt.Tooltip("fitted s:Q", format=".2f"),
               alt.Tooltip("95% interval from:Q", format=".2f"),
               alt.Tooltip("95% interval to:Q", format=".2f"),
               alt.Tooltip("standard error s:Q", format=".2f")]
    base = alt.Chart(frame)
    published = base.mark_tick(color=PUBLISHED_COLOR, thickness=3, size=18).encode(
        x=alt.X("published s:Q", title="active seconds per action (grey: published; blue: "
                "fitted, with its 95% interval)"), y=y, tooltip=tooltip)
    fitted = frame.dropna(subset=["fitted s"])
    spread = alt.Chart(fitted).mark_rule(color=FITTED_COLOR, strokeWidth=2).encode(
        x="95% interval from:Q", x2="95% interval to:Q", y=y, tooltip=tooltip)
    points = alt.Chart(fitted).mark_point(filled=True, size=80, color=FITTED_COLOR).encode(
        x="fitted s:Q", y=y, tooltip=tooltip)
    return (published + spread + points).properties(height=height)

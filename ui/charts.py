"""Charts drawn with Altair (Vega-Lite, which Streamlit renders natively): interactive,
with the values on hover. Each function takes plain numbers and returns a chart; the
page shows it with ``st.altair_chart`` and offers the same numbers as CSV."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from al_core.evaluation.metrics import RECALL_THRESHOLDS

NEW_COLOR, OLD_COLOR = "#1f77b4", "#ff7f0e"


def pr_frame(curves: dict[str, list[float]]) -> pd.DataFrame:
    """Long table (series, recall, precision) of interpolated precision at COCO's 101
    recall thresholds; pycocotools' -1 (no ground truth) is left out."""
    rows = [(name, float(r), float(p)) for name, precision in curves.items()
            for r, p in zip(RECALL_THRESHOLDS, precision) if p >= 0]
    return pd.DataFrame(rows, columns=["series", "recall", "precision"])


def pr_chart(curves: dict[str, list[float]], title: str, *, height: int = 400) -> alt.Chart:
    """Precision-recall curves overlaid (series name -> 101 precisions), the first series
    in blue, the second in orange; the legend shows the series names (with their AP)."""
    data = pr_frame(curves)
    names = list(curves)
    return alt.Chart(data, title=alt.Title(title, anchor="start")).mark_line(
        interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("recall:Q", scale=alt.Scale(domain=[0, 1]), title="recall"),
        y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1.02]), title="precision"),
        color=alt.Color("series:N", sort=names, title=None, scale=alt.Scale(
            domain=names, range=[NEW_COLOR, OLD_COLOR][:len(names)]),
            legend=alt.Legend(orient="top", direction="vertical", labelLimit=260)),
        tooltip=[alt.Tooltip("series:N", title="model"),
                 alt.Tooltip("recall:Q", format=".2f"),
                 alt.Tooltip("precision:Q", format=".3f")],
    ).properties(height=height)


def training_charts(records: list[dict], *, height: int = 220) -> tuple[alt.Chart, alt.Chart]:
    """(training loss, val mAP50) per epoch, each on its own axis, from the epoch records
    a training logs; shown side by side, each as wide as its column."""
    data = pd.DataFrame([{"epoch": r["epoch"], "loss": finite(r.get("loss")),
                          "val mAP50": finite(r.get("val_map50"))} for r in records])
    x = alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1), scale=alt.Scale(zero=False))
    loss = alt.Chart(data, title="Training loss").mark_line(
        point=alt.OverlayMarkDef(color=OLD_COLOR), color=OLD_COLOR).encode(
        x=x, y=alt.Y("loss:Q", title="training loss"),
        tooltip=["epoch:Q", alt.Tooltip("loss:Q", format=".3f")]).properties(height=height)
    vmap = alt.Chart(data, title="Validation mAP50").mark_line(
        point=alt.OverlayMarkDef(color=NEW_COLOR), color=NEW_COLOR).encode(
        x=x, y=alt.Y("val mAP50:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["epoch:Q", alt.Tooltip("val mAP50:Q", format=".3f")]).properties(height=height)
    return loss, vmap


def finite(value) -> float | None:
    """A float for a table cell, or None (shown as an empty cell) for missing/NaN."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None

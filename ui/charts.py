"""Charts drawn with Altair (Vega-Lite, which Streamlit renders natively): interactive,
with the values on hover. Each function takes plain numbers and returns a chart; the
page shows it with ``st.altair_chart`` and offers the same numbers as CSV."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from al_core.evaluation import RECALL_THRESHOLDS

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


def training_chart(records: list[dict], *, height: int = 200) -> alt.Chart:
    """Loss and val mAP50 per epoch side by side (each on its own axis), from the epoch
    records a training logs."""
    data = pd.DataFrame([{"epoch": r["epoch"], "loss": r.get("loss"),
                          "val mAP50": r.get("val_map50")} for r in records])
    base = alt.Chart(data).encode(x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)))
    loss = base.mark_line(point=True, color=OLD_COLOR).encode(
        y=alt.Y("loss:Q", title="training loss"),
        tooltip=["epoch:Q", alt.Tooltip("loss:Q", format=".3f")]).properties(
        height=height, title="Training loss")
    vmap = base.mark_line(point=True, color=NEW_COLOR).encode(
        y=alt.Y("val mAP50:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["epoch:Q", alt.Tooltip("val mAP50:Q", format=".3f")]).properties(
        height=height, title="Validation mAP50")
    return alt.hconcat(loss, vmap).resolve_scale(y="independent")


def finite(value) -> float | None:
    """A float for a table cell, or None (shown as an empty cell) for missing/NaN."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None

"""The Progress page's charts (Altair, values on hover) and the tables behind them. Each
``*_frame`` turns the library's rows into the DataFrame that is both charted and offered
as CSV, with column names people read; each ``*_chart`` draws one of those frames."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from al_core.evaluation.progress import ControlRound, CurvePoint, EffortRow, RoundStep

PICKS_COLOR, CONTROL_COLOR, TEST_COLOR = "#1f77b4", "#ff7f0e", "#2ca02c"
CHANGES = ["added", "deleted", "moved", "relabeled"]
CHANGE_COLORS = ["#4c78a8", "#e45756", "#f2b701", "#72b7b2"]


def curve_frame(points: Sequence[CurvePoint]) -> pd.DataFrame:
    return pd.DataFrame([{
        "model": f"#{p.model_id} {p.name}", "labeled images": p.labeled_images,
        "label round": p.label_round, "test mAP50": p.test_map50,
        "state": "active" if p.active else p.status, "note": p.note} for p in points],
        columns=["model", "labeled images", "label round", "test mAP50", "state", "note"])


def curve_chart(frame: pd.DataFrame, *, height: int = 360) -> alt.Chart:
    """Test mAP50 against labeled images: a line through the evaluated models, each a
    point labeled with its id; the active model a larger red diamond."""
    data = frame[frame["test mAP50"].notna()].assign(
        marker=lambda f: f["state"].map(lambda s: "active model" if s == "active"
                                        else "other models"),
        id=lambda f: f["model"].str.split(" ").str[0])
    x = alt.X("labeled images:Q", title="labeled images (train + val)",
              scale=alt.Scale(zero=False, nice=True, padding=24),
              axis=alt.Axis(format=",d", tickCount=8))
    y = alt.Y("test mAP50:Q", title="test mAP50", scale=alt.Scale(domain=[0, 1]))
    tooltip = ["model:N", alt.Tooltip("labeled images:Q", format=","),
               alt.Tooltip("test mAP50:Q", format=".3f"), "label round:O", "state:N"]
    line = alt.Chart(data).mark_line(color=PICKS_COLOR, opacity=0.5).encode(
        x=x, y=y, order="labeled images:Q")
    points = alt.Chart(data).mark_point(filled=True, opacity=1).encode(
        x=x, y=y, tooltip=tooltip,
        shape=alt.Shape("marker:N", title=None, scale=alt.Scale(
            domain=["active model", "other models"], range=["diamond", "circle"])),
        size=alt.Size("marker:N", legend=None, scale=alt.Scale(
            domain=["active model", "other models"], range=[220, 70])),
        color=alt.Color("marker:N", title=None, scale=alt.Scale(
            domain=["active model", "other models"], range=["#d62728", PICKS_COLOR]),
            legend=alt.Legend(orient="top")))
    ids = alt.Chart(data).mark_text(align="left", dx=8, dy=-10, color="#555").encode(
        x=x, y=y, text="id:N", tooltip=tooltip)
    return (line + points + ids).properties(height=height)


def steps_frame(steps: Sequence[RoundStep]) -> pd.DataFrame:
    return pd.DataFrame([{
        "round": s.round, "model": f"#{s.model_id}", "labeled images": s.labeled_images,
        "test mAP50": s.test_map50, "labels added": s.labels_added,
        "mAP50 points gained": s.gain_points,
        "points per 100 labels": s.points_per_100_labels} for s in steps],
        columns=["round", "model", "labeled images", "test mAP50", "labels added",
                 "mAP50 points gained", "points per 100 labels"])


def control_frame(rows: Sequence[ControlRound]) -> pd.DataFrame:
    return pd.DataFrame([{
        "round": r.round, "selection": r.tag,
        "model": f"#{r.model_id}" if r.model_id is not None else "none (cold start)",
        "control images": r.control_images, "control mAP50": r.control_map50,
        "test mAP50": r.test_map50, "note": r.note} for r in rows],
        columns=["round", "selection", "model", "control images", "control mAP50",
                 "test mAP50", "note"])


def control_chart(frame: pd.DataFrame, *, height: int = 320) -> alt.Chart:
    """Per round, the picking model's mAP50 on the round's labeled control images (its
    estimate on the unlabeled pool) beside its test mAP50, as paired bars."""
    long = frame.melt(id_vars=["round", "selection", "model", "control images"],
                      value_vars=["control mAP50", "test mAP50"], var_name="measured on",
                      value_name="mAP50").dropna(subset=["mAP50"])
    long["measured on"] = long["measured on"].map(
        {"control mAP50": "control images (the pool)", "test mAP50": "test set"})
    order = ["control images (the pool)", "test set"]
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("round:O", title="round", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("measured on:N", sort=order),
        y=alt.Y("mAP50:Q", title="mAP50", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("measured on:N", sort=order, title=None, scale=alt.Scale(
            domain=order, range=[CONTROL_COLOR, TEST_COLOR]),
            legend=alt.Legend(orient="top")),
        tooltip=["round:O", "selection:N", "model:N", "measured on:N",
                 alt.Tooltip("mAP50:Q", format=".3f"), "control images:Q"],
    ).properties(height=height)


def effort_frame(rows: Sequence[EffortRow]) -> pd.DataFrame:
    return pd.DataFrame([{
        "round": r.round, "annotator": r.author, "images": r.images,
        "images from": "strategy's picks" if r.slice == "picks" else "random control",
        "seconds per image": r.seconds_per_image, "corrections per image": r.corrections,
        "added": r.added, "deleted": r.deleted, "moved": r.moved,
        "relabeled": r.relabeled} for r in rows],
        columns=["round", "annotator", "images from", "images", "seconds per image",
                 "corrections per image", "added", "deleted", "moved", "relabeled"])


def effort_chart(frame: pd.DataFrame, *, height: int = 240) -> alt.Chart:
    """Per round, boxes added / deleted / moved / relabeled per image, stacked, the
    strategy's picks beside the random control images."""
    long = frame.melt(id_vars=["round", "images from", "images", "seconds per image"],
                      value_vars=CHANGES, var_name="change", value_name="per image")
    long["slice"] = long["images from"].map({"strategy's picks": "picks",
                                             "random control": "control"})
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("slice:N", sort=["picks", "control"], title=None,
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(per image):Q", title="corrections per image"),
        color=alt.Color("change:N", title="boxes", sort=CHANGES, scale=alt.Scale(
            domain=CHANGES, range=CHANGE_COLORS), legend=alt.Legend(orient="right")),
        order=alt.Order("change_order:Q"),
        column=alt.Column("round:O", title="round", header=alt.Header(
            labelOrient="bottom", titleOrient="bottom")),
        tooltip=["round:O", "images from:N", "change:N",
                 alt.Tooltip("per image:Q", format=".2f", title="boxes per image"),
                 "images:Q", alt.Tooltip("seconds per image:Q", format=".1f")],
    ).transform_calculate(
        change_order=f"indexof({CHANGES!r}, datum.change)"
    ).properties(height=height, width=120)


def seconds_chart(frame: pd.DataFrame, *, height: int = 300) -> alt.Chart:
    """Per round, mean active seconds per reviewed image (the Review page leaves out the
    stretches a tab had no input, :mod:`ui.activity`), the strategy's picks beside the
    random control images (rounds without timed reviews are left out)."""
    data = frame.dropna(subset=["seconds per image"])
    order = ["strategy's picks", "random control"]
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("round:O", title="round", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("images from:N", sort=order),
        y=alt.Y("seconds per image:Q", title="active seconds per image (idle left out)"),
        color=alt.Color("images from:N", sort=order, title=None, scale=alt.Scale(
            domain=order, range=[PICKS_COLOR, CONTROL_COLOR]),
            legend=alt.Legend(orient="top")),
        tooltip=["round:O", "images from:N", "images:Q",
                 alt.Tooltip("seconds per image:Q", format=".1f")],
    ).properties(height=height)

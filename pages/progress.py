"""Progress: is the labeling paying off? The learning curve (test mAP50 against labeled
images, one point per model) with what each round bought and a hint when it flattens;
the random control slice (the picking model's mAP50 on randomly drawn pool images beside
its test mAP50); the correction effort per round and annotator on the strategy's picks
against the control images; the annotator-time model (seconds per action, fitted from the
project's reviews once there are enough, else the published constants). Every chart's
numbers download as CSV."""
import pandas as pd
import streamlit as st

from al_core.evaluation.progress import (control_rounds, correction_effort, effort_verdict,
                                         flattening_hint, learning_curve, review_records,
                                         round_steps)
from al_core.review.effort_fit import describe_cost, project_cost_model
from ui import state
from ui.chrome import page_entry
from ui.effort_charts import cost_chart, cost_frame
from ui.progress_charts import (control_chart, control_frame, curve_chart, curve_frame,
                                effort_chart, effort_frame, seconds_chart, steps_frame)

page_entry()

store = state.store()
st.title("Progress")

points = learning_curve(store)
controls = control_rounds(store)
records = review_records(store)

MAP = st.column_config.NumberColumn(format="%.3f")
POINTS = st.column_config.NumberColumn(format="%+.1f")
PER_IMAGE = st.column_config.NumberColumn(format="%.2f")


def csv_button(frame: pd.DataFrame, name: str, label: str = "Download as CSV") -> None:
    st.download_button(label, frame.to_csv(index=False), file_name=f"{name}.csv",
                       mime="text/csv", icon=":material/download:", key=f"csv-{name}")


def table(frame: pd.DataFrame, name: str, *, columns: dict | None = None) -> None:
    """The frame as a table (missing values as a dash) with its CSV download."""
    st.dataframe(frame, hide_index=True, width="stretch", height="content",
                 column_config=columns, placeholder="—")
    csv_button(frame, name)


def learning_curve_section() -> None:
    st.subheader("Learning curve")
    if not points:
        st.caption("No trained model yet: train one on the Models page. Each model trained "
                   "here adds a point.")
        return
    frame = curve_frame(points)
    missing = [p for p in points if p.test_map50 is None]
    if len(missing) < len(points):
        st.altair_chart(curve_chart(frame), width="stretch")
    if missing:
        st.caption("Not on the curve: " + "; ".join(
            f"#{p.model_id} ({p.note})" for p in missing) + ". Only evaluations on the "
            "current frozen test set are comparable: a comparison on the Compare page "
            "evaluates both models, as does `python -m al_core evaluate --model ID`.")
    steps = round_steps(points)
    hint = flattening_hint(steps)
    if hint:
        st.warning(hint, icon=":material/trending_flat:")
    st.markdown("**What each round bought**: the round's best evaluated model against "
                "the previous round's")
    table(steps_frame(steps), "gain-per-round",
          columns={"test mAP50": MAP, "mAP50 points gained": POINTS,
                   "points per 100 labels": POINTS})
    st.markdown("**Models**")
    table(frame.drop(columns=["label round"]), "learning-curve",
          columns={"test mAP50": MAP, "labeled images": st.column_config.NumberColumn(
              format="%d", width="small"), "state": st.column_config.TextColumn(
              width="small"), "note": st.column_config.TextColumn(width="medium")})


def control_section() -> None:
    st.subheader("Random control")
    st.caption("Each query draws a share of its batch uniformly from the pool. Once "
               "labeled, those images show how the model that picked the round does on "
               "images it was not chosen for: an unbiased (if small) estimate of its "
               "mAP50 on the unlabeled pool, beside its mAP50 on the frozen test set.")
    if not controls:
        st.caption("No query yet: the Query page picks the first batch.")
        return
    frame = control_frame(controls)
    if frame["control mAP50"].notna().any() or frame["test mAP50"].notna().any():
        st.altair_chart(control_chart(frame), width="stretch")
    table(frame, "random-control", columns={
        "control mAP50": MAP, "test mAP50": MAP,
        "note": st.column_config.TextColumn(width="medium")})


def effort_section() -> None:
    st.subheader("Correction effort")
    st.caption("From the reviews saved on the Review page (and the demo's oracle): per "
               "image, the boxes an annotator added, deleted, moved or relabeled against "
               "the model's pre-labels, and the seconds spent. If the strategy's picks "
               "need more fixing than the random control images of the same round, it "
               "is finding what the model gets wrong.")
    if not records:
        st.caption("No reviewed image yet: label a batch on the Review page.")
        return
    rows = correction_effort(records)
    verdict = effort_verdict(rows)
    if verdict:
        st.info(verdict, icon=":material/insights:")
    pooled = effort_frame(rows)
    st.altair_chart(effort_chart(pooled), width="content")
    if pooled["seconds per image"].notna().any():
        st.altair_chart(seconds_chart(pooled), width="stretch")
    else:
        st.caption("No review was timed yet (the demo's oracle and imports are not); "
                   "seconds per image fill in as people review on the Review page.")
    csv_button(pooled, "correction-effort-per-round", "Download the charts' numbers as CSV")
    per_image = {k: PER_IMAGE for k in ("corrections per image", "added", "deleted",
                                        "moved", "relabeled")}
    per_image["seconds per image"] = st.column_config.NumberColumn(format="%.1f s")
    st.markdown("**Per round and annotator**")
    table(effort_frame(correction_effort(records, by_author=True)), "correction-effort",
          columns=per_image)


def time_section() -> None:
    st.subheader("Annotator time")
    st.caption("What a reviewed image costs in seconds: one term per image viewed and one "
               "per box confirmed, moved or resized, relabeled, deleted and drawn. The "
               "simulation and the label-cost benchmark use the published figures; this "
               "project's own timed reviews replace them here once there are enough.")
    cost = project_cost_model(store)
    if cost.fit is None:
        st.info(describe_cost(cost), icon=":material/timer:")
    else:
        st.success(describe_cost(cost), icon=":material/timer:")
    frame = cost_frame(cost)
    if cost.fit is not None:
        st.altair_chart(cost_chart(frame), width="stretch")
    seconds = st.column_config.NumberColumn(format="%.2f")
    table(frame, "annotator-time-model", columns={
        **{c: seconds for c in frame.columns if c.endswith(" s") or "interval" in c},
        "source of the published figure": st.column_config.TextColumn(width="large")})


if not points and not controls and not records:
    st.info("Nothing to show yet. This page fills in as the loop runs: train a first "
            "model on the **Models** page, query a batch on the **Query** page and label it "
            "on the **Review** page. Each trained model adds a point to the learning curve; "
            "each reviewed batch adds its correction effort.", icon=":material/trending_up:")
    st.stop()

learning_curve_section()
control_section()
effort_section()
time_section()

"""Dashboard (team mode; reviewers and leads, ``team_stats``): who does what in the review
workflow, and how well. Each annotator's figures with the counts they come from (a bar
chart of one figure at a time, the table of all), agreement where two people labeled one
image, each selection's images by state, the review queue's size and age, and the work
done per day or hour. The figures are :mod:`al_core.review.team_stats`'s, which checks
the role; every table downloads as a formula-safe CSV."""
from datetime import date, datetime

import pandas as pd
import streamlit as st

from al_core.permissions import PermissionDenied
from al_core.review import team_stats
from al_core.store import Store
from ui import dashboard_charts as charts
from ui import errors, state
from ui.chrome import page_entry

page_entry()

PERCENT = st.column_config.NumberColumn(format="%.0f%%")
SCORE = st.column_config.NumberColumn(format="%.2f")


def table(frame: pd.DataFrame, name: str, *, columns: dict | None = None) -> None:
    """The frame as a table (user names are cells: text) with its CSV download."""
    st.dataframe(frame, hide_index=True, width="stretch", column_config=columns,
                 placeholder="—")
    st.download_button(
        "Download CSV", charts.csv_bytes(frame),
        file_name=f"dashboard-{name}-{date.today():%Y-%m-%d}.csv", mime="text/csv",
        icon=":material/download:", key=f"dash_csv_{name}",
        help="Cells a spreadsheet would run as a formula start with a single quote.")


def headline(store: Store, queue: team_stats.QueueFigures) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Waiting for review", f"{queue.size:,}",
              help="Submitted images no reviewer has decided yet (open or not).")
    c2.metric("Oldest waiting", charts.duration(queue.oldest_s),
              help="Since the oldest waiting image was submitted (or opened for review).")
    c3.metric("Labels not yet approved", f"{store.labels_waiting():,}",
              help="Labeled images submitted, in review or returned: they do not train "
                   "while only approved labels train.")
    c4.metric("Gold images", f"{len(store.gold_ids()):,}",
              help="A lead marks them on the Team page's Work tab.")


def annotators_section(store: Store) -> None:
    st.subheader("Annotators")
    frame = charts.annotator_frame(team_stats.annotator_figures(store))
    if frame.empty:
        st.caption("No annotators yet: a lead adds them on the Team page.")
        return
    measure = st.selectbox("Chart", list(charts.MEASURES), key="dash_measure")
    column = charts.MEASURES[measure][0]
    if frame[column].notna().any():
        st.altair_chart(charts.annotator_chart(frame, measure), width="stretch")
    else:
        st.caption(f"Nobody has a figure for {measure.lower()} yet.")
    table(frame, "annotators", columns=charts.annotator_columns())
    with st.expander("What each column means", icon=":material/help:"):
        st.markdown(charts.DEFINITIONS)  # the product's own text


def agreement_section(store: Store) -> None:
    st.subheader("Agreement")
    st.caption("Where two people labeled the same image: two annotators' answers on a gold "
               "image, or an annotator's boxes and a reviewer's fix of them. Box F1 at IoU "
               "0.5, matched one to one, as gold answers are scored.")
    frame = charts.agreement_frame(team_stats.agreement(store))
    if frame.empty:
        st.caption("No image has been labeled by two people yet.")
        return
    table(frame, "agreement", columns={"box F1": SCORE, "class %": PERCENT})


def selections_section(store: Store) -> None:
    st.subheader("Selections")
    frame = charts.states_frame(team_stats.selection_states(store))
    if frame.empty:
        st.caption("No selection yet: a lead picks one on the Query page.")
        return
    st.altair_chart(charts.states_chart(frame), width="stretch")
    table(frame, "selections")


def queue_section(queue: team_stats.QueueFigures) -> None:
    st.subheader("Review queue")
    if not queue.size:
        st.caption("Nothing waits for review.")
        return
    st.caption(f"{queue.size:,} images wait for a reviewer ({queue.submitted:,} not opened, "
               f"{queue.in_review:,} open); the oldest for {charts.duration(queue.oldest_s)}.")
    st.altair_chart(charts.queue_chart(team_stats.age_histogram(queue.ages)),
                    width="stretch")


def throughput_section(store: Store) -> None:
    st.subheader("Throughput")
    period = st.segmented_control("Per", list(team_stats.PERIODS), default="day",
                                  key="dash_period", label_visibility="collapsed",
                                  format_func=lambda p: f"per {p}") or "day"
    now = datetime.now().astimezone()
    rows = team_stats.throughput(store, period=period, tz=now.tzinfo)
    if not rows:
        st.caption("Nothing submitted or reviewed yet.")
        return
    span = 30 if period == "day" else 48
    window = charts.throughput_window(rows, period, now, periods=span)
    st.altair_chart(charts.throughput_chart(window, period), width="stretch")
    st.caption(f"The chart: the last {span} {period}s, quiet ones as zeros. The table: "
               f"every {period} with work, newest first.")
    table(charts.throughput_frame(rows[::-1], period), f"throughput-per-{period}")


def dashboard(store: Store) -> None:
    queue = team_stats.review_queue_figures(store)  # checks team_stats first
    headline(store, queue)
    annotators_section(store)
    agreement_section(store)
    selections_section(store)
    queue_section(queue)
    throughput_section(store)


with state.store() as store:
    st.title("Dashboard")
    st.caption("Who does what in the review workflow, and how well. Times are this "
               "server's local time; every figure says how many it is from.")
    try:
        dashboard(store)
    except PermissionDenied as exc:  # an annotator at the address: al_core's answer
        st.warning(errors.refusal(exc), icon=":material/lock:")

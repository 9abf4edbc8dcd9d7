"""Running jobs on a page: a progress bar and Cancel per job, the live loss / val mAP50
chart of a training, and a redraw of the whole page when a job ends (so counts, model
lists and the sidebar are fresh without a reload)."""
from __future__ import annotations

import streamlit as st

from al_core.decide.retrain import training_curve
from al_core.jobs import runner as jobs
from ui import auth, state
from ui.charts import training_charts
from ui.fragments import fragment, rerun_fragment
from ui.text import md

TRAINING_KINDS = ("train", "retrain")


@fragment("following the jobs", run_every=2)
def running_jobs(kinds: tuple[str, ...] | None = None, *, key: str = "jobs") -> None:
    """Follow the project's queued and running jobs (of ``kinds``, or all)."""
    with state.store() as s:
        jobs.reap_stale(s)
        running = [j for j in s.jobs(status="running") + s.jobs(status="queued")
                   if kinds is None or j["kind"] in kinds]
    ids = {j["id"] for j in running}
    seen_key = f"_watch_{key}"
    ended = st.session_state.get(seen_key, set()) - ids
    st.session_state[seen_key] = ids
    if ended:  # a job ended: redraw the whole page
        st.rerun(scope="app")
    box = st.container()
    if not running:
        box.caption("No job is running.")
    for job in sorted(running, key=lambda j: j["id"]):
        cols = box.columns([6, 1], vertical_alignment="center")
        cols[0].progress(job["progress"], text=f"Job {job['id']} · {md(job['kind'])} · "
                                               f"{md(job['message'] or job['status'])}")
        if job["cancel_requested"]:
            cols[1].caption("cancelling...")
        elif not auth.may("cancel_job"):
            cols[1].caption("a lead may cancel it")
        elif cols[1].button("Cancel", key=f"{key}-cancel-{job['id']}"):
            with state.store() as s:
                try:
                    jobs.cancel_job(s, job["id"])
                except ValueError:  # it stored its result a moment ago: that stands
                    st.toast(f"Job {job['id']} had already finished; its result stands.")
            rerun_fragment()
        if job["kind"] in TRAINING_KINDS:
            curve = training_curve(job["log"] or "")
            if curve:
                left, right = box.columns(2)
                loss, vmap = training_charts(curve)
                left.altair_chart(loss, width="stretch")
                right.altair_chart(vmap, width="stretch")

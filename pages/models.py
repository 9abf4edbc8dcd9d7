"""The model registry and its jobs: train a new model (Create New Model), follow and
cancel jobs, predict with a trained model. Training runs in its own process."""
import json

import pandas as pd
import streamlit as st

from al_core import jobs
from al_core.model_config import TrainConfig, create_candidate
from ui import state
from ui.chrome import page_entry
from ui.flash import flash, show_flash

page_entry()

store = state.store()
st.title("Models")
show_flash()

active = store.active_model_id()
with st.expander("Train a new model", expanded=not store.models(), icon=":material/model_training:"):
    base = store.model(active) if active is not None else None
    st.markdown(f"Clones the config of **{base['name']} (#{active})**, the active model."
                if base else "No active model yet: starts from the default config.")
    st.code(json.dumps(base["config"] if base else TrainConfig().to_dict(), indent=1),
            language="json")
    override = st.text_area("Override (JSON)", placeholder='{"epochs": 40, "time_budget_s": 180}',
                            help="Any of the keys above; unknown keys are refused.")
    if st.button("Train", type="primary", icon=":material/play_arrow:"):
        try:
            model_id = create_candidate(store, override=json.loads(override or "{}"))
            job_id = jobs.start_job(store, "train", {"model_id": model_id})
        except json.JSONDecodeError as exc:
            st.error(f"Not started: the override is not valid JSON ({exc}).")
        except ValueError as exc:
            st.error(f"Not started: {exc}")
        else:
            flash("success", f"Started training model #{model_id} (job {job_id}); follow it "
                             "under Jobs.")


def _registry(models: list[dict]) -> None:
    st.subheader("Registry")
    if not models:
        st.info("No models yet. Train one above, or import predictions of an external model.")
        return
    st.dataframe(pd.DataFrame([{
        "id": m["id"], "name": m["name"], "status": m["status"], "arch": m["arch"],
        "parent": m["parent_id"], "val mAP50": m["metrics"].get("val_map50"),
        "best epoch": m["metrics"].get("best_epoch"), "created": m["created"]}
        for m in reversed(models)]), hide_index=True, width="stretch")


@st.fragment(run_every=2)
def job_panel() -> None:
    with state.store() as s:
        jobs.reap_stale(s)
        running = s.jobs(status="running") + s.jobs(status="queued")
        st.subheader("Jobs")
        if not running:
            st.caption("No job is running.")
        for job in running:
            cols = st.columns([5, 1])
            cols[0].progress(job["progress"], text=f"Job {job['id']} · {job['kind']} · "
                                                   f"{job['message'] or job['status']}")
            if job["cancel_requested"]:
                cols[1].caption("cancelling...")
            elif cols[1].button("Cancel", key=f"cancel-{job['id']}"):
                jobs.cancel_job(s, job["id"])
                st.rerun(scope="fragment")
        _registry(s.models())
        recent = [j for j in s.jobs(limit=10) if j["status"] not in ("running", "queued")]
        if recent:
            st.subheader("Recent jobs")
            st.dataframe(pd.DataFrame([{
                "job": j["id"], "kind": j["kind"], "status": j["status"],
                "message": j["error"] or j["message"], "finished": j["finished"]}
                for j in recent]), hide_index=True, width="stretch")
            failed = [j for j in recent if j["status"] == "failed" and j["error"]]
            if failed:  # the table cuts long errors; the newest is worth reading whole
                with st.expander(f"Job {failed[0]['id']} failed: the whole error"):
                    st.code(failed[0]["error"], language=None, wrap_lines=True)


job_panel()

models = store.models()
trained = [m for m in models if m["checkpoint_path"]]
if trained:
    st.subheader("Predict")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Model", trained, format_func=lambda m: f"#{m['id']} {m['name']} "
                                                                f"({m['status']})")
    if c2.button("Predict pool and test", icon=":material/visibility:"):
        ids = [i.id for i in store.items(status="unlabeled", unsplit=True)] + \
              [i.id for i in store.items(split="test")]
        job_id = jobs.start_job(store, "predict", {"model_id": pick["id"], "item_ids": ids})
        flash("success", f"Started predicting {len(ids)} images with model #{pick['id']} "
                         f"(job {job_id}); follow it under Jobs.")
store.close()

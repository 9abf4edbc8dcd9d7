"""The model registry and its jobs: train a new model (Create New Model), follow and
cancel jobs, compare a model with the active one on the test split and promote it,
predict with a trained model. Training, comparing and predicting run in their own process."""
import json

import pandas as pd
import streamlit as st

from al_core import jobs
from al_core.compare import parse_compare_config
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
    train_n, val_n = store.count_items(split="train"), store.count_items(split="val")
    outside = store.count_items(status="labeled", unsplit=True)
    st.markdown(f"Trains on **{train_n:,}** images, validates on **{val_n:,}**; "
                + (f":orange[**{outside:,}** labeled images have no split and are left out: "
                   "split them on the Project page first.]" if outside else
                   "every labeled image outside the test split is in train or val."))
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


# Dataloop's compare config, as its docs give it
DEFAULT_COMPARE = {"checks": {"precision_recall": {"iou_threshold": 0.5, "min_delta": 0.0}},
                   "wins": "any"}


def _comparisons(s) -> None:
    rows = s.comparisons(limit=10)
    if not rows:
        return
    st.subheader("Comparisons")
    st.dataframe(pd.DataFrame([{
        "new": f"#{c['new_model_id']}", "old": f"#{c['old_model_id']}"
        if c["old_model_id"] is not None else "(none)", "decision": c["decision"],
        "reason": c["reason"], "by": c["decided_by"],
        "when": c["created"][:19].replace("T", " ")}
        for c in rows]), hide_index=True, width="stretch")
    latest, names = rows[0], {c.id: c.name for c in s.classes()}
    with st.expander(f"Per-class AP of the newest comparison (#{latest['new_model_id']})"):
        st.dataframe(pd.DataFrame([{
            "class": names.get(c["class_id"], c["class_id"]), "new AP": c["new_ap"],
            "old AP": c["old_ap"], "won": c["won"]} for c in latest["per_class"]]),
            hide_index=True, width="stretch")


comparable = [m for m in reversed(store.models())  # the newest first
              if m["status"] in ("trained", "discarded", "external")]
# open while a trained model newer than the active one waits for its first comparison
compared = {c["new_model_id"] for c in store.comparisons(limit=1000)}
waiting = any(m["status"] == "trained" and m["id"] not in compared
              and (active is None or m["id"] > active) for m in comparable)
with st.expander("Compare with the active model and promote", expanded=waiting,
                 icon=":material/compare_arrows:"):
    if not comparable:
        st.caption("Train a model first: a trained model is compared with the active one here.")
    else:
        act = store.model(active) if active is not None else None
        st.caption("Per-class AP on the frozen test split decides whether the new model "
                   "replaces the active one (update_model) or not (discard). Models are first "
                   "run on the test images they have not seen. " + (
                       f"Active now: **#{act['id']} {act['name']}**." if act else
                       "There is no active model yet: the first model compared wins."))
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        new = c1.selectbox("New model", comparable,
                           format_func=lambda m: f"#{m['id']} {m['name']} ({m['status']})")
        apply = c2.checkbox("Apply the decision", value=True,
                            help="update_model: the new model becomes active and the old one "
                                 "stays as trained. discard: the new model is marked discarded "
                                 "(it can be compared again later).")
        raw = st.text_area("Compare config (JSON)", value=json.dumps(DEFAULT_COMPARE),
                           help='Dataloop\'s format; also "max_class_drop" and "bootstrap" '
                                "(see the README). Unknown keys are refused.")
        if st.button("Compare on the test split", icon=":material/compare_arrows:"):
            try:
                config = json.loads(raw)
                parse_compare_config(config)
                if apply and new["status"] == "external":
                    raise ValueError(f"model #{new['id']} is an external model (imported "
                                     "predictions): untick Apply to compare it")
                job_id = jobs.start_job(store, "compare", {"new_model_id": new["id"],
                                                           "config": config, "apply": apply})
            except json.JSONDecodeError as exc:
                st.error(f"Not started: the config is not valid JSON ({exc}).")
            except ValueError as exc:
                st.error(f"Not started: {exc}")
            else:
                flash("success", f"Started comparing model #{new['id']} (job {job_id}); the "
                                 "decision appears under Comparisons.")


@st.fragment(run_every=2)
def job_panel() -> None:
    with state.store() as s:
        jobs.reap_stale(s)
        running = s.jobs(status="running") + s.jobs(status="queued")
        ids = {j["id"] for j in running}
        if st.session_state.get("_running_jobs", set()) - ids:
            # a job ended: redraw the whole page (active model, model lists, sidebar)
            st.session_state["_running_jobs"] = ids
            st.rerun(scope="app")
        st.session_state["_running_jobs"] = ids
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
        _comparisons(s)
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

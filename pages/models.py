"""Models: retrain (a new version from the active one's config, trained, evaluated and
compared in one job, with a live chart; a project's first model is made active when its
training ends, with nothing to compare it with; a retrain with nothing to train on is
refused before its button, saying why), the running jobs, the model history with
rollback, and predicting with any version. Jobs run in their own process: closing the
tab or reloading loses nothing."""
import json

import pandas as pd
import streamlit as st

from al_core.decide.compare import describe_rule, parse_compare_config
from al_core.decide.promotion import project_compare_config, roll_back
from al_core.decide.retrain import (labels_waiting_for_review, retrain_refusal, start_retrain,
                                    waiting_sentence)
from al_core.evaluation.history import model_history
from al_core.formats.json_input import JsonInputError, parse_json
from al_core.jobs import runner as jobs
from al_core.permissions import PermissionDenied
from al_core.training.config import merge_config
from al_core.training.data_fit import fit_first_config
from al_core.training.memory_fit import check_fits
from ui import auth, errors, state
from ui.chrome import page_entry
from ui.flash import flash, show_flash
from ui.job_watch import running_jobs
from ui.text import md
from ui.timefmt import when

page_entry()

store = state.store()
st.title("Models")
show_flash()

active = store.active_model_id()
models = store.models()


def retrain_form() -> None:
    base = store.model(active) if active is not None else None
    st.markdown(f"A new version from the config of **#{active} {md(base['name'])}**, the active "
                "model, trained on the current labels, then run on the test split and "
                "compared with it." if base else
                "No active model yet: the first version starts from the default config, "
                "fitted to your labeled boxes (input size, batch size, length), and becomes "
                "the active model when its training ends: there is nothing to compare it "
                "with.")
    # what the training will load: labels waiting for review are left out (team mode)
    train_n, val_n = (store.count_items(split=s, trainable=True) for s in ("train", "val"))
    outside = store.count_items(status="labeled", unsplit=True, trainable=True)
    st.markdown(f"Trains on **{train_n:,}** images, validates on **{val_n:,}**. "
                + (f":orange[**{outside:,}** labeled images have no split and are left out: "
                   "split them on the Project page first.]" if outside else ""))
    waiting = labels_waiting_for_review(store)
    if waiting:
        st.caption(f":material/hourglass_top: {waiting_sentence(waiting)}.")
    refused = retrain_refusal(store)  # said before the button, not after a click
    if refused:
        st.warning(f"Retrain is not possible yet: {md(refused)}.", icon=":material/block:")
    fitted = None
    if base is None:  # the first model: the defaults fitted to the labeled boxes
        first, fitted = fit_first_config(store, {}, memory_images=train_n + val_n)
    if fitted is not None:  # above the config: the first thing to read, whatever the screen
        if fitted.warning:
            st.warning(md(fitted.warning), icon=":material/visibility_off:")
        st.markdown("Fitted to your labeled boxes (a key in the override wins):\n"
                    + "\n".join(f"- {md(r)}" for r in fitted.reasons))
    c1, c2 = st.columns(2)
    c1.code(json.dumps(base["config"] if base else first.to_dict(), indent=1),
            language="json")
    text = c2.text_area("Override (JSON)", placeholder='{"epochs": 40}', height=120,
                        help="Any of the keys on the left; unknown keys and out-of-range "
                             "values are refused.")
    override, problem = {}, None
    try:
        override = parse_json(text or "{}", "The override", expect=dict)
        check_fits(merge_config(base["config"] if base else first, override),
                   train_n + val_n)
    except JsonInputError as exc:  # too large, too deep, not JSON, not an object
        problem = f"{exc}."
    except ValueError as exc:
        problem = f"The override is refused: {exc}."
    if problem:
        c2.error(md(problem))  # it may quote the override
    apply = False
    if base is None:
        c2.caption("Then: it becomes the active model (the first; the next retrain is "
                   "compared with it).")
    else:
        rule = describe_rule(parse_compare_config(project_compare_config(store)))
        c2.caption(f"Then: {md(rule)}")
        c2.page_link("pages/compare.py", label="Edit the rule on the Compare page",
                     icon=":material/tune:")
        apply = c2.checkbox("Carry the decision out when the job ends", value=False,
                            help="Otherwise the Compare page shows it, to apply or override.")
    if c2.button("Retrain", type="primary", icon=":material/model_training:",
                 disabled=problem is not None or refused is not None
                 or not auth.may("train"), help=auth.lacks("train") or refused):
        try:
            model_id, job_id = start_retrain(store, override=override, apply=apply,
                                             decided_by=st.session_state.get("annotator")
                                             or "app")
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("Not started", exc))
        else:
            waiting = store.job(job_id)["params"].get("labels_waiting")
            flash("success", f"Retraining: model #{model_id} (job {job_id}). Follow it "
                             "below; " + ("it becomes the active model when it ends, as the "
                                          "first." if base is None else
                                          "the decision shows on the Compare page.")
                  + (f" {waiting_sentence(waiting)}, so this training leaves them out."
                     if waiting else ""))


def _test_map(r) -> str:
    if r.test_map50 is None:
        return r.test_note or "—"
    return f"{r.test_map50:.3f}" + (f" ({r.test_note})" if r.test_note else "")


def _trained_on(r) -> str:
    if r.labels is None:
        return "—"
    labels = f"{r.labels:,}" + (f" + {r.pseudo_labels:,} pseudo" if r.pseudo_labels else "")
    return f"{labels} · {_span(r.rounds)}" if r.rounds else labels


def _span(rounds: list[int]) -> str:
    """[0, 1, 2, 4] -> "rounds 0-2, 4"."""
    parts, start = [], None
    for k, n in enumerate(rounds):
        start = n if start is None else start
        if k + 1 == len(rounds) or rounds[k + 1] != n + 1:
            parts.append(f"{start}–{n}" if n > start else f"{n}")
            start = None
    return ("round " if len(rounds) == 1 else "rounds ") + ", ".join(parts)


def history() -> None:
    st.subheader("Model history")
    rows = model_history(store)
    if not rows:
        st.info("No models yet. Retrain above, or import predictions of an external model.")
        return
    st.dataframe(pd.DataFrame([{
        "version": f"{'● ' if r.active else ''}#{r.id} {r.name}", "created": when(r.created),
        "parent": f"#{r.parent_id}" if r.parent_id else "—",
        "status": r.status, "test mAP50": _test_map(r), "labels": _trained_on(r),
        "decision": r.decision or "—"} for r in rows]), hide_index=True, width="stretch")
    st.caption("● marks the active model. Comparisons and their curves: Compare page.")
    warned = [m for m in models if m["metrics"].get("warning")]
    if warned:  # e.g. a model that learned nothing: never a silent 0.000
        st.warning(f"Model #{warned[-1]['id']}: {md(warned[-1]['metrics']['warning'])}",
                   icon=":material/warning:")
    with st.expander("Each version: its config against its parent's, and why it is where "
                     "it is", icon=":material/gavel:"):
        st.markdown("\n".join(  # each line one row, whatever a name or a reason holds
            f"- **#{r.id} {md(r.name)}**"
            + (f" (config vs #{r.parent_id}: {md(r.config_change)})" if r.parent_id else "")
            + f": {md(r.decision_detail or 'no decision yet')}" for r in rows))
    earlier = [r for r in rows if not r.active and r.status in ("trained", "discarded")]
    if earlier:
        with st.expander("Roll back to an earlier version", icon=":material/history:"):
            c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
            target = c1.selectbox("Version", earlier,
                                  format_func=lambda r: f"#{r.id} {r.name} ({r.status})")
            why = c2.text_input("Why", placeholder="e.g. #5 misses small digits")
            name = st.session_state.get("annotator") or "app"
            if c3.button("Roll back", icon=":material/undo:", disabled=not auth.may("decide"),
                         help=auth.lacks("decide")):
                try:
                    roll_back(store, target.id, decided_by=name, why=why)
                except (ValueError, PermissionDenied) as exc:
                    st.error(errors.not_done("", exc))
                else:
                    flash("success", f"Model #{target.id} is active again (recorded as a "
                                     "rollback).")


def predict() -> None:
    trained = [m for m in models if m["checkpoint_path"]]
    if not trained:
        return
    st.subheader("Predict")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    ids = [m["id"] for m in trained]
    pick = c1.selectbox("Model", trained, index=ids.index(active) if active in ids else
                        len(ids) - 1, format_func=lambda m: f"#{m['id']} {m['name']} "
                                                            f"({m['status']})")
    if c2.button("Predict pool and test", icon=":material/visibility:",
                 disabled=not auth.may("train"), help=auth.lacks("train")):
        ids = [i.id for i in store.items(status="unlabeled", unsplit=True)] + \
              [i.id for i in store.items(split="test")]
        try:
            job_id = jobs.start_job(store, "predict", {"model_id": pick["id"],
                                                       "item_ids": ids})
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("Not started", exc))
        else:
            flash("success", f"Started predicting {len(ids)} images with model "
                             f"#{pick['id']} (job {job_id}).")


def recent_jobs() -> None:
    recent = [j for j in store.jobs(limit=10) if j["status"] not in ("running", "queued")]
    if not recent:
        return
    st.subheader("Recent jobs")
    st.dataframe(pd.DataFrame([{
        "job": j["id"], "kind": j["kind"], "status": j["status"],
        "message": j["error"] or j["message"] or "", "finished": when(j["finished"])}
        for j in recent]), hide_index=True, width="stretch")
    failed = [j for j in recent if j["status"] == "failed" and j["error"]]
    if failed:  # the table cuts long errors; the newest is worth reading whole
        with st.expander(f"Job {failed[0]['id']} failed: the whole error"):
            st.code(failed[0]["error"], language=None, wrap_lines=True)


with st.expander("Retrain", expanded=not models, icon=":material/model_training:"):
    retrain_form()
st.subheader("Jobs")
running_jobs(None, key="models")
history()
predict()
recent_jobs()
store.close()

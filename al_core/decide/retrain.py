"""Retrain: the loop's "train, then decide" as one job. A new model version is created
from the active one's config (plus an override), trained, run on the test split (with
the active model, where it has not seen those images), evaluated, and compared with the
active model under the project's compare config. The decision is stored; it is carried
out only with ``apply`` (otherwise a person applies or overrides it on the Compare page).
A project's first model (no model active) is not compared: there is nothing to compare
it with, so it is evaluated on the test split (when there is one) and made active when
the job ends, recorded as the first model (:meth:`~al_core.store.Store.activate_first_model`).

A retrain is refused before anything is made when it has nothing to train on
(:func:`check_can_retrain`; :func:`retrain_refusal` says it to a page before its button).

Progress: training takes the first 80% of the bar, the test-split predictions and the
comparison the rest. Each epoch is logged to the job's log as one JSON line
(:func:`training_curve` reads them back for the live chart).

Team mode: while only approved labels train (the project's workflow setting), labels
waiting for review are left out; :func:`labels_waiting_for_review` counts them and
:func:`waiting_sentence` says so, for the pages and the command line; a retrain started
while some wait records how many in its job's parameters (``labels_waiting``).
"""
from __future__ import annotations

import json

from al_core.decide.comparison import predict_missing_test
from al_core.decide.promotion import project_compare_config
from al_core.evaluation.model_eval import evaluate_model
from al_core.jobs.reporter import PartReporter, Reporter
from al_core.jobs.runner import job_kind, start_job
from al_core.names import normalize_name
from al_core.store import Store
from al_core.store.decisions import FIRST_MODEL_WHY
from al_core.training.candidates import create_candidate

TRAIN_SHARE = 0.8  # of the job's progress bar
VAL_SHARE = 0.05  # predicting the validation images, for the pre-label threshold


def labels_waiting_for_review(store: Store) -> int:
    """Labeled images that will not train until a reviewer approves them: team mode's
    labels waiting for review (submitted, in review, returned, or opened again from one
    of those) while only approved labels train; 0 in single-user mode or when every
    label trains."""
    return store.labels_waiting() if store.approved_only() else 0


def waiting_sentence(waiting: int) -> str:
    """``'12 labeled images wait for review and will not train until approved'``."""
    return (f"{waiting:,} labeled image{'s wait' if waiting != 1 else ' waits'} for review "
            "and will not train until approved")


def check_not_all_waiting(store: Store) -> None:
    """ValueError when the train split holds labeled images but every one of them waits
    for review while only approved labels train (a training would find nothing to learn
    from, and "split the labeled images first" would mislead)."""
    if store.count_items(split="train", status="labeled", trainable=True):
        return
    waiting = store.count_items(split="train", status="labeled")
    if waiting:
        raise ValueError(
            f"the train split's {waiting:,} labeled image{'s' if waiting != 1 else ''} "
            f"{'all wait' if waiting != 1 else 'waits'} for review, and only approved labels "
            "train (the project's workflow setting): a reviewer approves them first, or a "
            "lead lets every label train (`workflow set --approved-only no` on the command "
            "line)")


def check_trainable_split(store: Store) -> None:
    """ValueError when the train split holds no labeled image a model may learn from,
    saying why: every labeled image in it waits for review (:func:`check_not_all_waiting`),
    or nothing labeled is in it (split the labeled images first)."""
    check_not_all_waiting(store)
    if not store.count_items(split="train", status="labeled", trainable=True):
        raise ValueError("the train split has no labeled images: split the labeled images "
                         "first (Project page, Split tab; `split` on the command line)")


def check_can_retrain(store: Store) -> None:
    """ValueError, saying why, when a retrain could not finish: nothing to train on
    (:func:`check_trainable_split`), or a model is active and the project has no labeled
    test images to compare the new one with it. A project's first model needs no test
    split: it is not compared."""
    check_trainable_split(store)
    if store.active_model_id() is not None and not store.test_set_identity()[0]:
        raise ValueError("the project has no labeled test images, so a new model cannot be "
                         "compared with the active one: split some labeled images into test "
                         "first (Project page, Split tab)")


def retrain_refusal(store: Store) -> str | None:
    """Why a retrain would be refused now (:func:`check_can_retrain`), as a sentence for
    a page to show before its button; None when it can start. Permissions aside."""
    try:
        check_can_retrain(store)
    except ValueError as exc:
        return str(exc)
    return None


def start_retrain(store: Store, *, override: dict | None = None, apply: bool = False,
                  decided_by: str | None = None) -> tuple[int, int]:
    """Create the new version (the active model's config with ``override``; errors name
    the bad key) and start its retrain job. Returns (model id, job id). A ``decided_by``
    that breaks the name rule is refused here, before anything is trained. Labels waiting
    for review (:func:`labels_waiting_for_review`, when some are) are counted in the job's
    parameters as ``labels_waiting``: the training leaves them out.

    Team mode: a lead's work (``train``, and ``decide`` with ``apply``), refused before
    anything is made; ``decided_by`` is the acting user (None stands for them, another
    name is PermissionDenied). Single-user mode: ``decided_by`` as given (default
    ``app``)."""
    store.authorize("train")
    if apply:
        store.authorize("decide")
    decided_by = normalize_name(store.own_name(decided_by, what="decided_by") or "app",
                                kind="person")
    # what the job would only find out after training: refused before anything is made
    check_can_retrain(store)
    model_id = create_candidate(store, override=override)
    params = {"model_id": model_id, "apply": apply, "decided_by": decided_by}
    waiting = labels_waiting_for_review(store)
    if waiting:
        params["labels_waiting"] = waiting
    job_id = start_job(store, "retrain", params)
    return model_id, job_id


@job_kind("retrain")
def run_retrain_job(store: Store, job_id: int, params: dict, reporter: Reporter) -> None:
    from al_core.decide.compare_job import run_compare_job
    from al_core.training.loop import use_allowed_cpus
    from al_core.training.train_job import train_model

    model_id = params["model_id"]
    store.update_model(model_id, status="training", job_id=job_id)
    use_allowed_cpus()
    training = PartReporter(reporter.progress, reporter.cancel_requested, 0.0, TRAIN_SHARE,
                            f"training model #{model_id}")
    train_model(store, model_id, progress=training.progress, log_line=reporter.log,
                should_stop=reporter.cancel_requested)  # not the end: no commit yet
    from al_core.training.prediction import predict_validation

    predict_validation(store, model_id, reporter=PartReporter(  # its pre-label threshold
        reporter.progress, reporter.cancel_requested, TRAIN_SHARE, VAL_SHARE,
        f"model #{model_id} on the validation split"))
    deciding = PartReporter(reporter.progress, reporter.cancel_requested,
                            TRAIN_SHARE + VAL_SHARE, 1 - TRAIN_SHARE - VAL_SHARE, "deciding",
                            commit=reporter.commit)
    decided_by = params.get("decided_by") or "app"
    if store.active_model_id() is None and _activate_first(store, model_id, decided_by,
                                                           deciding):
        reporter.progress(1.0, f"model #{model_id}: active, {FIRST_MODEL_WHY}")
        return
    run_compare_job(store, job_id, {
        "new_model_id": model_id, "config": project_compare_config(store),
        "apply": bool(params.get("apply")), "decided_by": decided_by}, deciding)
    # this job's comparison (another job may have stored one meanwhile)
    comparison = next(c for c in store.comparisons(limit=50) if c["new_model_id"] == model_id)
    reporter.progress(1.0, f"model #{model_id}: {comparison['decision']} "
                           f"({comparison['reason']})")


def _activate_first(store: Store, model_id: int, decided_by: str,
                    reporter: PartReporter) -> bool:
    """The project's first model: run on the test split and evaluated there (the model
    history's test mAP50), then made active in the transaction that ends the job: there
    is nothing to compare it with. False, with nothing changed, when a model became
    active meanwhile (the caller compares the new one with it)."""
    if store.test_set_identity()[0]:
        predict_missing_test(store, [model_id], reporter, share=0.9)
        reporter.check()
        reporter.progress(0.95, "evaluating on the test split")
        evaluate_model(store, model_id)
    with store.write():
        if store.active_model_id() is not None:
            return False
        reporter.commit()
        store.activate_first_model(model_id, decided_by=decided_by)
    return True


def training_curve(log: str) -> list[dict]:
    """The per-epoch records a training logged (``{"epoch", "epochs", "loss",
    "val_map50", "elapsed_s", ...}``), oldest first; other log lines are skipped."""
    records = []
    for line in log.splitlines():
        if line.startswith('{"epoch"'):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a killed process
                continue
    return records

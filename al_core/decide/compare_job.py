"""The compare job: the compare node run from the app (or a retrain), each model first
run on the test items it has not predicted."""
from __future__ import annotations

from al_core.decide.compare import parse_compare_config
from al_core.decide.comparison import compare_models, nothing_to_compare, predict_missing_test
from al_core.jobs.reporter import Reporter
from al_core.jobs.runner import job_kind
from al_core.store import Store


@job_kind("compare")
def run_compare_job(store: Store, job_id: int, params: dict, reporter: Reporter) -> None:
    """The compare node from the app: the new model against ``old_model_id`` (default:
    whichever is active when the job runs), each first run on the test items it has not predicted,
    then the decision stored and, with ``apply``, carried out."""
    raw = params["config"]
    config = parse_compare_config(raw)
    new_id = params["new_model_id"]
    old_id = params.get("old_model_id") or store.active_model_id()
    if old_id is None:  # before predicting anything
        raise ValueError(nothing_to_compare(new_id))
    test_ids, _ = store.test_set_identity()
    if not test_ids:
        raise ValueError("the project has no labeled test items: split the labeled items "
                         "first (Project page, Split)")
    predict_missing_test(store, [new_id, old_id], reporter, share=0.9)
    reporter.check()
    reporter.progress(0.95, "comparing on the test split")
    decision = compare_models(store, new_id, old_id, config, raw_config=raw,
                              apply=bool(params.get("apply")),
                              decided_by=params.get("decided_by") or (
                                  None if store.team_mode() else "app"),
                              should_stop=reporter.cancel_requested,
                              on_commit=reporter.commit)
    reporter.progress(1.0, f"#{new_id} vs #{old_id}: {decision.decision} "
                           f"({decision.reason})")

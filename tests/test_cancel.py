"""A cancel is final: every job kind, cancelled at each of its steps, ends ``cancelled``,
stores no comparison, decision or selection, and leaves the active model as it was.

Each case runs the job in this process (``jobs.run_job``) with the cancel requested by
another connection at one step, as the Models page's Cancel button does while the job
runs. The steps are reached by wrapping the function that does them."""
import shutil

import pytest

from al_core.cli import job_kinds  # noqa: F401 - registers every job kind
from al_core.decide import compare, compare_job, comparison
from al_core.jobs import runner as jobs
from al_core.query import round as query
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.training import prediction, train_job
from al_core.training.candidates import create_candidate
from al_core.training.split import split_project

TINY = {"epochs": 2, "image_size": 64, "width": 8, "batch_size": 8}
BOOT = {"bootstrap": {"samples": 50, "seed": 0}}


@pytest.fixture(scope="module")
def _base(_tiny_demo_template, tmp_path_factory):
    """A project with an active model (#A) and a trained one (#B) that has not yet seen
    the test split."""
    path = tmp_path_factory.mktemp("cancel") / "demo"
    shutil.copytree(_tiny_demo_template, path)
    with Store(path) as store:
        label_from_oracle_at_random(store, 24, seed=0)
        split_project(store, seed=0)
        a = create_candidate(store, override=TINY)
        job = store.add_job("retrain", {"model_id": a, "apply": True})
        assert jobs.run_job(store, job) == "succeeded", store.job(job)["error"]
        b = create_candidate(store, override={**TINY, "pseudo_label_score": 0})
        job = store.add_job("train", {"model_id": b})
        assert jobs.run_job(store, job) == "succeeded", store.job(job)["error"]
        assert store.active_model_id() == a
    return path, a, b


@pytest.fixture
def project(_base, tmp_path):
    path, a, b = _base
    shutil.copytree(path, tmp_path / "p")
    with Store(tmp_path / "p") as store:
        yield store, a, b


def _cancel_when_called(monkeypatch, module, name, store, job_id, *, on_call=1):
    """Wrap ``module.name`` so that its ``on_call``-th call first cancels the job (from
    another connection, as another process would) and then does its work."""
    original = getattr(module, name)
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == on_call:
            with Store(store.root) as other:
                jobs.cancel_job(other, job_id)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def _state(store):
    return {"active": store.active_model_id(),
            "comparisons": [c["id"] for c in store.comparisons(limit=1000)],
            "decisions": store.db.execute("SELECT count(*) FROM model_decisions").fetchone()[0],
            "selections": [s.tag for s in store.selections()]}


def _assert_cancelled(store, job_id, before, calls):
    assert calls, "the step was never reached: the case tests nothing"
    row = store.job(job_id)
    assert (row["status"], row["cancel_requested"]) == ("cancelled", 1), row["error"]
    assert row["error"] == "cancelled on request"
    assert _state(store) == before  # no comparison, decision or selection; same active


RETRAIN_STEPS = [  # (module, function wrapped, which call): the step the cancel comes at
    pytest.param(train_job, "load_split", 1, id="loading-images"),
    pytest.param(train_job, "train_loop", 1, id="training"),
    pytest.param(train_job, "atomic_save", 1, id="writing-the-checkpoint"),
    pytest.param(prediction, "predict_items", 1, id="predicting-the-test-split"),
    pytest.param(comparison, "evaluate_model", 1, id="evaluating"),
    pytest.param(comparison, "bootstrap_map_delta", 1, id="bootstrap"),
    pytest.param(comparison, "decide", 1, id="before-storing-and-applying"),
]


@pytest.mark.slow
@pytest.mark.parametrize("module,name,call", RETRAIN_STEPS)
def test_a_retrain_cancelled_at_any_step_decides_nothing(project, monkeypatch, module, name,
                                                         call):
    store, a, _ = project
    before = _state(store)
    new = create_candidate(store, override={**TINY, "pseudo_label_score": 0})
    job = store.add_job("retrain", {"model_id": new, "apply": True})
    monkeypatch.setattr("al_core.decide.retrain.project_compare_config", lambda s: BOOT)
    calls = _cancel_when_called(monkeypatch, module, name, store, job, on_call=call)
    assert jobs.run_job(store, job) == "cancelled"
    _assert_cancelled(store, job, before, calls)
    assert store.model(new)["status"] == "cancelled" and store.active_model_id() == a


@pytest.mark.slow
@pytest.mark.parametrize("module,name", [(train_job, "load_split"), (train_job, "train_loop"),
                                         (train_job, "atomic_save")],
                         ids=["loading-images", "training", "before-marking-trained"])
def test_a_training_cancelled_at_any_step_leaves_no_model(project, monkeypatch, module, name):
    store, _, _ = project
    before = _state(store)
    new = create_candidate(store, override=TINY)
    job = store.add_job("train", {"model_id": new})
    calls = _cancel_when_called(monkeypatch, module, name, store, job)
    assert jobs.run_job(store, job) == "cancelled"
    _assert_cancelled(store, job, before, calls)
    row = store.model(new)
    assert row["status"] == "cancelled" and row["checkpoint_path"] is None
    assert not list(store.models_dir.glob(f"model-{new}.pt*"))  # no orphan checkpoint


@pytest.mark.parametrize("module,name,call", [
    pytest.param(prediction, "predict_items", 1, id="predicting"),
    pytest.param(comparison, "evaluate_model", 2, id="evaluating-the-old-model"),
    pytest.param(comparison, "bootstrap_map_delta", 1, id="bootstrap"),
    pytest.param(comparison, "decide", 1, id="before-storing-and-applying")])
def test_a_compare_job_cancelled_at_any_step_decides_nothing(project, monkeypatch, module,
                                                             name, call):
    store, a, b = project
    before = _state(store)
    job = store.add_job("compare", {"new_model_id": b, "config": BOOT, "apply": True})
    calls = _cancel_when_called(monkeypatch, module, name, store, job, on_call=call)
    assert jobs.run_job(store, job) == "cancelled"
    _assert_cancelled(store, job, before, calls)
    assert store.model(b)["status"] == "trained"


def test_a_bootstrap_stops_between_batches():
    """The bootstrap asks every BOOTSTRAP_BATCH resamples, not only before the first."""
    import numpy as np

    from al_core.evaluation.metrics import Detections, GroundTruth
    gt = GroundTruth(np.array([1, 2]), np.array([0, 0]), np.array([[0, 0, 10, 10]] * 2, float),
                     np.zeros(2, bool), np.array([100.0, 100.0]))
    dt = Detections(np.array([1, 2]), np.array([0, 0]),
                    np.array([[0, 0, 10, 10]] * 2, float), np.array([0.9, 0.8]))
    asked = []

    def stop():
        asked.append(1)
        return len(asked) == 3  # the third look: after two batches

    with pytest.raises(jobs.Cancelled):
        compare.bootstrap_map_delta(gt, dt, dt, iou_threshold=0.5, samples=1000, seed=0,
                                    should_stop=stop)
    assert len(asked) == 3


@pytest.mark.parametrize("on_call", [1, 2], ids=["first-chunk", "last-chunk"])
def test_a_predict_job_cancelled_at_any_chunk_ends_cancelled(project, monkeypatch, on_call):
    store, a, _ = project
    pool = [i.id for i in store.items(status="unlabeled")]  # 8: chunks of 5 and 3
    assert len(pool) == 8
    job = store.add_job("predict", {"model_id": a, "item_ids": pool})
    monkeypatch.setattr(prediction, "predict_items",
                        _batched(prediction.predict_items, batch_size=5))
    calls = _cancel_when_called(monkeypatch, prediction, "load_items", store, job,
                                on_call=on_call)
    assert jobs.run_job(store, job) == "cancelled"
    assert calls and store.job(job)["status"] == "cancelled"
    predicted = len(pool) - len(store.items_without_embedding(a, pool))
    # the chunk it came in is finished and kept (predictions are a cache), none after it
    assert predicted == (5 if on_call == 1 else 8)


def _batched(fn, *, batch_size):
    return lambda *args, **kwargs: fn(*args, **{**kwargs, "batch_size": batch_size})


@pytest.mark.parametrize("name", ["_check_picks", "predict_items"],
                         ids=["before-storing", "pre-labels"])
def test_a_query_job_cancelled_at_any_step_stores_no_selection(project, monkeypatch, name):
    store, a, _ = project
    before = _state(store)
    job = store.add_job("query", {"strategy": "uncertainty", "add": 4, "seed": 0,
                                  "tag": "round-x"})
    module = query if name == "_check_picks" else prediction
    calls = _cancel_when_called(monkeypatch, module, name, store, job)
    assert jobs.run_job(store, job) == "cancelled"
    _assert_cancelled(store, job, before, calls)
    assert store.tags().get("round-x") is None


def test_a_cancel_after_the_result_is_stored_is_refused_not_ignored(project, monkeypatch):
    """The commit marks the job succeeded in the result's own transaction: a cancel that
    comes later finds it ended, instead of leaving a succeeded job with a cancel flag."""
    store, a, b = project
    job = store.add_job("compare", {"new_model_id": b, "config": {}, "apply": False})
    seen = {}

    def after_commit(*args, **kwargs):  # the job is still running its function
        seen["status"] = store.job(job)["status"]
        with pytest.raises(ValueError, match="already ended \\(succeeded\\)"):
            jobs.cancel_job(store, job)

    original = compare_job.compare_models

    def compare_then_cancel(*args, **kwargs):
        decision = original(*args, **kwargs)
        after_commit()
        return decision

    monkeypatch.setattr(compare_job, "compare_models", compare_then_cancel)
    assert jobs.run_job(store, job) == "succeeded"
    assert seen["status"] == "succeeded"
    row = store.job(job)
    assert (row["status"], row["cancel_requested"], row["progress"]) == ("succeeded", 0, 1.0)
    assert store.comparisons(limit=1)[0]["new_model_id"] == b

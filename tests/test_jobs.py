"""Job processes: lifecycle, cancel, a stale heartbeat, and a kill -9 mid-epoch."""
import os
import signal
import time

import pytest

from al_core import jobs
from al_core.demo import label_from_oracle_at_random
from al_core.registry import create_candidate  # registers the job kinds
from al_core.split import split_project
from al_core.store import now


@pytest.fixture
def trainable(demo_store):
    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    return demo_store


def _labels(store):
    return {i: [(a.class_id, a.box) for a in anns] for i, anns in store.annotations().items()}


@pytest.mark.slow
def test_train_job_lifecycle_and_predict(trainable):
    model = create_candidate(trainable, override={"epochs": 2, "batch_size": 8, "width": 8})
    job = jobs.start_job(trainable, "train", {"model_id": model}, wait=True)
    row = trainable.job(job)
    assert row["status"] == "succeeded" and row["progress"] == 1.0 and row["heartbeat"]
    assert "epoch 2/2" in row["message"] and '"val_map50"' in row["log"]
    m = trainable.model(model)
    assert m["status"] == "trained" and m["metrics"]["epochs_run"] == 2
    assert (trainable.root / m["checkpoint_path"]).exists()
    pool = [i.id for i in trainable.items(status="unlabeled")][:5]
    pjob = jobs.start_job(trainable, "predict", {"model_id": model, "item_ids": pool}, wait=True)
    assert trainable.job(pjob)["status"] == "succeeded"
    count = trainable.db.execute("SELECT count(DISTINCT item_id) FROM embeddings WHERE "
                                 "model_id = ?", [model]).fetchone()[0]
    assert count == 5


def test_a_stale_heartbeat_marks_the_job_and_its_model_failed(trainable):
    model = create_candidate(trainable)
    job = trainable.add_job("train", {"model_id": model})
    trainable.update_job(job, status="running", pid=2 ** 22 + 7, heartbeat="2020-01-01T00:00:00+00:00")
    fresh = trainable.add_job("predict", {"model_id": model, "item_ids": []})
    trainable.update_job(fresh, status="running", pid=os.getpid(), heartbeat=now())
    assert jobs.reap_stale(trainable) == [job]
    assert trainable.job(job)["status"] == "failed" and "stopped without" in trainable.job(job)["error"]
    assert trainable.job(fresh)["status"] == "running"  # alive and beating
    assert trainable.model(model)["status"] == "failed"


def test_cancel_before_start_and_after_end(trainable):
    model = create_candidate(trainable)
    job = trainable.add_job("train", {"model_id": model})
    jobs.cancel_job(trainable, job)
    assert jobs.run_job(trainable, job) == "cancelled"
    assert trainable.model(model)["status"] == "cancelled"  # never trained; active untouched
    with pytest.raises(ValueError, match="already ended"):
        jobs.cancel_job(trainable, job)


@pytest.mark.slow
def test_kill_9_mid_epoch_fails_the_job_within_30s_and_changes_nothing(trainable):
    first = create_candidate(trainable, override={"epochs": 1, "batch_size": 8, "width": 4})
    jobs.start_job(trainable, "train", {"model_id": first}, wait=True)
    trainable.apply_decision(first, "update_model")
    labels_before = _labels(trainable)

    victim = create_candidate(trainable, override={"epochs": 500, "batch_size": 4})
    job = jobs.start_job(trainable, "train", {"model_id": victim})
    deadline = time.monotonic() + 60
    while "epoch" not in (trainable.job(job)["message"] or ""):  # mid-training
        assert time.monotonic() < deadline, trainable.job(job)
        time.sleep(0.2)
    os.kill(trainable.job(job)["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    while trainable.job(job)["status"] != "failed":
        jobs.reap_stale(trainable)
        assert time.monotonic() - killed_at < 30, "the dead job was not marked failed in 30 s"
        time.sleep(0.5)
    assert trainable.active_model_id() == first
    assert trainable.model(victim)["status"] == "failed"
    assert _labels(trainable) == labels_before
    retry = create_candidate(trainable, override={"epochs": 1, "batch_size": 8, "width": 4})
    again = jobs.start_job(trainable, "train", {"model_id": retry}, wait=True)
    assert trainable.job(again)["status"] == "succeeded"


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return False  # reaped: gone


@pytest.mark.slow
def test_a_background_job_process_is_reaped_when_it_ends(trainable):
    """A long-lived parent (the Streamlit app) must not collect <defunct> job processes."""
    model = create_candidate(trainable)  # no checkpoint yet: the predict job fails at once
    job = jobs.start_job(trainable, "predict", {"model_id": model, "item_ids": []})
    pid = trainable.job(job)["pid"]
    deadline = time.monotonic() + 60
    while trainable.job(job)["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert trainable.job(job)["status"] == "failed"
    deadline = time.monotonic() + 30  # the process exits soon after writing its status
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _zombie(pid) and not os.path.exists(f"/proc/{pid}")  # exited and reaped

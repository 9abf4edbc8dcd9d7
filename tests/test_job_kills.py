"""Real job processes killed with SIGKILL at each stage (queued before it beats, queued
waiting for its turn, writing its checkpoint): within 30 s the job is failed and its
model too, in whichever process notices, and no half-written file stays behind.
(Killed mid-epoch: tests/test_jobs.py.)"""
from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from al_core.jobs import runner as jobs
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store, now
from al_core.training.candidates import create_candidate
from al_core.training.split import split_project

TINY = {"epochs": 1, "batch_size": 8, "width": 4}


@pytest.fixture
def trainable(demo_store):
    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    return demo_store


def _until(condition, what, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


def _kill_and_expect_failed(store: Store, job: int, model: int) -> None:
    """SIGKILL the job's process; a reader (here: another Store, as the app or the
    `jobs` command would be) must see the job and its model failed within 30 s."""
    os.kill(store.job(job)["pid"], signal.SIGKILL)
    killed = time.monotonic()
    with Store(store.root) as reader:
        while reader.job(job)["status"] != "failed":
            jobs.reap_stale(reader)
            assert time.monotonic() - killed < 30, f"not failed in 30 s: {reader.job(job)}"
            time.sleep(0.5)
        assert reader.model(model)["status"] == "failed"
    assert not list(store.models_dir.glob("*.tmp"))


@pytest.mark.slow
def test_a_training_killed_while_queued_ends_with_its_model(trainable):
    ahead = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    trainable.update_job(ahead, status="running", pid=os.getpid(), heartbeat=now())

    waiting_model = create_candidate(trainable, override=TINY)
    waiting = jobs.start_job(trainable, "train", {"model_id": waiting_model})
    _until(lambda: "waiting for job" in (trainable.job(waiting)["message"] or ""),
           lambda: trainable.job(waiting), timeout=90)  # queued, beating, waiting its turn
    _kill_and_expect_failed(trainable, waiting, waiting_model)

    starting_model = create_candidate(trainable, override=TINY)
    starting = jobs.start_job(trainable, "train", {"model_id": starting_model})
    assert trainable.job(starting)["heartbeat"] is None  # still importing: never beat
    _kill_and_expect_failed(trainable, starting, starting_model)

    trainable.update_job(ahead, status="succeeded")
    queued_model = create_candidate(trainable, override=TINY)
    queued = trainable.add_job("train", {"model_id": queued_model})  # no process yet
    assert jobs.cancel_job(trainable, queued) == "queued"
    assert trainable.job(queued)["status"] == "cancelled"
    assert trainable.model(queued_model)["status"] == "cancelled"


@pytest.mark.slow
def test_a_training_killed_while_writing_its_checkpoint_leaves_nothing(trainable, tmp_path,
                                                                        monkeypatch):
    """The job process is made to stall half-way through writing model-N.pt.tmp (a
    sitecustomize on its PYTHONPATH wraps the save), then is killed there."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""
        import time
        import al_core.training.train_job as train_job

        def stalled_save(obj, path):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(b"half a checkpoint")
            time.sleep(120)

        train_job.atomic_save = stalled_save
    """))
    monkeypatch.setenv("PYTHONPATH", str(hook))
    model = create_candidate(trainable, override=TINY)
    job = jobs.start_job(trainable, "train", {"model_id": model})
    partial = trainable.models_dir / f"model-{model}.pt.tmp"
    _until(partial.exists, lambda: trainable.job(job), timeout=120)
    _kill_and_expect_failed(trainable, job, model)
    assert not partial.exists() and not (trainable.models_dir / f"model-{model}.pt").exists()
    assert trainable.active_model_id() is None

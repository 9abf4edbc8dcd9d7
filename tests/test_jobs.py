"""Job processes: lifecycle, cancel, a stale heartbeat, a kill -9 mid-epoch, and
trainings that wait for each other."""
import os
import signal
import threading
import time

import pytest

from al_core.cli import job_kinds  # noqa: F401 - registers every job kind
from al_core.jobs import runner as jobs
from al_core.jobs import liveness
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store, now
from al_core.training.candidates import create_candidate
from al_core.training.split import split_project


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
    assert '"epoch": 2,' in row["log"] and '"val_map50"' in row["log"]  # one line an epoch
    m = trainable.model(model)
    assert m["status"] == "active" and m["metrics"]["epochs_run"] == 2  # the first model:
    assert trainable.model_decisions(model)[0]["comparison_id"] is None  # nothing to compare
    assert (trainable.root / m["checkpoint_path"]).exists()
    val_ids, _ = trainable.split_identity("val")  # predicted by the train job (the
    assert val_ids and not trainable.items_without_embedding(model, val_ids)  # threshold)
    assert "validation images (the pre-label threshold)" in row["log"]
    pool = [i.id for i in trainable.items(status="unlabeled")][:5]
    pjob = jobs.start_job(trainable, "predict", {"model_id": model, "item_ids": pool}, wait=True)
    assert trainable.job(pjob)["status"] == "succeeded"
    count = trainable.db.execute("SELECT count(DISTINCT item_id) FROM embeddings WHERE "
                                 "model_id = ?", [model]).fetchone()[0]
    assert count == 5 + len(val_ids)


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
    assert "it wrote no error" in trainable.job(job)["error"]  # killed: nothing to quote


def test_a_job_that_died_writing_its_checkpoint_leaves_no_file_and_says_why(trainable):
    """A full disk while the checkpoint was written: the reaper (any process) ends the
    job and its model, removes the half-written model-N.pt.tmp, and quotes the error the
    process wrote last instead of only 'stopped without finishing'."""
    model = create_candidate(trainable)
    job = trainable.add_job("train", {"model_id": model})
    trainable.update_job(job, status="running", pid=2 ** 22 + 9,
                         heartbeat="2020-01-01T00:00:00+00:00")
    partial = trainable.models_dir / f"model-{model}.pt.tmp"
    partial.write_bytes(b"half a checkpoint")
    (trainable.root / "jobs").mkdir(exist_ok=True)
    (trainable.root / "jobs" / f"job-{job}.log").write_text(
        "epoch 25/25\nTraceback (most recent call last):\n  ...\n"
        "OSError: [Errno 28] No space left on device\n\n")
    assert jobs.reap_stale(trainable) == [job]
    row = trainable.job(job)
    assert row["status"] == "failed"
    assert row["error"].endswith("its last output: OSError: [Errno 28] No space left on device")
    assert trainable.model(model)["status"] == "failed"
    assert not partial.exists()


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


def _running_training(store, pid=None):
    """A train job's row as its live process keeps it (this test process stands in)."""
    job = store.add_job("train", {"model_id": create_candidate(store)})
    store.update_job(job, status="running", pid=pid or os.getpid(), heartbeat=now())
    return job


class _RunInThread:
    """run_job of one job in a thread with its own connection; records whether the
    job's function ran."""

    def __init__(self, root, job_id, monkeypatch):
        self.ran, self.status = threading.Event(), None
        monkeypatch.setitem(jobs.KINDS, "train", lambda *args: self.ran.set())

        def run():
            with Store(root) as s:
                self.status = jobs.run_job(s, job_id, poll_s=0.05)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.status


def _until(condition, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_second_training_waits_for_the_first_and_starts_when_it_ends(trainable, monkeypatch):
    first = _running_training(trainable)
    second = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    assert jobs.job_ahead(trainable, second)["id"] == first
    run = _RunInThread(trainable.root, second, monkeypatch)
    _until(lambda: trainable.job(second)["message"], "no waiting message")
    row = trainable.job(second)
    assert row["status"] == "queued" and not run.ran.is_set()
    assert row["message"] == f"waiting for job {first} (train) to finish"
    time.sleep(0.3)  # several polls: still waiting
    assert trainable.job(second)["status"] == "queued" and not run.ran.is_set()
    trainable.update_job(first, status="succeeded", finished=now())
    assert run.join() == "succeeded" and run.ran.is_set()
    assert trainable.job(second)["started"] >= trainable.job(first)["finished"]


def test_other_kinds_do_not_wait_for_a_training(trainable):
    _running_training(trainable)
    predict = trainable.add_job("predict", {"model_id": 1, "item_ids": []})
    assert jobs.job_ahead(trainable, predict) is None


def test_trainings_start_first_come_first_served(trainable):
    first = _running_training(trainable)
    second = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    trainable.update_job(second, pid=os.getpid())  # its process lives, waiting
    third = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    assert jobs.job_ahead(trainable, third)["id"] == first
    trainable.update_job(first, status="succeeded")
    assert jobs.job_ahead(trainable, third)["id"] == second
    assert jobs.job_ahead(trainable, second) is None


def test_cancelling_a_waiting_training_ends_it_and_it_never_starts(trainable, monkeypatch):
    first = _running_training(trainable)
    model = create_candidate(trainable)
    second = trainable.add_job("train", {"model_id": model})
    run = _RunInThread(trainable.root, second, monkeypatch)
    _until(lambda: trainable.job(second)["message"], "no waiting message")
    assert jobs.cancel_job(trainable, second) == "queued"
    row = trainable.job(second)
    assert row["status"] == "cancelled" and row["finished"]  # at once, not at a later check
    assert trainable.model(model)["status"] == "cancelled"
    assert run.join() == "cancelled"
    trainable.update_job(first, status="succeeded")
    time.sleep(0.2)
    assert not run.ran.is_set() and trainable.job(second)["status"] == "cancelled"
    with Store(trainable.root) as s:  # a process that reaches run_job only now: no start
        assert jobs.run_job(s, second) == "cancelled" and not run.ran.is_set()


def test_a_dead_training_ahead_does_not_block_the_next(trainable, monkeypatch):
    dead = _running_training(trainable, pid=2 ** 22 + 7)
    trainable.update_job(dead, heartbeat="2020-01-01T00:00:00+00:00")
    second = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    run = _RunInThread(trainable.root, second, monkeypatch)
    assert run.join() == "succeeded" and run.ran.is_set()
    assert trainable.job(dead)["status"] == "failed"


def test_a_queued_job_whose_process_died_is_reaped(trainable):
    never_ran = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    trainable.update_job(never_ran, pid=2 ** 22 + 7)  # died before run_job (no heartbeat)
    starting = trainable.add_job("train", {"model_id": create_candidate(trainable)})
    trainable.update_job(starting, pid=os.getpid())  # alive, still importing: no heartbeat
    unstarted = trainable.add_job("predict", {"model_id": 1, "item_ids": []})  # no process yet
    assert jobs.reap_stale(trainable) == [never_ran]
    assert trainable.job(never_ran)["status"] == "failed"
    assert {trainable.job(j)["status"] for j in (starting, unstarted)} == {"queued"}
    assert jobs.job_ahead(trainable, starting) is None  # a failed job is not ahead


@pytest.mark.slow
def test_two_training_processes_run_one_after_the_other(trainable):
    tiny = {"epochs": 1, "batch_size": 8, "width": 4}
    first = jobs.start_job(trainable, "train", {"model_id": create_candidate(
        trainable, override=tiny)})
    second = jobs.start_job(trainable, "train", {"model_id": create_candidate(
        trainable, override=tiny)})
    _until(lambda: "waiting for job" in (trainable.job(second)["message"] or ""),
           trainable.job(second), timeout=60)
    assert trainable.job(second)["message"] == f"waiting for job {first} (train) to finish"
    done = [jobs.wait_for(trainable, j, poll_s=0.2) for j in (first, second)]
    assert [j["status"] for j in done] == ["succeeded", "succeeded"]
    assert done[1]["started"] >= done[0]["finished"]


def test_a_training_model_ends_with_its_job_in_any_process(trainable, monkeypatch):
    """The app and the cancel command have not loaded the job kinds' modules (torch):
    a cancelled or reaped training's model still ends with it."""
    monkeypatch.setattr(jobs, "ON_END", {})
    queued_model = create_candidate(trainable)
    queued = trainable.add_job("train", {"model_id": queued_model})
    jobs.cancel_job(trainable, queued)
    assert trainable.model(queued_model)["status"] == "cancelled"
    dead_model = create_candidate(trainable)
    dead = _running_training(trainable, pid=2 ** 22 + 7)
    trainable.update_job(dead, params='{"model_id": %d}' % dead_model,
                         heartbeat="2020-01-01T00:00:00+00:00")
    trainable.update_model(dead_model, status="training")
    assert jobs.reap_stale(trainable) == [dead]
    assert trainable.model(dead_model)["status"] == "failed"
    predicted = create_candidate(trainable)  # a failed predict does not end a candidate
    predict = trainable.add_job("predict", {"model_id": predicted, "item_ids": []})
    jobs.cancel_job(trainable, predict)
    assert trainable.model(predicted)["status"] == "candidate"


def test_a_long_writer_never_kills_a_running_jobs_progress(demo_store):
    """A long import held the database past the busy timeout, and the training's next
    progress write failed with 'database is locked', killing the training."""
    from al_core.store import Store

    job = demo_store.add_job("train", {})
    demo_store.update_job(job, status="running", pid=os.getpid(), heartbeat=now())
    with Store(demo_store.root) as mine, Store(demo_store.root) as importer:
        mine.db.execute("PRAGMA busy_timeout = 100")  # the real one is 10 s
        reporter = jobs.Reporter(mine, job)
        with importer.write():  # the long import's transaction
            reporter.progress(0.5, "epoch 5/10")  # skipped, not raised
            reporter.log("a line")
        reporter.progress(0.6, "epoch 6/10")  # the next one catches up
        row = mine.job(job)
    assert (row["progress"], row["message"]) == (0.6, "epoch 6/10")


def test_a_live_job_is_not_failed_for_a_late_heartbeat_only_when_hung(trainable, monkeypatch):
    """A long writer can hold a job's heartbeat up past any short timeout; a job whose
    process lives was marked failed then, and ran on under a failed row. It is failed
    only when silent for HUNG_AFTER_S, and then its process is stopped."""
    monkeypatch.setattr(liveness, "_started_at", lambda pid: 0.0)  # started before its beats
    late = _running_training(trainable)  # this process stands in: alive
    trainable.update_job(late, heartbeat=_ago(60))
    assert jobs.reap_stale(trainable) == []
    assert trainable.job(late)["status"] == "running"
    trainable.update_job(late, heartbeat=_ago(jobs.HUNG_AFTER_S + 5))
    assert jobs.reap_stale(trainable) == [late]  # pytest is no job runner: not killed
    row = trainable.job(late)
    assert row["status"] == "failed" and "(hung) and was stopped" in row["error"]
    assert trainable.model(row["params"]["model_id"])["status"] == "failed"


def test_a_pid_reused_by_a_newer_process_is_no_sign_of_life(trainable):
    """After a reboot the job's pid may belong to another process, one that started after
    the job's last heartbeat: the job is dead."""
    job = _running_training(trainable)  # os.getpid(): started long after 2020
    trainable.update_job(job, heartbeat="2020-01-01T00:00:00+00:00")
    assert jobs.reap_stale(trainable) == [job]
    assert "stopped without finishing" in trainable.job(job)["error"]


def test_a_hung_job_runners_process_group_is_killed(trainable):
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "run-job"],
                            start_new_session=True)
    try:
        time.sleep(0.5)
        jobs._stop_hung(proc.pid)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        proc.kill()


def test_a_job_reaped_meanwhile_keeps_its_failed_status(trainable, monkeypatch):
    """A job failed by a reaper (hung) that finishes later does not turn succeeded."""
    job = trainable.add_job("train", {"model_id": create_candidate(trainable)})

    def work(store, job_id, params, reporter):
        store.update_job(job_id, status="failed", error="reaped")

    monkeypatch.setitem(jobs.KINDS, "train", work)
    assert jobs.run_job(trainable, job) == "failed"
    assert trainable.job(job)["error"] == "reaped"


def _ago(seconds):
    from datetime import datetime, timedelta, timezone
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat()

"""Clocks lie; liveness and leases must not. The wall clock is stepped forward (an NTP
step, a laptop resuming) and back (an hour): a beating job is never killed, a dead one
is still found dead, a reused pid never passes for a job's process, and a lease never
lasts longer than its length."""
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from al_core import clock
from al_core.cli import job_kinds  # noqa: F401 - registers every job kind
from al_core.jobs import runner as jobs
from al_core.jobs import liveness
from al_core.store import Store
from al_core.training.candidates import create_candidate


def _stamp(offset_s: float) -> str:
    """A wall-clock heartbeat ``offset_s`` seconds from now as the job wrote it."""
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat()


def _running_job(store, *, pid=None, wall_offset_s=0.0, mono_age_s=0.0, **fields):
    """A running training's row as its process keeps it (this test process stands in)."""
    job = store.add_job("train", {"model_id": create_candidate(store)})
    store.update_job(job, status="running", **liveness.process_identity(pid or os.getpid()))
    store.update_job(job, heartbeat=_stamp(wall_offset_s),
                     beat_mono=clock.monotonic() - mono_age_s, **fields)
    return job


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_clock_stepped_400s_forward_does_not_kill_a_beating_job(demo_store):
    """It beat 1 s ago on the monotonic clock; its wall stamp reads 400 s old to a reader
    whose clock jumped. It was SIGKILLed as hung, its model failed."""
    job = _running_job(demo_store, wall_offset_s=-400, mono_age_s=1)
    assert jobs.reap_stale(demo_store) == []
    assert demo_store.job(job)["status"] == "running"
    model = demo_store.job(job)["params"]["model_id"]
    assert demo_store.model(model)["status"] == "candidate"


def test_a_clock_stepped_an_hour_back_does_not_keep_a_dead_job_alive(demo_store, dead_pid):
    """Its process is gone and its last beat was 10 s ago; its wall stamp lies an hour in
    the reader's future. The reaper called it alive until the clock caught up."""
    job = _running_job(demo_store, pid=dead_pid, wall_offset_s=3600, mono_age_s=10)
    assert jobs.reap_stale(demo_store) == [job]
    assert "stopped without finishing" in demo_store.job(job)["error"]


def test_a_job_silent_on_the_monotonic_clock_is_hung_whatever_the_wall_says(demo_store):
    job = _running_job(demo_store, wall_offset_s=3600, mono_age_s=jobs.HUNG_AFTER_S + 5)
    assert jobs.reap_stale(demo_store) == [job]  # pytest is no job runner: not killed
    assert "(hung) and was stopped" in demo_store.job(job)["error"]


def test_a_reused_pid_or_another_boot_is_no_sign_of_life(demo_store):
    own = liveness.process_start_ticks(os.getpid())
    reused = _running_job(demo_store, mono_age_s=10, pid_start=own + 1)  # pid, other process
    rebooted = _running_job(demo_store, mono_age_s=1, boot_id="another-boot")
    assert sorted(jobs.reap_stale(demo_store)) == [reused, rebooted]
    for job in (reused, rebooted):
        assert "stopped without finishing" in demo_store.job(job)["error"]


def test_a_job_that_beats_while_the_reaper_looks_is_not_killed(demo_store, monkeypatch):
    """Judged stale, then it beat before the reaper's write: it moved since the look."""
    job = _running_job(demo_store, mono_age_s=jobs.HUNG_AFTER_S + 5)
    judged = jobs._stale

    def stale_then_beat(row, hung_after_s):
        verdict = judged(row, hung_after_s)
        with Store(demo_store.root) as other:  # the job's own beat thread
            other.update_job(job, **liveness.beat_fields())
        return verdict

    monkeypatch.setattr(jobs, "_stale", stale_then_beat)
    assert jobs.reap_stale(demo_store) == []
    assert demo_store.job(job)["status"] == "running"


def test_a_real_job_records_its_process_and_monotonic_beats(demo_store, monkeypatch):
    monkeypatch.setitem(jobs.KINDS, "train", lambda store, job_id, params, reporter: None)
    job = demo_store.add_job("train", {"model_id": create_candidate(demo_store)})
    assert jobs.run_job(demo_store, job) == "succeeded"
    row = demo_store.job(job)
    assert (row["pid"], row["boot_id"]) == (os.getpid(), liveness.BOOT_ID)
    assert row["pid_start"] == liveness.process_start_ticks(os.getpid())
    assert 0 <= clock.monotonic() - row["beat_mono"] < 60


# -- leases -------------------------------------------------------------------------------

def _shift(monkeypatch, *, wall_s=0.0, mono_s=0.0):
    """Step the wall clock by ``wall_s`` and let ``mono_s`` seconds of real time pass."""
    wall, mono = time.time, time.monotonic
    monkeypatch.setattr(time, "time", lambda: wall() + wall_s)
    monkeypatch.setattr(clock, "monotonic", lambda: mono() + mono_s)


def test_a_lease_never_outlives_its_length_when_the_clock_steps_back(demo_store, monkeypatch):
    item = demo_store.items(status="unlabeled")[0].id
    assert demo_store.claim(item, "ana", seconds=300) is None
    _shift(monkeypatch, wall_s=-3600, mono_s=299)
    assert demo_store.holder(item) == "ana"  # still within its 300 s
    assert demo_store.claim(item, "bob", seconds=300) == "ana"
    _shift(monkeypatch, wall_s=-3600, mono_s=301)
    assert demo_store.holder(item) is None  # was held until 65 minutes had passed
    assert demo_store.claim(item, "bob", seconds=300) is None


def test_a_clock_stepped_forward_does_not_end_a_lease_early(demo_store, monkeypatch):
    item = demo_store.items(status="unlabeled")[0].id
    assert demo_store.claim(item, "ana", seconds=300) is None
    _shift(monkeypatch, wall_s=400, mono_s=5)
    assert demo_store.holder(item) == "ana"


def test_leases_of_another_boot_or_from_before_the_upgrade_have_ended(demo_store):
    first, second = [i.id for i in demo_store.items(status="unlabeled")[:2]]
    demo_store.claim(first, "ana", seconds=300)
    demo_store.db.execute("UPDATE claims SET boot_id = 'another-boot' WHERE item_id = ?",
                          [first])
    demo_store.db.execute("INSERT INTO claims (item_id, holder, expires) VALUES (?, ?, ?)",
                          [second, "ana", time.time() + 300])  # a row written before m008
    assert demo_store.holder(first) is None and demo_store.holder(second) is None
    assert demo_store.claim(second, "bob", seconds=60) is None  # taken over, not stuck
    assert demo_store.holder(second) == "bob"

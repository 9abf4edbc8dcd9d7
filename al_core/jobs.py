"""Background jobs: each runs in its own process (``python -m al_core run-job``), writes
progress and a heartbeat to SQLite, can be cancelled, and survives the UI's reloads.

A job whose process died (``kill -9``, out of memory, a reboot) stops beating; any reader
that calls :func:`reap_stale` marks it failed once its heartbeat is ``STALE_AFTER_S``
old. A job's work is written only when it succeeds, so a failed or cancelled job never
changes labels or the active model.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from al_core.store import Store, now

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
STALE_AFTER_S = 15.0
JOB_KINDS = ("train", "retrain", "predict", "query", "compare")  # registered by al_core.registry, .query
KINDS: dict[str, Callable] = {}  # kind -> fn(store, job_id, params, reporter)


def job_kind(name: str):
    """Register the function that runs jobs of this kind."""
    def register(fn):
        KINDS[name] = fn
        return fn
    return register


class Cancelled(Exception):
    """Raised inside a job when a cancel was requested."""


class Reporter:
    """What a running job uses to report progress and see cancel requests."""

    def __init__(self, store: Store, job_id: int) -> None:
        self.store, self.job_id = store, job_id

    def progress(self, fraction: float, message: str) -> None:
        self.store.update_job(self.job_id, progress=max(0.0, min(1.0, fraction)),
                              message=message, heartbeat=now())

    def log(self, line: str) -> None:
        self.store.append_job_log(self.job_id, line)

    def cancel_requested(self) -> bool:
        row = self.store.db.execute("SELECT cancel_requested FROM jobs WHERE id = ?",
                                    [self.job_id]).fetchone()
        return bool(row and row[0])


class PartReporter:
    """A part of a longer piece of work, as :func:`registry.predict_items` reports to it:
    its progress maps into ``[start, start + span]`` of the whole, prefixed by ``what``."""

    def __init__(self, progress: Callable[[float, str], None] | None,
                 should_stop: Callable[[], bool] | None, start: float, span: float,
                 what: str) -> None:
        self.cb, self.stop, self.what = progress, should_stop, what
        self.start, self.span = start, span  # this part's share of the whole

    def progress(self, fraction: float, message: str) -> None:
        if self.cb:
            self.cb(self.start + self.span * fraction, f"{self.what}: {message}")

    def cancel_requested(self) -> bool:
        return bool(self.stop and self.stop())


def start_job(store: Store, kind: str, params: dict, *, wait: bool = False) -> int:
    """Queue a job and start its process (detached from the caller's session, so a
    Streamlit rerun or a closed terminal does not stop it). ``wait`` blocks until done."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
    job_id = store.add_job(kind, params)
    logs = store.root / "jobs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                      env.get("PYTHONPATH")]))
    with open(logs / f"job-{job_id}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "al_core", "run-job", "--project", str(store.root),
             "--job", str(job_id)], stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    store.update_job(job_id, pid=proc.pid)
    if wait:
        proc.wait()
    else:  # reap it when it ends, so a long-lived app (Streamlit) collects no zombies
        threading.Thread(target=proc.wait, name=f"reap-job-{job_id}", daemon=True).start()
    return job_id


def _beat(project: Path, job_id: int, stop: threading.Event) -> None:
    with Store(project) as store:  # its own connection: sqlite3 objects stay in one thread
        while not stop.wait(HEARTBEAT_S):
            store.update_job(job_id, heartbeat=now())


def run_job(store: Store, job_id: int) -> str:
    """Run a queued job in this process; returns its final status."""
    job = store.job(job_id)
    if job["status"] != "queued":
        raise ValueError(f"job {job_id} is {job['status']}, not queued")
    store.update_job(job_id, status="running", pid=os.getpid(), started=now(), heartbeat=now())
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(store.root, job_id, stop), daemon=True)
    beat.start()
    reporter = Reporter(store, job_id)
    try:
        if reporter.cancel_requested():
            raise Cancelled()
        KINDS[job["kind"]](store, job_id, job["params"], reporter)
        status, error = "succeeded", None
    except Cancelled:
        status, error = "cancelled", "cancelled on request"
    except BaseException as exc:  # noqa: BLE001 - recorded, then the process exits non-zero
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        reporter.log(traceback.format_exc())
    finally:
        stop.set()
        beat.join()
    end = {"progress": 1.0} if status == "succeeded" else {}  # else: where it stopped
    store.update_job(job_id, status=status, error=error, finished=now(), heartbeat=now(), **end)
    _on_end(store, job_id, status)
    return status


ON_END: dict[str, Callable] = {}  # kind -> fn(store, job_id, status) for failed/cancelled


def _on_end(store: Store, job_id: int, status: str) -> None:
    job = store.job(job_id)
    if status != "succeeded" and job["kind"] in ON_END:
        ON_END[job["kind"]](store, job_id, status)


def cancel_job(store: Store, job_id: int) -> str:
    """Ask a job to stop; a queued job is cancelled at once. Returns the job's status."""
    job = store.job(job_id)
    if job["status"] in ("succeeded", "failed", "cancelled"):
        raise ValueError(f"job {job_id} has already ended ({job['status']})")
    store.update_job(job_id, cancel_requested=1)
    return job["status"]


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
        return state != "Z"
    except OSError:
        return True


def reap_stale(store: Store, *, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Mark failed every running job whose heartbeat is older than ``stale_after_s`` (or
    whose process is gone); returns their ids."""
    reaped = []
    for job in store.jobs(status="running", limit=1000):
        dead = not _alive(job["pid"]) and _age_s(job["heartbeat"]) > HEARTBEAT_S * 2
        if _age_s(job["heartbeat"]) > stale_after_s or dead:
            store.update_job(job["id"], status="failed", finished=now(),
                             error=f"the job's process (pid {job['pid']}) stopped without "
                                   f"finishing; last heartbeat {job['heartbeat']}")
            _on_end(store, job["id"], "failed")
            reaped.append(job["id"])
    return reaped


def wait_for(store: Store, job_id: int, *, poll_s: float = 0.5,
             on_progress: Callable[[dict], None] | None = None) -> dict:
    """Poll until the job ends (reaping it if its process dies); returns its row."""
    while True:
        reap_stale(store)
        job = store.job(job_id)
        if on_progress:
            on_progress(job)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(poll_s)


def describe(job: dict) -> str:
    return json.dumps({k: job[k] for k in ("id", "kind", "status", "progress", "message",
                                           "error", "created", "finished")})

"""Background jobs: each runs in its own process (``python -m al_core run-job``), writes
progress and a heartbeat to SQLite, can be cancelled, and survives the UI's reloads.

A job whose process died (``kill -9``, out of memory, a reboot) stops beating; any reader
that calls :func:`reap_stale` marks it failed, and its model with it, two heartbeats
later. A job whose process lives is failed only when it has not beaten for
``HUNG_AFTER_S`` (stopped or hung), never because another writer delayed its beat.
Heartbeats are aged on the monotonic clock and processes identified by their start
ticks (:mod:`al_core.jobs.liveness`), so a wall-clock step neither kills a beating job nor
keeps a dead one alive.

A cancel is final. A running job checks for it between its units of work (a prediction
chunk, an epoch, a bootstrap batch) and, last, inside the write transaction that stores
its result (:meth:`~al_core.jobs.reporter.Reporter.commit`), which also marks the job
succeeded: a cancel requested before that commit rolls the result back and ends the job ``cancelled`` with
no decision stored and the active model untouched; one requested after it finds the
job ended. A job's work is written only when it succeeds, so a failed or cancelled job
never changes labels or the active model.

Trainings (``SERIAL_KINDS``) each use every core, so they run one at a time: a second
one stays queued, its process waiting, with the message "waiting for job N (train) to
finish", and starts when the first ends (or is found dead). Cancelling a queued job ends
it at once; it never starts.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from al_core.jobs.liveness import alive, beat_age_s, beat_fields, process_identity, runs_job
from al_core.jobs.reporter import Reporter, bookkeeping
from al_core.permissions import PermissionDenied
from al_core.store import Store, now
from al_core.types import Cancelled  # noqa: F401 - raised by the job kinds through here

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
HUNG_AFTER_S = 300.0  # a job whose process lives but has not beaten for this long: hung
WAIT_POLL_S = 1.0  # how often a queued training looks whether its turn has come
SERIAL_KINDS = ("train", "retrain")  # each uses every core: one runs, the others wait
# registered on import of their modules, which al_core.cli.job_kinds imports for run-job
JOB_KINDS = ("train", "retrain", "predict", "query", "compare")
KINDS: dict[str, Callable] = {}  # kind -> fn(store, job_id, params, reporter)


def job_kind(name: str):
    """Register the function that runs jobs of this kind."""
    def register(fn):
        KINDS[name] = fn
        return fn
    return register


# kind -> the action (al_core.permissions.ACTIONS) whose role may start a job of it; the
# job's process acts as its requester and is judged again when it starts running
KIND_ACTIONS = {"train": "train", "retrain": "train", "predict": "train", "query": "query",
                "compare": "compare"}


def _authorize_kind(store: Store, kind: str, params: dict):
    """The acting user, if they may run a job of this kind (with ``apply``, a compare or
    retrain also decides); PermissionDenied otherwise."""
    actor = store.authorize(KIND_ACTIONS.get(kind, "train"))
    if params.get("apply"):
        store.authorize("decide")
    return actor


# Kinds of which a second job is refused while one is queued or running: two queries at
# once pick from the same pool under one round number (and one default name), and the
# second failed only after scoring the whole pool.
ONE_AT_A_TIME = ("query",)


def start_job(store: Store, kind: str, params: dict, *, wait: bool = False) -> int:
    """Queue a job and start its process (detached from the caller's session, so a
    Streamlit rerun or a closed terminal does not stop it). ``wait`` blocks until done.
    Raises ValueError for an unknown kind, or for a kind of ``ONE_AT_A_TIME`` while a job
    of it has not ended (naming that job).

    Team mode: the acting user must be allowed the kind's action (:data:`KIND_ACTIONS`;
    PermissionDenied at once, nothing queued); the job records them as its requester
    and its process acts as them. A ``decided_by`` in ``params`` must be their name
    (None stands for it)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
    actor = _authorize_kind(store, kind, params)
    if "decided_by" in params and store.team_mode():
        params = {**params, "decided_by": store.own_name(params["decided_by"],
                                                         what="decided_by")}
    if kind in ONE_AT_A_TIME:
        reap_stale(store)  # a dead one must not block the next forever
    with store.write():  # checked and queued at once
        if kind in ONE_AT_A_TIME:
            busy = [j for j in store.jobs(status="running", limit=1000)
                    + store.jobs(status="queued", limit=1000) if j["kind"] == kind]
            if busy:
                raise ValueError(f"job {busy[0]['id']} ({kind}) has not finished yet: wait "
                                 f"for it (two at once would pick from the same pool)")
        job_id = store.add_job(kind, params)
        store.update_job(job_id, requested_by=actor.name)
        store.audit("job.start", object_type="job", object_id=job_id,
                    summary=f"started a {kind} job (#{job_id})",
                    after={k: v for k, v in params.items() if k != "item_ids"}
                    | ({"item_ids": len(params["item_ids"])} if "item_ids" in params else {}))
    logs = store.root / "jobs"
    logs.mkdir(exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if k != "ALS_PASSWORD"},  # never passed on
           "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH")]))
    with open(logs / f"job-{job_id}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "al_core", "run-job", "--project", str(store.root),
             "--job", str(job_id)], stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    store.update_job(job_id, **process_identity(proc.pid))
    if wait:
        proc.wait()
    else:  # reap it when it ends, so a long-lived app (Streamlit) collects no zombies
        threading.Thread(target=proc.wait, name=f"reap-job-{job_id}", daemon=True).start()
    return job_id


def _beat(project: Path, job_id: int, stop: threading.Event) -> None:
    with Store(project) as store:  # its own connection: sqlite3 objects stay in one thread
        while not stop.wait(HEARTBEAT_S):  # never dies of a busy database
            bookkeeping(store.update_job, job_id, **beat_fields())


def job_ahead(store: Store, job_id: int) -> dict | None:
    """The job this one waits for before it may start, or None: for a training
    (``SERIAL_KINDS``), a training that is running, or queued before it with a live
    process (first come, first served)."""
    job = store.job(job_id)
    if job["kind"] not in SERIAL_KINDS:
        return None
    others = store.jobs(status="running", limit=1000) + store.jobs(status="queued", limit=1000)
    for other in sorted(others, key=lambda j: j["id"]):
        if other["id"] == job_id or other["kind"] not in SERIAL_KINDS:
            continue
        if other["status"] == "running" or (other["id"] < job_id and alive(other["pid"])):
            return other
    return None


def _take_turn(store: Store, job_id: int, poll_s: float) -> bool:
    """Wait until no job is ahead of this one, then mark it running. False when it ended
    while it waited (cancelled, or reaped), and must not start."""
    waiting_for = None
    while True:
        with store.write():  # checked and marked at once: two waiters never both start
            if store.job(job_id)["status"] != "queued":
                return False
            ahead = job_ahead(store, job_id)
            if ahead is None:
                store.update_job(job_id, **{**process_identity(os.getpid()),
                                            **beat_fields(), "status": "running",
                                            "started": now(), "message": None})
                return True
            if ahead["id"] != waiting_for:
                waiting_for = ahead["id"]
                store.update_job(job_id, message=f"waiting for job {ahead['id']} "
                                                 f"({ahead['kind']}) to finish")
        time.sleep(poll_s)
        reap_stale(store)  # a job ahead whose process died must not block this one


def _run_kind(store: Store, job: dict, reporter: Reporter) -> tuple[str, str | None]:
    """Run the job's function, as its requester may now (a lead demoted or disabled
    since they started it is refused: the job fails saying so); returns (final status,
    error)."""
    try:
        if reporter.cancel_requested():
            raise Cancelled()
        _authorize_kind(store, job["kind"], job["params"])
        KINDS[job["kind"]](store, job["id"], job["params"], reporter)
        return "succeeded", None
    except Cancelled:
        return "cancelled", "cancelled on request"
    except PermissionDenied as exc:
        reporter.log(f"refused: {exc}")
        return "failed", f"refused: {exc}"
    except BaseException as exc:  # noqa: BLE001 - recorded, then the process exits non-zero
        reporter.log(traceback.format_exc())
        return "failed", f"{type(exc).__name__}: {exc}"


def run_job(store: Store, job_id: int, *, poll_s: float = WAIT_POLL_S) -> str:
    """Run a queued job in this process (a training first waits for its turn), acting
    as the user who requested it (``jobs.requested_by``); returns its final status."""
    job = store.job(job_id)
    store.act_as(job.get("requested_by"))
    if job["status"] == "cancelled" and job["cancel_requested"]:
        return "cancelled"  # cancelled while queued: it never starts
    if job["status"] != "queued":
        raise ValueError(f"job {job_id} is {job['status']}, not queued")
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(store.root, job_id, stop), daemon=True)
    beat.start()  # while it waits too, so readers can tell a waiting job is alive
    try:
        started = _take_turn(store, job_id, poll_s)
        if started:
            status, error = _run_kind(store, job, Reporter(store, job_id))
    finally:
        stop.set()
        beat.join()
    if not started:
        return store.job(job_id)["status"]
    end = {"progress": 1.0} if status == "succeeded" else {}  # else: where it stopped
    for _ in range(30):  # the job's outcome must be recorded: wait out a long writer
        if bookkeeping(_record_end, store, job_id, status=status, error=error,
                        finished=now(), **beat_fields(), **end):
            break
    _on_end(store, job_id, status)
    return store.job(job_id)["status"]


def _record_end(store: Store, job_id: int, **fields) -> None:
    """The job's outcome, unless a reaper has already ended it (its first word stands)."""
    with store.write():
        if store.job(job_id)["status"] == "running":
            store.update_job(job_id, **fields)


ON_END: dict[str, Callable] = {}  # kind -> fn(store, job_id, status) for failed/cancelled


def _on_end(store: Store, job_id: int, status: str) -> None:
    """A job failed or was cancelled: its training's candidate model ends with it, in
    whichever process saw the end (the app reaping a dead job, a cancel of a queued one:
    processes that have not loaded the job kinds' modules, and their ON_END hooks)."""
    if status == "succeeded":
        return
    job = store.job(job_id)
    model_id = job["params"].get("model_id")
    if job["kind"] in SERIAL_KINDS and model_id is not None:
        try:
            model = store.model(model_id)
        except KeyError:  # deleted meanwhile
            model = None
        if model and model["status"] in ("candidate", "training"):
            store.update_model(model_id, status="cancelled" if status == "cancelled"
                               else "failed")
        elif (model and status == "cancelled" and job["kind"] == "retrain"
              and model["status"] == "trained" and model["job_id"] == job_id):
            # cancelled after its training, while it was being compared: the person
            # asked to drop it, so it is not offered for a rollback either
            store.update_model(model_id, status="cancelled")
        # a checkpoint the training was writing when it died (training.checkpoints.atomic_save)
        (store.models_dir / f"model-{model_id}.pt.tmp").unlink(missing_ok=True)
    if job["kind"] in ON_END:
        ON_END[job["kind"]](store, job_id, status)


def cancel_job(store: Store, job_id: int) -> str:
    """Ask a job to stop: a queued one (a training waiting for its turn included) is
    cancelled at once and never starts; a running one stops at its next check. Returns
    the status the job had. Team mode: a lead's work (``cancel_job``)."""
    with store.write():
        store.authorize("cancel_job")
        job = store.job(job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            raise ValueError(f"job {job_id} has already ended ({job['status']})")
        if job["status"] == "queued":
            store.update_job(job_id, cancel_requested=1, status="cancelled", finished=now(),
                             error="cancelled on request")
        else:
            store.update_job(job_id, cancel_requested=1)
        store.audit("job.cancel", object_type="job", object_id=job_id,
                    summary=f"cancelled job #{job_id} ({job['kind']}, {job['status']})",
                    before={"status": job["status"]})
    if job["status"] == "queued":
        _on_end(store, job_id, "cancelled")
    return job["status"]


def _stale(job: dict, hung_after_s: float) -> bool:
    """Whether a running or queued job's process is gone (or hung).

    A job whose process lives is not reaped for a late heartbeat alone: its beat may be
    held up by another writer (a long import) and it would then run on with its row
    marked failed. Only one silent for ``hung_after_s`` (a stopped or hung process) is."""
    if job["status"] == "queued" and not job["heartbeat"]:
        # not in run_job yet (still starting, e.g. importing torch): only a dead process
        return job["pid"] is not None and not alive(job["pid"])
    age = beat_age_s(job)
    if runs_job(job):
        return age > hung_after_s
    return age > HEARTBEAT_S * 2


def _last_output(store: Store, job_id: int, *, limit: int = 300) -> str:
    """The last non-empty line the job's process wrote to its log file (an exception
    such as "OSError: [Errno 28] No space left on device" says why it stopped)."""
    path = store.root / "jobs" / f"job-{job_id}.log"
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    last = next((ln for ln in reversed(lines) if ln), "")
    return last[:limit] + ("..." if len(last) > limit else "")


def _stop_hung(pid: int) -> None:
    """Kill a hung job's process group (each job is a session leader), so it cannot
    finish later against a row already failed; only a process that is a job runner."""
    try:
        if b"run-job" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def reap_stale(store: Store, *, hung_after_s: float = HUNG_AFTER_S) -> list[int]:
    """Mark failed every running or queued job whose process is gone (and its model
    with it), or that has not beaten for ``hung_after_s`` seconds; returns their ids."""
    reaped = []
    for job in store.jobs(status="running", limit=1000) + store.jobs(status="queued",
                                                                      limit=1000):
        if not _stale(job, hung_after_s):
            continue
        hung = runs_job(job)
        with store.write():
            current = store.job(job["id"])
            if current["status"] != job["status"] or (
                    current["beat_mono"], current["heartbeat"]) != (job["beat_mono"],
                                                                    job["heartbeat"]):
                continue  # it moved on meanwhile (started, beat, or ended): alive
            last = _last_output(store, job["id"])
            why = (f"has not reported for over {hung_after_s:.0f} s (hung) and was stopped"
                   if hung else "stopped without finishing")
            store.update_job(job["id"], status="failed", finished=now(),
                             error=f"the job's process (pid {job['pid']}) {why}; last "
                                   f"heartbeat {job['heartbeat']}"
                                   + (f"; its last output: {last}" if last else
                                      " (killed, or out of memory: it wrote no error)"))
        if hung:
            _stop_hung(job["pid"])
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

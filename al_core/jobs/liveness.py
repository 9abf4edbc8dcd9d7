"""Clocks that do not lie: whether a job's process is alive and still that job's, and how
long ago it beat, judged without trusting the wall clock.

The wall clock jumps: an NTP step, a laptop resuming, a person setting the time. A
heartbeat aged by wall-clock time alone made a reader kill a healthy training when the
clock stepped 400 s forward, and kept a dead one "alive" for an hour when it stepped
back. So every beat records, beside its wall time (for people to read):

- ``beat_mono``: ``time.monotonic()`` (Linux ``CLOCK_MONOTONIC``: one clock for every
  process of a boot, never stepped, not counting suspend), and
- ``boot_id``: which boot of the machine it was read in (``/proc/sys/kernel/random/
  boot_id``), since monotonic readings of two boots cannot be compared.

A job's process is identified by its pid, its boot and its start time in clock ticks
since boot (``/proc/PID/stat``, field 22): a pid reused by another process, in this boot
or after a reboot, never passes for the job's. Rows written before these were recorded
fall back to the older wall-clock rules.

Leases (:mod:`al_core.store.review`) use the same readings: a lease holds for its length
of monotonic time in the boot it was taken in, whatever the wall clock did.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from al_core import clock
from al_core.clock import BOOT_ID


def beat_fields() -> dict:
    """The columns a heartbeat writes: wall time for people, the monotonic reading and
    the boot for liveness."""
    return {"heartbeat": _wall_stamp(), "beat_mono": clock.monotonic(), "boot_id": BOOT_ID}


def _wall_stamp() -> str:
    """The wall time as the store writes its timestamps (ISO 8601, UTC, seconds)."""
    return datetime.fromtimestamp(clock.wall_time(), timezone.utc).isoformat(
        timespec="seconds")


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (``/proc/PID/stat`` field
    22); None when unknown (no such process, or no /proc)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_identity(pid: int) -> dict:
    """The columns that identify a job's process: pid, its start ticks and the boot."""
    return {"pid": pid, "pid_start": process_start_ticks(pid), "boot_id": BOOT_ID}


def alive(pid: int | None) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
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


def _started_at(pid: int) -> float | None:
    """When the process started (wall seconds since the epoch, from /proc); None
    elsewhere. Only for rows that recorded no start ticks."""
    ticks = process_start_ticks(pid)
    try:
        boot = next(float(line.split()[1]) for line in
                    Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return None if ticks is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def runs_job(job: dict) -> bool:
    """Whether the job's recorded process is alive and is still that process. With the
    process's start ticks and boot recorded, they must match exactly; for older rows, a
    pid whose process started after the job's last beat is another process."""
    pid = job["pid"]
    if not alive(pid):
        return False
    if job.get("pid_start") is not None and job.get("boot_id"):
        return job["boot_id"] == BOOT_ID and process_start_ticks(pid) == job["pid_start"]
    started, beat = _started_at(pid), job["heartbeat"]
    if started is None or not beat:
        return True
    return started <= datetime.fromisoformat(beat).timestamp() + 1.0


def beat_age_s(job: dict) -> float:
    """Seconds since the job's last heartbeat: on the monotonic clock for a beat of this
    boot (a wall-clock step moves nothing), infinite for a beat of another boot (its
    process is gone), and by wall-clock time only for rows without a monotonic reading
    (written by an older version). Never negative."""
    if job.get("beat_mono") is not None and job.get("boot_id"):
        age = clock.monotonic() - job["beat_mono"]
        if job["boot_id"] != BOOT_ID or age < -1.0:  # a reading of another boot
            return float("inf")
        return max(0.0, age)
    stamp = job.get("heartbeat")
    if not stamp:
        return float("inf")
    wall = datetime.fromtimestamp(clock.wall_time(), timezone.utc)
    return max(0.0, (wall - datetime.fromisoformat(stamp)).total_seconds())

"""The machine's clocks, read in one place: the wall clock (which can jump) and the
monotonic clock of this boot (which cannot), with the boot it belongs to. Nothing here
imports the rest of the library, so the store and the job reaper can both use it
(:mod:`al_core.jobs.liveness` explains what is judged with which)."""
from __future__ import annotations

import time
from pathlib import Path


def _read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # no /proc (macOS): a reboot is seen as a reading from the future
        return "unknown"


BOOT_ID = _read_boot_id()


def monotonic() -> float:
    """Seconds on this boot's monotonic clock (Linux ``CLOCK_MONOTONIC``: one clock for
    every process of a boot, never stepped, not counting suspend)."""
    return time.monotonic()


def wall_time() -> float:
    """Seconds since the epoch on the wall clock (the one that can jump)."""
    return time.time()

"""What the CLI's commands share on the console: opening the project as the acting
user, a progress bar on stderr, JSON arguments given inline or as a file, and following
a job until it ends."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from al_core.formats.json_input import MAX_TEXT_CHARS, parse_json, read_json_file
from al_core.jobs import runner as jobs
from al_core.names import printable
from al_core.store import Store


ACTING_USER_ENV = "ALS_USER"  # the acting user when a command has no --as


def acting_user(args) -> str | None:
    """Who the command acts as: ``--as NAME``, else ``$ALS_USER``, else nobody (which a
    project in team mode refuses for every change)."""
    return getattr(args, "as_user", None) or os.environ.get(ACTING_USER_ENV) or None


def open_store(args, *, create: bool = False) -> Store:
    """The command's project (``--project``), acting as :func:`acting_user`: every
    command opens its project here, so the permission checks see who acts."""
    return Store(args.project, create=create, actor=acting_user(args))


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last = ""

    def progress_line(self, fraction: float, message: str) -> None:
        filled = int(30 * fraction)
        shown = printable(message, None)  # a job's message may quote a name
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {shown}"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            sys.stderr.flush()
        elif shown != self.last:
            print(line, file=sys.stderr)
        self.last = shown

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.tty:
            return
        filled = int(30 * done / max(total, 1))
        elapsed = time.monotonic() - self.start
        sys.stderr.write(f"\r{what:<18} [{'#' * filled}{'.' * (30 - filled)}] "
                         f"{done}/{total} {elapsed:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


class ConsoleReporter:
    """What library work run in the CLI's own process (not as a job) reports to, as a
    job's Reporter: progress on stderr. Ctrl-C stops it, so it never asks to cancel."""

    def __init__(self) -> None:
        self.bar = ProgressBar()

    def progress(self, fraction: float, message: str) -> None:
        self.bar.progress_line(fraction, message)

    def cancel_requested(self) -> bool:
        return False


def json_arg(text: str | None, what: str) -> dict:
    """A JSON object given inline or as a path to a file, read by the one bounded reader
    (:mod:`al_core.formats.json_input`; a file as large as an inline config may be). Raises
    ValueError naming ``what`` for a file or text that is not a usable JSON object."""
    if not text:
        return {}
    looks_like_json = text.lstrip()[:1] in ("{", "[")  # never tried as a path: a long
    if not looks_like_json and Path(text).is_file():  # one is "File name too long" there
        return read_json_file(text, what, expect=dict, max_bytes=MAX_TEXT_CHARS)
    return parse_json(text, what if looks_like_json else f"{what} (not a file)", expect=dict)


def follow_job(store: Store, job_id: int) -> int:
    bar = ProgressBar()
    try:
        job = jobs.wait_for(store, job_id, on_progress=lambda j: bar.progress_line(
            j["progress"], j["message"] or j["status"]))
    except KeyboardInterrupt:
        try:
            jobs.cancel_job(store, job_id)
            print("\ncancelling...", file=sys.stderr)
        except ValueError:  # it stored its result just before: that stands
            print("\nthe job had already finished; its result stands", file=sys.stderr)
        job = jobs.wait_for(store, job_id)
    bar.finish()
    print(f"job {job_id} {job['status']}"
          + (f": {printable(job['error'], None)}" if job["error"] else ""))
    return 0 if job["status"] == "succeeded" else 1

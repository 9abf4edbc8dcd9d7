"""What a running job reports through: progress, log lines and cancel checks
(:class:`Reporter`, one per job; :class:`PartReporter` for a part of a longer piece of
work), each written best effort (:func:`bookkeeping`) so another writer holding the
database does not kill the job. A cancel is final; :meth:`Reporter.commit` is where a
job's result and its success are written in one transaction."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from al_core.jobs.liveness import beat_fields
from al_core.store import Store, now
from al_core.types import Cancelled

log = logging.getLogger(__name__)


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def bookkeeping(write: Callable, *args, **kwargs) -> bool:
    """A progress, log or heartbeat write: best effort. Another writer holding the
    database past the busy timeout (a long import) skips this one instead of killing
    the job; the next one catches up. Returns whether it was written."""
    try:
        write(*args, **kwargs)
        return True
    except sqlite3.OperationalError as exc:
        if not _locked(exc):
            raise
        log.warning("job bookkeeping write skipped: %s", exc)
        return False


class Reporter:
    """What a running job uses to report progress and see cancel requests."""

    def __init__(self, store: Store, job_id: int) -> None:
        self.store, self.job_id = store, job_id

    def progress(self, fraction: float, message: str) -> None:
        bookkeeping(self.store.update_job, self.job_id, progress=max(0.0, min(1.0, fraction)),
                     message=message, **beat_fields())

    def log(self, line: str) -> None:
        bookkeeping(self.store.append_job_log, self.job_id, line)

    def cancel_requested(self) -> bool:
        row = self.store.db.execute("SELECT cancel_requested FROM jobs WHERE id = ?",
                                    [self.job_id]).fetchone()
        return bool(row and row[0])

    def check(self) -> None:
        """Raise :class:`Cancelled` when a cancel was requested (between units of work)."""
        if self.cancel_requested():
            raise Cancelled()

    def commit(self) -> None:
        """Call inside the write transaction that stores the job's result, before the
        result is written: raises :class:`Cancelled` (rolling the transaction back) when
        a cancel was requested, else marks the job succeeded in the same transaction, so
        a cancel that comes later finds it ended instead of being ignored."""
        if not self.store.db.conn.in_transaction:
            raise RuntimeError("Reporter.commit must run inside the result's write "
                               "transaction (store.write())")
        self.check()
        self.store.update_job(self.job_id, status="succeeded", progress=1.0, finished=now(),
                              error=None, **beat_fields())


class PartReporter:
    """A part of a longer piece of work, as
    :func:`~al_core.training.prediction.predict_items` reports to it: its progress maps into ``[start, start + span]`` of the whole, prefixed by ``what``."""

    def __init__(self, progress: Callable[[float, str], None] | None,
                 should_stop: Callable[[], bool] | None, start: float, span: float,
                 what: str, *, commit: Callable[[], None] | None = None) -> None:
        self.cb, self.stop, self.what = progress, should_stop, what
        self.start, self.span = start, span  # this part's share of the whole
        self._commit = commit  # the whole job's Reporter.commit, when this part ends it

    def progress(self, fraction: float, message: str) -> None:
        if self.cb:
            self.cb(self.start + self.span * fraction, f"{self.what}: {message}")

    def cancel_requested(self) -> bool:
        return bool(self.stop and self.stop())

    def check(self) -> None:
        """Raise :class:`Cancelled` when a cancel was requested."""
        if self.cancel_requested():
            raise Cancelled()

    def commit(self) -> None:
        """Inside the write transaction storing this part's result: the whole job's
        :meth:`Reporter.commit` when this part is its last, else a cancel check."""
        if self._commit:
            self._commit()
        else:
            self.check()

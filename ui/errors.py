"""What a page shows when something fails: one readable message, never a traceback; the
traceback goes to the project's log file, ``<project>/logs/app.log`` (Python logging;
the folder is made on demand).

Three ways in, one report (:func:`report`):

- :func:`guarded`: a ``with`` block; the frame runs every page in one
  (:func:`ui.chrome.run_app`), so an unexpected error anywhere in a page's run is caught;
- :func:`ui.fragments.fragment`: the same around a fragment's body, as a fragment's own
  reruns do not pass through the page's run;
- :func:`guarded_callback`: a widget callback, which Streamlit runs before the page.

Streamlit's own control flow (``st.rerun``, ``st.stop``, a page switch) raises
exceptions derived from ``BaseException``, not ``Exception``: they pass through.

Failures that are expected (a full disk, a database locked past its timeout) are
explained where they happen: :func:`storage_problem` words them. A refusal by team mode's
permission check (:class:`~al_core.permissions.PermissionDenied`, raised by al_core when
the signed-in user's role may not do something) is expected too: wherever it is caught
above, it is shown as its own message (who may do what), not logged as a failure.
"""
from __future__ import annotations

import errno
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from al_core.names import printable
from al_core.permissions import PermissionDenied
from ui.text import md, md_code

log = logging.getLogger("als.app")
LOG_FILE = Path("logs") / "app.log"  # under the project folder
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
_write_lock = threading.Lock()  # one record at a time into whichever project's file
PENDING = "_error_pending"  # a callback's failure, shown by the page run that follows


def log_path() -> Path | None:
    """The log file of the project the app serves (None before it is known)."""
    root = st.session_state.get("project_dir")
    return Path(root) / LOG_FILE if root else None


def report(exc: BaseException, where: str) -> str:
    """Log ``exc`` with its traceback to the project's log file and return the one-line
    message to show for it (it names the error, never echoes it whole). A permission
    refusal is not logged: its message is the whole story."""
    if isinstance(exc, PermissionDenied):
        return refusal(exc)
    path = log_path()
    wrote = _write_log(exc, where, path)
    details = (f"the details are in {md_code(path)}" if wrote else
               "the details could not be written to the project's log")
    problem = storage_problem(exc)
    if problem is not None:
        return f"Could not finish {where}: {problem}. Try again when that is fixed ({details})."
    what = f"{type(exc).__name__}: {md(exc, limit=160)}" if str(exc) else type(exc).__name__
    return (f"Something went wrong in {where} ({what}); {details}. Reload the page to try "
            "again.")


def refusal(exc: PermissionDenied) -> str:
    """What a page shows when team mode refused an action: who may do it, and why not;
    or, when the refusal came because this browser's session ended meanwhile (signed out
    elsewhere, role changed, disabled), that, and how to sign in again."""
    ended = _session_ended()
    if ended is not None:
        return ended
    return (f"Not allowed: {md(exc, limit=400)}. Ask a lead of this project if you need "
            "to do this.")


def not_done(lead: str, exc: Exception) -> str:
    """The message for an action a page tried and could not do: team mode's refusal as
    :func:`refusal` says it; anything else (a ValueError naming what is wrong) after
    ``lead`` ("Not started", "Nothing was imported"). Catching both where the action is
    keeps a refusal beside its button instead of ending the rest of the page."""
    if isinstance(exc, PermissionDenied):
        return refusal(exc)
    return f"{lead}: {md(exc)}" if lead else md(exc)


def _session_ended() -> str | None:
    from ui import auth  # the frame's session check; imported here: auth is above errors
    from ui.auth_routes import signin_url
    who = auth.current()
    root = st.session_state.get("project_dir")
    if who is None or not who.team or not root:
        return None
    now = auth.visitor(Path(root))
    if now.may_enter:
        return None
    why = auth.why_signed_out(now.reason) or "Your session has ended."
    return (f"Not saved: {why} Sign in again [in a new tab]({signin_url('/')}); this tab "
            "keeps showing what you had not saved, so you can copy it there.")


def _write_log(exc: BaseException, where: str, path: Path | None) -> bool:
    with _write_lock:
        handler = None
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                handler = logging.FileHandler(path, encoding="utf-8")
                handler.setFormatter(_FORMAT)
                log.addHandler(handler)
            log.error("unexpected error in %s", printable(where), exc_info=exc)
            return handler is not None
        except OSError:
            log.error("unexpected error in %s (log file %s not writable)", where, path,
                      exc_info=exc)
            return False
        finally:
            if handler is not None:
                log.removeHandler(handler)
                handler.close()


@contextmanager
def guarded(where: str) -> Iterator[None]:
    """Run a block; an unexpected error in it becomes one message (``st.error``) and a
    logged traceback."""
    try:
        yield
    except PermissionDenied as exc:
        st.error(refusal(exc), icon=":material/block:")
    except Exception as exc:  # noqa: BLE001 - the one place that catches everything
        st.error(report(exc, where), icon=":material/error:")


def guarded_callback(where: str, *, on_error: Callable[[str], None] | None = None):
    """Decorate a widget callback: an unexpected error in it is logged and its message
    goes to ``on_error`` (default: shown at the top of the page run that follows)."""
    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                text = report(exc, where)
                if on_error is not None:
                    on_error(text)
                else:
                    st.session_state[PENDING] = text
        return run
    return wrap


def show_pending() -> None:
    """Draw a callback's failure (see :func:`guarded_callback`) once."""
    text = st.session_state.pop(PENDING, None)
    if text:
        st.error(text, icon=":material/error:")


def storage_problem(exc: BaseException) -> str | None:
    """What a failed write means for the user, for the failures a save can meet that are
    not its fault (disk full, disk error, the database locked past its timeout, a file
    that cannot be written); None for any other error."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return ("the project's database stayed locked by another writer (a long import "
                    "or training) past the 10 s wait")
        if "full" in text:
            return "the disk holding the project is full"
        if "i/o" in text or "readonly" in text or "read-only" in text:
            return f"the project's database could not be written ({md(exc, limit=60)})"
        return None
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "the disk holding the project is full"
        return f"a file of the project could not be written ({md(exc.strerror or exc, limit=60)})"
    return None

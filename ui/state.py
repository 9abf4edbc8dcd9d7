"""Which project the app serves, and a fresh store per rerun (sqlite3 connections must
not cross Streamlit's threads) acting as the signed-in user (:mod:`ui.auth`).

:func:`project_dir` is also what the server's sign-in routes serve (``serve.py``), so the
two always open the same project."""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
from pathlib import Path

import streamlit as st

from al_core.simulation.demo import DemoConfig, create_demo_project
from al_core.store import DB_NAME, ProjectError, Store
from ui import auth
from ui.text import md, md_code

DEFAULT_PROJECT = Path(__file__).resolve().parent.parent / "data" / "demo"
_demo_lock = threading.Lock()


def project_dir() -> Path:
    """``streamlit run app.py -- --project DIR``, else ``$ALS_PROJECT``, else the demo."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--project", type=Path,
                        default=Path(os.environ.get("ALS_PROJECT", DEFAULT_PROJECT)))
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.project.resolve()


def ensure_project() -> Path:
    """The project directory, creating the demo project on first start. Stops the page
    with an explanation when a given project does not exist."""
    path = project_dir()
    if (path / DB_NAME).exists():
        try:  # a project this version cannot open: one readable message, not a trace
            Store(path).close()
        except (ProjectError, sqlite3.DatabaseError) as exc:
            st.error(f"The project at {md_code(path)} cannot be opened: {md(exc)}")
            st.stop()
        return path
    if path != DEFAULT_PROJECT:
        st.error(f"No project at {md_code(path)}: `{DB_NAME}` is missing.")
        st.markdown("Create one with `python -m al_core demo --project DIR` or "
                    "`python -m al_core import --project DIR --images FOLDER`, "
                    "or start without `--project` to open the built-in demo.")
        st.stop()
    with _demo_lock:  # several browser tabs may arrive at once on first start
        if not (path / DB_NAME).exists():
            bar = st.progress(0.0, text="Creating the demo project (first start only)...")

            def progress(done: int, total: int, what: str) -> None:
                bar.progress(done / total, text=f"Creating the demo project: {what} "
                                                f"{done}/{total}")

            create_demo_project(path, DemoConfig(), progress=progress).close()
            bar.empty()
    return path


def allowed_roots() -> list[Path]:
    """The folders the app's pages may read from or write into on the server: the
    project, the repository's ``data/`` folder, and those in ``$ALS_DATA_ROOTS``
    (separated by ``os.pathsep``). A browser user must never reach any other path."""
    extra = [Path(p).expanduser() for p in os.environ.get("ALS_DATA_ROOTS", "").split(
        os.pathsep) if p.strip()]
    return [r.resolve() for r in (Path(st.session_state["project_dir"]),
                                  DEFAULT_PROJECT.parent, *extra)]


def inside_allowed_roots(text: str, what: str) -> Path:
    """The path typed into a page, resolved (links followed); ValueError naming the
    allowed folders when it is outside all of them."""
    path = Path(text.strip()).expanduser()
    if not path.is_absolute():
        path = Path(st.session_state["project_dir"]) / path
    resolved = path.resolve()
    roots = allowed_roots()
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise ValueError(f"the {what} {resolved} is outside the folders this app may use on "
                         f"the server ({', '.join(map(str, roots))}); put it under one of "
                         "them, or start the app with ALS_DATA_ROOTS set to its folder")
    return resolved


def store() -> Store:
    """A new Store for this rerun, acting as the signed-in user (team mode: checked
    again at each call, so a session that ended meanwhile acts as nobody and every
    change is refused) or, in single-user mode, as the typed annotator name if any."""
    opened = Store(st.session_state["project_dir"])
    try:
        opened.act_as(auth.acting_name(opened))
    except BaseException:
        opened.close()
        raise
    return opened

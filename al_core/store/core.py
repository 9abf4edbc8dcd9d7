"""The project store: a directory with ``project.db`` (SQLite, WAL), ``images/`` and
``models/``. All SQL of the application lives in this package, behind typed methods that
return the dataclasses of :mod:`al_core.types`, one module per concept: items and labels
(:mod:`.items`), selections (:mod:`.selections`), models and predictions
(:mod:`.models`), evaluations, comparisons and decisions (:mod:`.decisions`), jobs (:mod:`.jobs`), review and claims (:mod:`.review`),
users, sessions and the audit log (:mod:`.team`), the review workflow (:mod:`.work`,
:mod:`.tasks`, :mod:`.gold`) and the figures read from it (:mod:`.work_figures`). Every
multi-row write runs in :meth:`Store.write` (``BEGIN IMMEDIATE``: writers queue).

Open a new :class:`Store` per Streamlit rerun or per process: a sqlite3 connection
must not cross threads.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from al_core.store.decisions import DecisionsMixin
from al_core.store.gold import GoldMixin
from al_core.store.items import ItemsMixin
from al_core.store.jobs import JobsMixin
from al_core.store.models import ModelsMixin
from al_core.store.review import ReviewMixin
from al_core.store.schema import latest_migration, migrate, pending_migrations, unknown_migrations
from al_core.store.selections import SelectionsMixin
from al_core.store.tasks import TasksMixin
from al_core.store.team import TeamMixin
from al_core.store.work import WorkMixin
from al_core.store.work_figures import WorkFiguresMixin
from al_core.types import ProjectStatus

log = logging.getLogger(__name__)

DB_NAME = "project.db"


class ProjectError(Exception):
    """A project cannot be opened or is not in the state an operation needs."""


class Store(ItemsMixin, SelectionsMixin, ModelsMixin, DecisionsMixin, JobsMixin,
            ReviewMixin, TeamMixin, WorkMixin, TasksMixin, WorkFiguresMixin, GoldMixin):
    """Typed access to one project directory; the SQL of each concept lives in its mixin."""

    def __init__(self, project_dir: str | Path, *, create: bool = False,
                 actor: str | None = None) -> None:
        self.actor_name = actor  # who acts (team mode: a project user), see act_as()
        self.root = Path(project_dir).resolve()
        self.db_path = self.root / DB_NAME
        if not self.db_path.exists():
            if not create:
                raise ProjectError(
                    f"no project at {self.root}: {DB_NAME} is missing "
                    "(create one with `python -m al_core demo` or `python -m al_core import`)")
            self.root.mkdir(parents=True, exist_ok=True)
        elif self.db_path.stat().st_size == 0 and self._has_project_files():
            raise ProjectError(
                f"{self.db_path} is empty (0 bytes) but {self.root} holds a project's images "
                "or models: its labels and history are gone from this file. Restore "
                f"{DB_NAME} from a backup; it was not re-created, so nothing more is lost")
        self.db = Database(self.db_path)
        self.db.execute("PRAGMA busy_timeout = 10000")
        newer = unknown_migrations(self.db)
        if newer:
            self.db.close()
            raise ProjectError(
                f"{self.db_path} was written by a newer version of Active Learning Studio: "
                f"its schema is at {newer[-1]}, this version knows up to "
                f"{latest_migration()}. Upgrade the app to open it; nothing was changed")
        self._enable_wal()
        if pending_migrations(self.db):
            try:
                self._upgrade()
            except BaseException:
                self.db.close()
                raise
        self.db.execute("PRAGMA foreign_keys = ON")
        self.images_dir.mkdir(exist_ok=True)
        self.models_dir.mkdir(exist_ok=True)

    def _enable_wal(self, timeout_s: float = 10.0) -> None:
        """Switch to WAL. Changing the journal mode needs the database to itself, and
        SQLite can answer "database is locked" at once instead of applying the busy
        timeout when another process is opening or upgrading it at the same moment:
        retried until ``timeout_s``, then the error goes on."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    self.db.close()
                    raise
                time.sleep(0.05)

    def _has_project_files(self) -> bool:
        return any(d.is_dir() and any(p.is_file() for p in d.rglob("*"))
                   for d in (self.images_dir, self.models_dir))

    def _upgrade(self) -> None:
        """Apply the pending migrations in one write transaction (another process opening
        the project meanwhile waits, then finds nothing pending). Migrations rebuild
        tables that others reference, which SQLite's procedure does with foreign keys
        off (the pragma cannot change inside a transaction), so every reference is
        checked before the commit; broken ones undo the whole upgrade."""
        self.db.execute("PRAGMA foreign_keys = OFF")
        with self.write():
            migrate(self.db)  # nested in this transaction as savepoints
            broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise ProjectError(f"{self.db_path}: the upgrade would leave {len(broken)} "
                                   f"broken references (first: table {broken[0][0]}, row "
                                   f"{broken[0][1]}, to {broken[0][2]}); nothing was changed")

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction. It starts with ``BEGIN IMMEDIATE``, so a writer that
        finds the database locked waits (the busy timeout) before its first read, instead
        of failing with "database is locked" when a deferred transaction tries to write.
        It commits when the block ends and rolls back on any exception, a failed COMMIT
        included. Inside an open transaction it nests as a savepoint (``db.atomic()``);
        sqlite-utils' own ``atomic()`` blocks inside it (``insert_all``, ``upsert``) are
        savepoints too, so nothing commits before this block ends."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # an error may already have ended the transaction (RAISE(ROLLBACK))
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[None]:
        """One read transaction: every query in the block sees the same snapshot of the
        database (WAL), whatever other connections commit meanwhile; inside an open
        transaction, that one's. For reads that must agree with each other, such as the
        images a training may use and their labels."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            if self.db.conn.in_transaction:
                self.db.execute("COMMIT")

    # -- status -------------------------------------------------------------
    def status(self) -> ProjectStatus:
        table: dict[str, dict[str, int]] = {}
        for split, status, n in self.db.execute(
                "SELECT coalesce(split, 'pool'), status, count(*) FROM items GROUP BY 1, 2"):
            table.setdefault(split, {})[status] = n
        by_class = {r[0]: r[1] for r in self.db.execute(
            "SELECT c.name, count(a.id) FROM classes c LEFT JOIN annotations a "
            "ON a.class_id = c.id GROUP BY c.id ORDER BY c.id")}
        active = self.db.execute(
            "SELECT name || ' (#' || id || ')' FROM models WHERE status = 'active'").fetchone()
        return ProjectStatus(
            items=self.count_items(), labeled=self.count_items(status="labeled"),
            by_split_status=table, boxes_by_class=by_class,
            active_model=active[0] if active else None,
            models=self.db.execute("SELECT count(*) FROM models").fetchone()[0],
            rounds=self.db.execute("SELECT coalesce(max(round), 0) FROM selections").fetchone()[0],
            selections=self.selections(), test_frozen=self.get_meta("test_frozen") == "1")


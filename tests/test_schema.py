import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from al_core.store import schema
from al_core.store import Store

EXPECTED_TABLES = {"meta", "classes", "items", "annotations", "annotation_history", "embeddings",
                   "oracle_boxes", "tags", "users", "models", "predictions", "selections",
                   "selection_items", "evaluations", "comparisons", "jobs"}


def test_migrations_create_every_table_on_an_empty_database():
    db = Database(memory=True)
    schema.migrate(db)
    assert EXPECTED_TABLES <= set(db.table_names())
    assert schema.applied_migrations(db) == [m.name for m in schema.migrations._migrations]
    schema.migrate(db)  # a second run is a no-op
    assert len(schema.applied_migrations(db)) == len(schema.migrations._migrations)


def test_existing_database_is_upgraded_without_losing_rows(tmp_path):
    path = tmp_path / "project.db"
    db = Database(path)
    first = schema.migrations._migrations[0].name
    second = schema.migrations._migrations[1].name
    schema.migrations.apply(db, stop_before=second)
    assert schema.applied_migrations(db) == [first]
    assert "models" not in db.table_names()
    db["classes"].insert({"name": "cat", "color": "#fff", "created": "t"})
    db["items"].insert({"file": "a.png", "width": 4, "height": 3, "sha256": "x",
                        "source": "import", "added": "t"})
    db.close()
    with Store(tmp_path) as store:  # opening a project applies the pending migrations
        assert "models" in store.db.table_names()
        assert [c.name for c in store.classes()] == ["cat"]
        assert store.items()[0].file == "a.png"


def test_models_are_rebuilt_with_a_cancelled_status_keeping_rows_and_references(tmp_path):
    db = Database(tmp_path / "project.db")
    schema.migrations.apply(db, stop_before="m005_models_cancelled_status")
    db.execute("PRAGMA foreign_keys = ON")
    db["classes"].insert({"name": "cat", "color": "#fff", "created": "t"})
    db["items"].insert({"file": "a.png", "width": 4, "height": 3, "sha256": "x",
                        "source": "import", "added": "t"})
    model = {"name": "m", "arch": "compact", "config": "{}", "created": "t", "updated": "t"}
    db["models"].insert({**model, "id": 1, "status": "active", "metrics": '{"val_map50": 0.5}'})
    db["models"].insert({**model, "id": 2, "status": "failed", "parent_id": 1})
    db["predictions"].insert({"model_id": 2, "item_id": 1, "class_id": 1, "x1": 0, "y1": 0,
                              "x2": 1, "y2": 1, "score": 0.9})
    db.close()
    with Store(tmp_path) as store:
        assert [(m["id"], m["status"], m["parent_id"]) for m in store.models()] == \
            [(1, "active", None), (2, "failed", 1)]
        assert store.model(1)["metrics"] == {"val_map50": 0.5}
        assert len(store.predictions(2, [1])) == 1
        store.update_model(2, status="cancelled")  # the new value is accepted
        with pytest.raises(sqlite3.IntegrityError):  # other values still are not
            store.update_model(2, status="paused")
        with pytest.raises(sqlite3.IntegrityError):  # only one active model, still
            store.update_model(2, status="active")
        with pytest.raises(sqlite3.IntegrityError):  # references enforced again
            store.db["predictions"].insert({"model_id": 9, "item_id": 1, "class_id": 1,
                                            "x1": 0, "y1": 0, "x2": 1, "y2": 1, "score": 0.9})
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert "models_new" not in store.db.table_names()


def _open_project(path, barrier):
    barrier.wait()
    with Store(path) as store:
        return [m["id"] for m in store.models()]


def test_processes_opening_an_old_project_at_once_all_succeed(tmp_path):
    """One upgrades; the others wait for its write lock, then find nothing pending
    (spawned children: conftest keeps pytest's ``__main__`` for them)."""
    import multiprocessing

    db = Database(tmp_path / "project.db")
    schema.migrations.apply(db, stop_before="m005_models_cancelled_status")
    db["models"].insert({"id": 1, "name": "m", "arch": "compact", "config": "{}",
                         "status": "trained", "created": "t", "updated": "t"})
    db.close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(3) as pool:
        barrier = manager.Barrier(3)
        results = [pool.apply_async(_open_project, (tmp_path, barrier)) for _ in range(3)]
        assert [r.get(timeout=120) for r in results] == [[1]] * 3
    assert schema.applied_migrations(Database(tmp_path / "project.db"))[-1] == \
        schema.migrations._migrations[-1].name


def test_an_upgrade_that_would_break_references_changes_nothing(tmp_path):
    from al_core.store import ProjectError

    db = Database(tmp_path / "project.db")
    schema.migrations.apply(db, stop_before="m005_models_cancelled_status")
    db["models"].insert({"id": 1, "name": "m", "arch": "compact", "config": "{}",
                         "status": "trained", "created": "t", "updated": "t", "parent_id": 7})
    db.close()  # foreign keys were off: a dangling parent got in
    with pytest.raises(ProjectError, match="broken references .* nothing was changed"):
        Store(tmp_path)
    db = Database(tmp_path / "project.db")
    assert "m005_models_cancelled_status" not in schema.applied_migrations(db)
    assert "models_new" not in db.table_names() and db["models"].count == 1


def test_a_migration_that_fails_halfway_leaves_no_trace():
    """schema._run must not commit between statements (db.executescript would)."""
    db = Database(memory=True)
    bad = Migrations("test_set")

    @bad()
    def m001(db):
        schema._run(db, "CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE broken (")

    with pytest.raises(sqlite3.OperationalError):
        bad.apply(db)
    assert not {"a", "b"} & set(db.table_names())
    assert [m.name for m in bad.pending(db)] == ["m001"]


def test_store_uses_wal_and_enforces_box_constraints(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cls = store.ensure_classes(["a"])["a"]
    item = store.add_item(file="a.png", width=10, height=10, sha256="h", source="import")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO annotations (item_id, class_id, x1, y1, x2, y2, source, "
                         "created) VALUES (?, ?, 5, 5, 5, 9, 'human', 't')", [item, cls])
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO annotations (item_id, class_id, x1, y1, x2, y2, source, "
                         "created) VALUES (999, ?, 1, 1, 5, 9, 'human', 't')", [cls])


def test_a_project_written_by_a_newer_version_is_refused_before_any_write(tmp_path):
    from al_core.store import ProjectError, Store

    Store(tmp_path / "p", create=True).close()
    db = Database(tmp_path / "p" / "project.db")
    db["_sqlite_migrations"].insert({"migration_set": schema.MIGRATION_SET,
                                     "name": "m099_from_the_future", "applied_at": "x"})
    db.close()
    before = (tmp_path / "p" / "project.db").read_bytes()
    with pytest.raises(ProjectError, match=r"newer version .* at m099_from_the_future, this "
                                           rf"version knows up to {schema.latest_migration()}"):
        Store(tmp_path / "p")
    assert (tmp_path / "p" / "project.db").read_bytes() == before


def test_an_empty_project_db_beside_images_is_not_recreated(tmp_path):
    from al_core.store import ProjectError, Store

    root = tmp_path / "p"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"x")
    (root / "project.db").write_bytes(b"")
    for create in (False, True):
        with pytest.raises(ProjectError, match=r"is empty \(0 bytes\) .* Restore"):
            Store(root, create=create)
    assert (root / "project.db").stat().st_size == 0
    empty = tmp_path / "fresh"  # a zero-byte file in an otherwise empty folder: a new project
    empty.mkdir()
    (empty / "project.db").write_bytes(b"")
    Store(empty).close()
    assert schema.applied_migrations(Database(empty / "project.db"))


def test_the_app_shows_a_project_it_cannot_open_as_one_message(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "p"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"x")
    (root / "project.db").write_bytes(b"")
    monkeypatch.setenv("ALS_PROJECT", str(root))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=60).run()
    assert not at.exception
    assert any("cannot be opened" in e.value and "0 bytes" in e.value for e in at.error)

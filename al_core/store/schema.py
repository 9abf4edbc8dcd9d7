"""The project database schema, as ordered sqlite-utils migrations.

This module is the only place that creates or alters tables. ``migrate(db)`` brings a
database of any earlier version (or an empty one) up to date; each migration runs in
its own transaction together with the record of it having been applied.
"""
from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "active_learning_studio"
migrations = Migrations(MIGRATION_SET)


def _run(db: Database, statements: str) -> None:
    # db.executescript() would commit the enclosing transaction; execute one by one.
    for statement in statements.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m001_items_and_labels(db: Database) -> None:
    _run(db, """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        color TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL DEFAULT '',
        file TEXT NOT NULL,
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        sha256 TEXT NOT NULL,
        split TEXT CHECK (split IN ('train', 'val', 'test')),
        status TEXT NOT NULL DEFAULT 'unlabeled' CHECK (status IN ('unlabeled', 'labeled')),
        labeled_round INTEGER,
        labeled_by TEXT,
        label_version INTEGER NOT NULL DEFAULT 0,
        holder TEXT,
        held_at TEXT,
        source TEXT NOT NULL,
        added TEXT NOT NULL,
        UNIQUE (root, file)
    );
    CREATE INDEX items_split_status ON items (split, status);
    CREATE INDEX items_sha256 ON items (sha256);
    CREATE TABLE annotations (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        class_id INTEGER NOT NULL REFERENCES classes (id),
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('human', 'model', 'import', 'oracle')),
        author TEXT,
        round INTEGER,
        created TEXT NOT NULL,
        CHECK (x2 > x1 AND y2 > y1)
    );
    CREATE INDEX annotations_item ON annotations (item_id);
    CREATE TABLE annotation_history (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        label_version INTEGER NOT NULL,
        before TEXT NOT NULL,
        after TEXT NOT NULL,
        author TEXT,
        reason TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX annotation_history_item ON annotation_history (item_id);
    CREATE TABLE oracle_boxes (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        class_id INTEGER NOT NULL REFERENCES classes (id),
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL
    );
    CREATE INDEX oracle_boxes_item ON oracle_boxes (item_id);
    CREATE TABLE tags (
        item_id INTEGER NOT NULL REFERENCES items (id),
        tag TEXT NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (item_id, tag)
    );
    CREATE INDEX tags_tag ON tags (tag)
    """)


@migrations()
def m002_models_rounds_jobs(db: Database) -> None:
    _run(db, """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'lead')),
        created TEXT NOT NULL
    );
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES models (id),
        arch TEXT NOT NULL,
        config TEXT NOT NULL,
        checkpoint_path TEXT,
        checkpoint_sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN
            ('candidate', 'training', 'trained', 'failed', 'active', 'discarded', 'external')),
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE UNIQUE INDEX models_one_active ON models (status) WHERE status = 'active';
    CREATE TABLE predictions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        class_id INTEGER NOT NULL REFERENCES classes (id),
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        score REAL NOT NULL,
        probs TEXT
    );
    CREATE INDEX predictions_model_item ON predictions (model_id, item_id);
    CREATE TABLE selections (
        id INTEGER PRIMARY KEY,
        tag TEXT NOT NULL UNIQUE,
        round INTEGER NOT NULL,
        strategy TEXT NOT NULL,
        config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        model_id INTEGER REFERENCES models (id),
        created TEXT NOT NULL
    );
    CREATE TABLE selection_items (
        selection_id INTEGER NOT NULL REFERENCES selections (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        rank INTEGER NOT NULL,
        score REAL,
        is_control INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (selection_id, item_id)
    );
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models (id),
        test_set_hash TEXT NOT NULL,
        iou_threshold REAL NOT NULL,
        map REAL NOT NULL,
        per_class TEXT NOT NULL,
        pr_curves TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE comparisons (
        id INTEGER PRIMARY KEY,
        new_model_id INTEGER NOT NULL REFERENCES models (id),
        old_model_id INTEGER REFERENCES models (id),
        config TEXT NOT NULL,
        test_set_hash TEXT NOT NULL,
        per_class TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('update_model', 'discard')),
        reason TEXT NOT NULL,
        decided_by TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        params TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT,
        pid INTEGER,
        heartbeat TEXT,
        log TEXT NOT NULL DEFAULT '',
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        started TEXT,
        finished TEXT
    )
    """)


@migrations()
def m003_embeddings_and_training_results(db: Database) -> None:
    _run(db, """
    CREATE TABLE embeddings (
        model_id INTEGER NOT NULL REFERENCES models (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, item_id)
    );
    ALTER TABLE models ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE models ADD COLUMN job_id INTEGER REFERENCES jobs (id)
    """)


@migrations()
def m004_cold_start_features(db: Database) -> None:
    # Image vectors from a fixed extractor (no model): cached per extractor version, as
    # the embeddings table is keyed by a model.
    _run(db, """
    CREATE TABLE features (
        extractor TEXT NOT NULL,
        item_id INTEGER NOT NULL REFERENCES items (id),
        vector BLOB NOT NULL,
        PRIMARY KEY (extractor, item_id)
    );
    CREATE INDEX selection_items_item ON selection_items (item_id)
    """)


@migrations()
def m005_models_cancelled_status(db: Database) -> None:
    # A cancelled training's model was recorded as failed: the CHECK constraint had no
    # 'cancelled'. SQLite cannot alter a CHECK, so the table is rebuilt (SQLite's
    # documented procedure: new table, copy, drop, rename; foreign keys are off while
    # migrating, see Store, and checked afterwards).
    _run(db, """
    CREATE TABLE models_new (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES models (id),
        arch TEXT NOT NULL,
        config TEXT NOT NULL,
        checkpoint_path TEXT,
        checkpoint_sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN ('candidate', 'training', 'trained', 'failed',
            'cancelled', 'active', 'discarded', 'external')),
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        job_id INTEGER REFERENCES jobs (id)
    );
    INSERT INTO models_new (id, name, parent_id, arch, config, checkpoint_path,
        checkpoint_sha256, status, created, updated, metrics, job_id)
    SELECT id, name, parent_id, arch, config, checkpoint_path, checkpoint_sha256, status,
        created, updated, metrics, job_id FROM models;
    DROP TABLE models;
    ALTER TABLE models_new RENAME TO models;
    CREATE UNIQUE INDEX models_one_active ON models (status) WHERE status = 'active'
    """)


@migrations()
def m006_reviews_claims_skips(db: Database) -> None:
    # The review screen: one row per saved review with what changed against the shown
    # pre-labels (correction effort per image, annotator and round); leases so two
    # annotators never hold one image; per-user skips and settings.
    _run(db, """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        selection_id INTEGER REFERENCES selections (id),
        round INTEGER,
        author TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'save', 'import', 'oracle')),
        seconds REAL,
        label_version INTEGER NOT NULL,
        prelabels INTEGER NOT NULL,
        boxes INTEGER NOT NULL,
        kept INTEGER NOT NULL,
        moved INTEGER NOT NULL,
        relabeled INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        added INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX reviews_item ON reviews (item_id);
    CREATE INDEX reviews_selection ON reviews (selection_id);
    CREATE TABLE claims (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        holder TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE TABLE skips (
        item_id INTEGER NOT NULL REFERENCES items (id),
        user TEXT NOT NULL,
        selection_id INTEGER REFERENCES selections (id),
        at TEXT NOT NULL,
        PRIMARY KEY (item_id, user)
    );
    CREATE TABLE user_settings (
        user TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (user, key)
    )
    """)


@migrations()
def m007_comparison_figures_and_model_decisions(db: Database) -> None:
    # The comparison dashboard shows both mAPs and the bootstrap interval of a stored
    # comparison; the model history records every change of the active model: a
    # comparison's decision carried out, an override of it (who and why), a rollback.
    _run(db, """
    ALTER TABLE comparisons ADD COLUMN iou_threshold REAL;
    ALTER TABLE comparisons ADD COLUMN new_map REAL;
    ALTER TABLE comparisons ADD COLUMN old_map REAL;
    ALTER TABLE comparisons ADD COLUMN confidence REAL;
    ALTER TABLE comparisons ADD COLUMN delta_lo REAL;
    ALTER TABLE comparisons ADD COLUMN delta_hi REAL;
    CREATE TABLE model_decisions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models (id),
        action TEXT NOT NULL CHECK (action IN ('update_model', 'discard', 'rollback')),
        comparison_id INTEGER REFERENCES comparisons (id),
        override INTEGER NOT NULL DEFAULT 0,
        previous_active_id INTEGER REFERENCES models (id),
        decided_by TEXT NOT NULL,
        why TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE INDEX model_decisions_model ON model_decisions (model_id)
    """)



@migrations()
def m008_monotonic_heartbeats_and_leases(db: Database) -> None:
    # A wall-clock step made readers kill healthy jobs as hung and stretched leases
    # (al_core.jobs.liveness): heartbeats and leases also record a monotonic reading and the
    # boot it belongs to; a job records its process's start ticks, so a reused pid never
    # passes for its process. Leases taken before this have no monotonic reading and
    # count as expired (they last 5 minutes; the holder's next look renews them).
    _run(db, """
    ALTER TABLE jobs ADD COLUMN beat_mono REAL;
    ALTER TABLE jobs ADD COLUMN boot_id TEXT;
    ALTER TABLE jobs ADD COLUMN pid_start INTEGER;
    ALTER TABLE claims ADD COLUMN boot_id TEXT;
    ALTER TABLE claims ADD COLUMN taken_mono REAL;
    ALTER TABLE claims ADD COLUMN expires_mono REAL
    """)


@migrations()
def m009_auto_accepted_boxes(db: Database) -> None:
    # Box-level review (al_core.review.auto_accept): a pre-label scoring at or above its
    # class's threshold is saved without a person looking at it. Such a box is marked
    # (a column, not a fifth annotations.source: the box still came from a review of the
    # image, and the CHECK would mean rebuilding the table); a review counts them; the
    # thresholds are stored per model and validation set (their ids and label versions),
    # so a new model or new validation labels never reuse old ones.
    _run(db, """
    ALTER TABLE annotations ADD COLUMN auto_accepted INTEGER NOT NULL DEFAULT 0
        CHECK (auto_accepted IN (0, 1));
    ALTER TABLE reviews ADD COLUMN auto_accepted INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE auto_accept_thresholds (
        model_id INTEGER NOT NULL REFERENCES models (id),
        val_set_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        classes TEXT NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (model_id, val_set_hash)
    )
    """)


@migrations()
def m010_users_sessions_audit(db: Database) -> None:
    # Team mode (al_core.permissions, al_core.team): users with a role and an Argon2id
    # hash (never the password); server-side sign-in sessions, their random id kept only
    # as a SHA-256; failed sign-ins, which throttle by account and by client address;
    # the audit log, append-only (triggers refuse UPDATE and DELETE); and who asked for
    # each job, so its process acts as that user. m002's placeholder users table (name,
    # role) was never written by any version: it is replaced.
    _run(db, """
    DROP TABLE users;
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'lead')),
        password_hash TEXT NOT NULL,
        email TEXT UNIQUE,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created TEXT NOT NULL,
        changed TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users (id),
        created TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        idle_expires TEXT NOT NULL,
        absolute_expires TEXT NOT NULL,
        revoked TEXT,
        revoked_why TEXT,
        address TEXT
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE TABLE signin_failures (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        address TEXT NOT NULL,
        at TEXT NOT NULL,
        at_s REAL NOT NULL
    );
    CREATE INDEX signin_failures_account ON signin_failures (account, at_s);
    CREATE INDEX signin_failures_address ON signin_failures (address, at_s);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        object_type TEXT,
        object_id TEXT,
        summary TEXT NOT NULL DEFAULT '',
        before TEXT,
        after TEXT
    );
    CREATE INDEX audit_log_at ON audit_log (at);
    ALTER TABLE jobs ADD COLUMN requested_by TEXT
    """)
    for verb, done in (("UPDATE", "changed"), ("DELETE", "deleted")):
        # one statement each: _run splits on ';', which a trigger body holds
        db.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                   f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: its rows "
                   f"cannot be {done}'); END")



# the review workflow's migrations (m011 on) live beside this file; importing it here
# registers them after m010, in order
from al_core.store import schema_work  # noqa: E402,F401

def migrate(db: Database) -> None:
    """Apply every pending migration, oldest first."""
    migrations.apply(db)


def pending_migrations(db: Database) -> list[str]:
    return [m.name for m in migrations.pending(db)]


def unknown_migrations(db: Database) -> list[str]:
    """Migrations the database has that this code does not know: it was written by a
    newer version. Read-only."""
    known = {m.name for m in migrations._migrations}
    return [name for name in applied_migrations(db) if name not in known]


def latest_migration() -> str:
    return migrations._migrations[-1].name


def applied_migrations(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]

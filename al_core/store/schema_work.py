"""Migrations of the review workflow (team mode, part 2), registered after those of
:mod:`al_core.store.schema` (which imports this module below its own, so the order of
the set stays the order of the files)."""
from __future__ import annotations

from sqlite_utils import Database

from al_core.store.schema import _run, migrations


@migrations()
def m011_review_workflow(db: Database) -> None:
    # Team mode's review workflow (al_core.workflow): one row per image that entered it,
    # with its state, whose work it is (annotator), who reviews it and the state a
    # release gives back (resume); the tasks a lead
    # hands out; every submission with the spot check's draw; every reviewer decision with
    # its per-box verdicts and the corrections it made; comments pinned to a box or the
    # image; gold images and the annotators' scored answers on them.
    _run(db, """
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        selection_id INTEGER NOT NULL REFERENCES selections (id),
        annotator TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_by TEXT,
        created TEXT NOT NULL
    );
    CREATE TABLE work_items (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        selection_id INTEGER REFERENCES selections (id),
        state TEXT NOT NULL CHECK (state IN ('queued', 'assigned', 'in_progress',
            'submitted', 'in_review', 'returned', 'approved')),
        annotator TEXT,
        reviewer TEXT,
        task_id INTEGER REFERENCES tasks (id),
        returns INTEGER NOT NULL DEFAULT 0,
        resume TEXT,
        since TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE INDEX work_items_state ON work_items (state, selection_id);
    CREATE INDEX work_items_annotator ON work_items (annotator, state);
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        selection_id INTEGER REFERENCES selections (id),
        annotator TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('first', 'fix', 'edit')),
        share REAL NOT NULL,
        draw REAL,
        sampled INTEGER NOT NULL CHECK (sampled IN (0, 1)),
        seconds REAL,
        label_version INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX submissions_annotator ON submissions (annotator, at);
    CREATE INDEX submissions_item ON submissions (item_id);
    CREATE TABLE review_decisions (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        submission_id INTEGER REFERENCES submissions (id),
        reviewer TEXT NOT NULL,
        annotator TEXT,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'fix', 'return')),
        corrections INTEGER NOT NULL DEFAULT 0,
        changes TEXT NOT NULL DEFAULT '{}',
        verdicts TEXT NOT NULL DEFAULT '[]',
        seconds REAL,
        at TEXT NOT NULL
    );
    CREATE INDEX review_decisions_item ON review_decisions (item_id);
    CREATE INDEX review_decisions_annotator ON review_decisions (annotator);
    CREATE TABLE review_comments (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        decision_id INTEGER REFERENCES review_decisions (id),
        author TEXT NOT NULL,
        box TEXT,
        class_id INTEGER,
        text TEXT NOT NULL,
        at TEXT NOT NULL,
        resolved TEXT
    );
    CREATE INDEX review_comments_item ON review_comments (item_id);
    CREATE TABLE gold_items (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        marked_by TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE gold_answers (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        annotator TEXT NOT NULL,
        served TEXT NOT NULL,
        answered TEXT,
        boxes TEXT,
        gold_boxes INTEGER,
        answer_boxes INTEGER,
        matched INTEGER,
        same_class INTEGER,
        f1 REAL,
        class_accuracy REAL,
        seconds REAL,
        UNIQUE (item_id, annotator)
    )
    """)

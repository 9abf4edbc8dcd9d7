"""The project store: a directory with ``project.db`` (SQLite, WAL), ``images/`` and
``models/``. All SQL of the application lives here, behind typed methods that return
the dataclasses of :mod:`al_core.types`. Every multi-row write runs in ``db.atomic()``.

Open a new :class:`Store` per Streamlit rerun or per process: a sqlite3 connection
must not cross threads.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from al_core.schema import migrate, pending_migrations
from al_core.types import (SPLITS, Annotation, Box, ClassInfo, Item, LabeledBox, ProjectStatus,
                            Selection, SelectionItem, SelectionSummary)

log = logging.getLogger(__name__)

DB_NAME = "project.db"
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3",
           "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#ffe119", "#000000")


class ProjectError(Exception):
    """A project cannot be opened or is not in the state an operation needs."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _item(row: dict) -> Item:
    return Item(id=row["id"], file=row["file"], width=row["width"], height=row["height"],
                sha256=row["sha256"], split=row["split"], status=row["status"],
                labeled_round=row["labeled_round"], labeled_by=row["labeled_by"],
                root=row["root"], label_version=row["label_version"])


def _box(row: dict) -> Box:
    return Box(row["x1"], row["y1"], row["x2"], row["y2"])


class Store:
    """Typed access to one project directory."""

    def __init__(self, project_dir: str | Path, *, create: bool = False) -> None:
        self.root = Path(project_dir).resolve()
        self.db_path = self.root / DB_NAME
        if not self.db_path.exists():
            if not create:
                raise ProjectError(
                    f"no project at {self.root}: {DB_NAME} is missing "
                    "(create one with `python -m al_core demo` or `python -m al_core import`)")
            self.root.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.db_path)
        self.db.execute("PRAGMA busy_timeout = 10000")
        self.db.enable_wal()
        if pending_migrations(self.db):
            try:
                self._upgrade()
            except BaseException:
                self.db.close()
                raise
        self.db.execute("PRAGMA foreign_keys = ON")
        self.images_dir.mkdir(exist_ok=True)
        self.models_dir.mkdir(exist_ok=True)

    def _upgrade(self) -> None:
        """Apply the pending migrations in one write transaction (another process opening
        the project meanwhile waits, then finds nothing pending). Migrations rebuild
        tables that others reference, which SQLite's procedure does with foreign keys
        off (the pragma cannot change inside a transaction), so every reference is
        checked before the commit; broken ones undo the whole upgrade."""
        self.db.execute("PRAGMA foreign_keys = OFF")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            migrate(self.db)  # nested in this transaction as savepoints
            broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise ProjectError(f"{self.db_path}: the upgrade would leave {len(broken)} "
                                   f"broken references (first: table {broken[0][0]}, row "
                                   f"{broken[0][1]}, to {broken[0][2]}); nothing was changed")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

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

    # -- classes ------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        return [ClassInfo(r["id"], r["name"], r["color"])
                for r in self.db.query("SELECT * FROM classes ORDER BY id")]

    def ensure_classes(self, names: Iterable[str]) -> dict[str, int]:
        """Create the classes that do not exist yet; return name -> id for all given."""
        with self.db.atomic():
            existing = {c.name: c.id for c in self.classes()}
            for name in names:
                if not isinstance(name, str) or not name.strip():
                    raise ValueError(f"class name {name!r} is empty or not a string")
                if name not in existing:
                    color = PALETTE[len(existing) % len(PALETTE)]
                    existing[name] = self.db["classes"].insert(
                        {"name": name, "color": color, "created": now()}).last_pk
        return existing

    # -- items --------------------------------------------------------------
    def add_item(self, *, file: str, width: int, height: int, sha256: str, source: str,
                 root: str = "") -> int:
        """``file`` is a relative POSIX path under ``root`` ('' = the project's images/)."""
        return self.db["items"].insert({
            "file": file, "root": root, "width": width, "height": height,
            "sha256": sha256, "source": source, "added": now()}).last_pk

    def item(self, item_id: int) -> Item:
        rows = list(self.db.query("SELECT * FROM items WHERE id = ?", [item_id]))
        if not rows:
            raise KeyError(f"no item with id {item_id}")
        return _item(rows[0])

    def items(self, *, split: str | None = None, status: str | None = None,
              tag: str | None = None, ids: Sequence[int] | None = None,
              unsplit: bool = False, limit: int | None = None, offset: int = 0) -> list[Item]:
        """Items matching every given filter, in id order. ``unsplit`` selects items with
        no split yet; ``tag`` an item tag (a split name also works as a tag)."""
        where, params = self._item_filter(split, status, tag, ids, unsplit)
        sql = f"SELECT * FROM items {where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_item(r) for r in self.db.query(sql, params)]

    def count_items(self, **filters) -> int:
        where, params = self._item_filter(filters.get("split"), filters.get("status"),
                                          filters.get("tag"), filters.get("ids"),
                                          filters.get("unsplit", False))
        return self.db.execute(f"SELECT count(*) FROM items {where}", params).fetchone()[0]

    @staticmethod
    def _item_filter(split, status, tag, ids, unsplit) -> tuple[str, list]:
        clauses, params = [], []
        if split is not None:
            clauses.append("split = ?")
            params.append(split)
        if unsplit:
            clauses.append("split IS NULL")
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if tag is not None:
            if tag in SPLITS:
                clauses.append("split = ?")
            else:
                clauses.append("id IN (SELECT item_id FROM tags WHERE tag = ?)")
            params.append(tag)
        if ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(ids))})" if ids else "0")
            params.extend(ids)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def item_ids_by_file(self, root: str = "") -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT file, id FROM items WHERE root = ?", [root])}

    def item_ids_by_sha256(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT sha256, id FROM items")}

    def image_path(self, item: Item) -> Path:
        return (Path(item.root) if item.root else self.images_dir) / item.file

    # -- labels -------------------------------------------------------------
    def annotations(self, item_ids: Sequence[int] | None = None) -> dict[int, list[Annotation]]:
        """Current boxes per item id (items without boxes map to an empty list)."""
        if item_ids is None:
            rows = self.db.query("SELECT * FROM annotations ORDER BY item_id, id")
            out: dict[int, list[Annotation]] = {}
        else:
            rows = (r for start in range(0, len(item_ids), 500)
                    for r in self._annotation_rows(list(item_ids[start:start + 500])))
            out = {i: [] for i in item_ids}
        for r in rows:
            out.setdefault(r["item_id"], []).append(Annotation(
                item_id=r["item_id"], class_id=r["class_id"], box=_box(r), source=r["source"],
                author=r["author"], round=r["round"], id=r["id"]))
        return out

    def _annotation_rows(self, chunk: list[int]):
        return self.db.query(f"SELECT * FROM annotations WHERE item_id IN "
                             f"({','.join('?' * len(chunk))}) ORDER BY item_id, id", chunk)

    def set_labels(self, item_id: int, boxes: Sequence[LabeledBox], *, source: str,
                   author: str | None = None, round: int | None = None,
                   reason: str | None = None) -> int:
        """Replace the item's boxes, mark it labeled, append the change to the history.
        Returns the item's new label version."""
        with self.db.atomic():
            item = self.item(item_id)
            before = [[a.class_id, *a.box.as_list()] for a in self.annotations([item_id])[item_id]]
            after = [[b.class_id, *b.box.as_list()] for b in boxes]
            self.db.execute("DELETE FROM annotations WHERE item_id = ?", [item_id])
            stamp = now()
            self.db["annotations"].insert_all(
                {"item_id": item_id, "class_id": b.class_id, "x1": b.box.x1, "y1": b.box.y1,
                 "x2": b.box.x2, "y2": b.box.y2, "source": source, "author": author,
                 "round": round, "created": stamp} for b in boxes)
            version = item.label_version + 1
            self.db.execute(
                "UPDATE items SET status = 'labeled', label_version = ?, labeled_by = ?, "
                "labeled_round = coalesce(labeled_round, ?) WHERE id = ?",
                [version, author, round, item_id])
            self.db["annotation_history"].insert({
                "item_id": item_id, "label_version": version, "before": json.dumps(before),
                "after": json.dumps(after), "author": author, "reason": reason, "at": stamp})
        return version

    def label_history(self, item_id: int) -> list[dict]:
        return [dict(r, before=json.loads(r["before"]), after=json.loads(r["after"]))
                for r in self.db.query("SELECT * FROM annotation_history WHERE item_id = ? "
                                       "ORDER BY id", [item_id])]

    # -- the demo's hidden ground truth -------------------------------------
    def add_oracle_boxes(self, item_id: int, boxes: Sequence[LabeledBox]) -> None:
        self.db["oracle_boxes"].insert_all(
            {"item_id": item_id, "class_id": b.class_id, "x1": b.box.x1, "y1": b.box.y1,
             "x2": b.box.x2, "y2": b.box.y2} for b in boxes)

    def oracle_boxes(self, item_ids: Sequence[int]) -> dict[int, list[LabeledBox]]:
        out: dict[int, list[LabeledBox]] = {i: [] for i in item_ids}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start:start + 500])
            for r in self.db.query(
                    f"SELECT * FROM oracle_boxes WHERE item_id IN ({','.join('?' * len(chunk))})"
                    " ORDER BY id", chunk):
                out[r["item_id"]].append(LabeledBox(r["class_id"], _box(r)))
        return out

    def has_oracle(self) -> bool:
        return self.db.execute("SELECT 1 FROM oracle_boxes LIMIT 1").fetchone() is not None

    def move_labels_to_oracle(self) -> int:
        """Turn every current label into hidden ground truth and unlabel the items (the
        simulation's start from an imported labeled dataset). Returns the items moved."""
        with self.db.atomic():
            if self.has_oracle():
                raise ValueError("this project already has an oracle")
            unlabeled = self.count_items(status="unlabeled")
            if unlabeled:
                raise ValueError(f"{unlabeled} items have no labels; the oracle needs every "
                                 "item labeled (empty images count as labeled)")
            self.db.execute("INSERT INTO oracle_boxes (item_id, class_id, x1, y1, x2, y2) "
                            "SELECT item_id, class_id, x1, y1, x2, y2 FROM annotations "
                            "ORDER BY item_id, id")
            self.db.execute("DELETE FROM annotations")
            return self.db.execute(
                "UPDATE items SET status = 'unlabeled', split = NULL, labeled_by = NULL, "
                "labeled_round = NULL").rowcount

    def label_from_oracle(self, item_ids: Sequence[int], *, round: int | None = None) -> int:
        """Copy the hidden ground truth of these items into their labels."""
        truth = self.oracle_boxes(item_ids)
        with self.db.atomic():
            for item_id in item_ids:
                self.set_labels(item_id, truth[item_id], source="oracle", author="oracle",
                                round=round, reason="labeled from the oracle")
        return len(item_ids)

    # -- splits and tags ----------------------------------------------------
    def set_splits(self, assignment: dict[int, str | None]) -> None:
        with self.db.atomic():
            for item_id, split in assignment.items():
                if split is not None and split not in SPLITS:
                    raise ValueError(f"split {split!r} is not one of {SPLITS}")
                self.db.execute("UPDATE items SET split = ? WHERE id = ?", [split, item_id])

    def add_tag(self, tag: str, item_ids: Iterable[int]) -> None:
        if tag in SPLITS:
            raise ValueError(f"tag {tag!r} is reserved for the split of the same name")
        with self.db.atomic():
            self.db["tags"].insert_all(({"item_id": i, "tag": tag, "created": now()}
                                        for i in item_ids), ignore=True)

    def tags(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag")}

    # -- models (the registry grows with the detector issue) ------------------
    def add_model(self, *, name: str, arch: str, status: str, config: dict | None = None,
                  parent_id: int | None = None) -> int:
        stamp = now()
        return self.db["models"].insert({
            "name": name, "parent_id": parent_id, "arch": arch,
            "config": json.dumps(config or {}), "status": status, "created": stamp,
            "updated": stamp}).last_pk

    def add_predictions(self, model_id: int, rows: Iterable[tuple[int, int, Box, float]]) -> None:
        """rows: (item_id, class_id, box, score)."""
        with self.db.atomic():
            self.db["predictions"].insert_all(
                {"model_id": model_id, "item_id": i, "class_id": c, "x1": b.x1, "y1": b.y1,
                 "x2": b.x2, "y2": b.y2, "score": s} for i, c, b, s in rows)

    def count_predictions(self, model_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM predictions WHERE model_id = ?",
                               [model_id]).fetchone()[0]

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

    # -- evaluations and comparisons -----------------------------------------
    def model(self, model_id: int) -> dict:
        rows = list(self.db.query("SELECT * FROM models WHERE id = ?", [model_id]))
        if not rows:
            raise KeyError(f"no model with id {model_id}")
        return dict(rows[0], config=json.loads(rows[0]["config"]),
                    metrics=json.loads(rows[0]["metrics"]))

    def active_model_id(self) -> int | None:
        row = self.db.execute("SELECT id FROM models WHERE status = 'active'").fetchone()
        return row[0] if row else None

    def test_set_identity(self) -> tuple[list[int], str]:
        """The test items and a hash of their ids and label versions: two evaluations
        are comparable only when this hash is the same."""
        rows = self.db.execute("SELECT id, label_version FROM items WHERE split = 'test' "
                               "AND status = 'labeled' ORDER BY id").fetchall()
        digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
        return [r[0] for r in rows], digest

    def predictions(self, model_id: int, item_ids: Sequence[int]) -> list[dict]:
        """Rows (item_id, class_id, x1, y1, x2, y2, score) in insertion order."""
        out: list[dict] = []
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start:start + 500])
            out.extend(self.db.query(
                "SELECT item_id, class_id, x1, y1, x2, y2, score FROM predictions WHERE "
                f"model_id = ? AND item_id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                [model_id, *chunk]))
        return out

    def unpredicted_items(self, model_id: int, item_ids: Sequence[int]) -> list[int]:
        """Items the model has no embedding for, when it has any (``predict`` stores one
        per image it saw; imported external models have none and are not checked)."""
        seen = {r[0] for r in self.db.execute(
            "SELECT item_id FROM embeddings WHERE model_id = ?", [model_id])}
        return [i for i in item_ids if i not in seen] if seen else []

    def save_evaluation(self, *, model_id: int, test_set_hash: str, iou_threshold: float,
                        map: float, per_class: dict, pr_curves: dict) -> int:
        return self.db["evaluations"].insert({
            "model_id": model_id, "test_set_hash": test_set_hash,
            "iou_threshold": iou_threshold, "map": map, "per_class": json.dumps(per_class),
            "pr_curves": json.dumps(pr_curves), "created": now()}).last_pk

    def evaluation(self, model_id: int, test_set_hash: str, iou_threshold: float) -> dict | None:
        rows = list(self.db.query(
            "SELECT * FROM evaluations WHERE model_id = ? AND test_set_hash = ? AND "
            "iou_threshold = ? ORDER BY id DESC LIMIT 1", [model_id, test_set_hash, iou_threshold]))
        if not rows:
            return None
        r = rows[0]
        return dict(r, per_class=json.loads(r["per_class"]), pr_curves=json.loads(r["pr_curves"]))

    def save_comparison(self, *, new_model_id: int, old_model_id: int | None, config: dict,
                        test_set_hash: str, per_class: list, decision: str, reason: str,
                        decided_by: str) -> int:
        return self.db["comparisons"].insert({
            "new_model_id": new_model_id, "old_model_id": old_model_id,
            "config": json.dumps(config), "test_set_hash": test_set_hash,
            "per_class": json.dumps(per_class), "decision": decision, "reason": reason,
            "decided_by": decided_by, "created": now()}).last_pk

    def comparisons(self, *, limit: int = 20) -> list[dict]:
        """The newest comparisons first, with their config and per-class results parsed."""
        return [dict(r, config=json.loads(r["config"]), per_class=json.loads(r["per_class"]))
                for r in self.db.query(
                    f"SELECT * FROM comparisons ORDER BY id DESC LIMIT {int(limit)}")]

    def apply_decision(self, new_model_id: int, decision: str) -> None:
        """update_model: the new model becomes active (the old one stays, as trained);
        discard: the new model is kept on record as discarded."""
        with self.db.atomic():
            stamp = now()
            if decision == "update_model":
                self.db.execute("UPDATE models SET status = 'trained', updated = ? "
                                "WHERE status = 'active'", [stamp])
                self.db.execute("UPDATE models SET status = 'active', updated = ? WHERE id = ?",
                                [stamp, new_model_id])
            elif decision == "discard":
                self.db.execute("UPDATE models SET status = 'discarded', updated = ? "
                                "WHERE id = ?", [stamp, new_model_id])
            else:
                raise ValueError(f"decision {decision!r} is not update_model or discard")

    # -- jobs -------------------------------------------------------------------
    def add_job(self, kind: str, params: dict) -> int:
        return self.db["jobs"].insert({"kind": kind, "status": "queued",
                                       "params": json.dumps(params), "created": now()}).last_pk

    def job(self, job_id: int) -> dict:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            raise KeyError(f"no job with id {job_id}")
        return dict(rows[0], params=json.loads(rows[0]["params"]))

    def jobs(self, *, status: str | None = None, limit: int = 50) -> list[dict]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        return [dict(r, params=json.loads(r["params"])) for r in self.db.query(
            f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT {int(limit)}", args)]

    def update_job(self, job_id: int, **fields) -> None:
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*fields.values(), job_id])

    def append_job_log(self, job_id: int, line: str) -> None:
        self.db.execute("UPDATE jobs SET log = log || ? WHERE id = ?", [line + "\n", job_id])

    def update_model(self, model_id: int, **fields) -> None:
        fields = {k: json.dumps(v) if k in ("config", "metrics") else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE models SET {sets}, updated = ? WHERE id = ?",
                        [*fields.values(), now(), model_id])

    def models(self) -> list[dict]:
        return [dict(r, config=json.loads(r["config"]), metrics=json.loads(r["metrics"]))
                for r in self.db.query("SELECT * FROM models ORDER BY id")]

    def replace_predictions(self, model_id: int, item_ids: Sequence[int], rows: Sequence[tuple],
                            embeddings: Sequence[tuple[int, bytes]]) -> None:
        """rows: (item_id, class_id, box, score, probs list); embeddings: (item_id, bytes)."""
        with self.db.atomic():
            marks = ",".join("?" * len(item_ids))
            self.db.execute(f"DELETE FROM predictions WHERE model_id = ? AND item_id IN ({marks})",
                            [model_id, *item_ids])
            self.db["predictions"].insert_all(
                {"model_id": model_id, "item_id": i, "class_id": c, "x1": b.x1, "y1": b.y1,
                 "x2": b.x2, "y2": b.y2, "score": s, "probs": json.dumps(p)}
                for i, c, b, s, p in rows)
            self.db["embeddings"].upsert_all(
                ({"model_id": model_id, "item_id": i, "vector": v} for i, v in embeddings),
                pk=("model_id", "item_id"))

    def _chunked(self, sql: str, ids: Sequence[int], before: Sequence = ()):
        """Rows of ``sql`` (with ``{marks}`` for the id list) over ids in chunks of 500."""
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            yield from self.db.execute(sql.format(marks=",".join("?" * len(chunk))),
                                       [*before, *chunk])

    def items_without_embedding(self, model_id: int, item_ids: Sequence[int]) -> list[int]:
        """The items this model has not predicted yet (predict stores one embedding per
        image it sees)."""
        seen = {r[0] for r in self._chunked(
            "SELECT item_id FROM embeddings WHERE model_id = ? AND item_id IN ({marks})",
            item_ids, [model_id])}
        return [i for i in item_ids if i not in seen]

    def embedding_vectors(self, model_id: int, item_ids: Sequence[int]) -> dict[int, bytes]:
        """item id -> the model's image embedding (float32 bytes)."""
        return dict(self._chunked("SELECT item_id, vector FROM embeddings WHERE model_id = ? "
                                  "AND item_id IN ({marks})", item_ids, [model_id]))

    def predictions_with_probs(self, model_id: int, item_ids: Sequence[int]) -> list[tuple]:
        """(item_id, class_id, score, probs list or None) per stored box, by item."""
        rows = self._chunked("SELECT item_id, class_id, score, probs FROM predictions WHERE "
                             "model_id = ? AND item_id IN ({marks}) ORDER BY item_id, id",
                             item_ids, [model_id])
        return [(i, c, s, json.loads(p) if p else None) for i, c, s, p in rows]

    # -- cold-start features ------------------------------------------------------
    def feature_vectors(self, extractor: str, item_ids: Sequence[int]) -> dict[int, bytes]:
        return dict(self._chunked("SELECT item_id, vector FROM features WHERE extractor = ? "
                                  "AND item_id IN ({marks})", item_ids, [extractor]))

    def save_feature_vectors(self, extractor: str, vectors: Iterable[tuple[int, bytes]]) -> None:
        with self.db.atomic():
            self.db["features"].upsert_all(
                ({"extractor": extractor, "item_id": i, "vector": v} for i, v in vectors),
                pk=("extractor", "item_id"))

    # -- selections (query rounds) ------------------------------------------------
    def query_pool(self, *, tag: str | None = None, include_pending: bool = False) -> list[int]:
        """Unlabeled items without a split (never test, never labeled), optionally only
        those carrying ``tag``; items waiting in an earlier selection are left out unless
        ``include_pending``."""
        if tag is not None and tag not in self.tags():
            raise ValueError(f"no items carry the tag {tag!r} (tags: "
                             f"{', '.join(self.tags()) or 'none yet'})")
        ids = [i.id for i in self.items(status="unlabeled", unsplit=True, tag=tag)]
        if include_pending:
            return ids
        pending = self.pending_item_ids()
        return [i for i in ids if i not in pending]

    def pending_item_ids(self) -> set[int]:
        """Items in some selection that are not labeled yet."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT s.item_id FROM selection_items s JOIN items i ON i.id = s.item_id "
            "WHERE i.status = 'unlabeled'")}

    def training_labeled_ids(self) -> list[int]:
        """Labeled items outside the test split: the labeled set a model learns from."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM items WHERE status = 'labeled' AND coalesce(split, '') != 'test' "
            "ORDER BY id")]

    def next_round(self) -> int:
        return self.db.execute("SELECT coalesce(max(round), 0) + 1 FROM selections").fetchone()[0]

    def check_new_tag(self, tag: str) -> None:
        """Refuse a selection tag that is empty, a split name, or already used."""
        if not isinstance(tag, str) or not tag.strip() or tag != tag.strip():
            raise ValueError(f"tag {tag!r} must be a non-empty name without surrounding spaces")
        if tag in SPLITS:
            raise ValueError(f"tag {tag!r} is reserved for the split of the same name")
        if self.db.execute("SELECT 1 FROM selections WHERE tag = ?", [tag]).fetchone():
            raise ValueError(f"a selection named {tag!r} already exists; choose another --tag")
        if tag in self.tags():
            raise ValueError(f"tag {tag!r} is already on {self.tags()[tag]} items; a selection "
                             "needs a tag of its own")

    def add_selection(self, *, tag: str, round: int, strategy: str, config: dict, seed: int,
                      model_id: int | None, items: Sequence[SelectionItem]) -> int:
        """Store a selection and tag its items with ``tag``, in one transaction."""
        with self.db.atomic():
            self.check_new_tag(tag)
            selection_id = self.db["selections"].insert({
                "tag": tag, "round": round, "strategy": strategy, "config": json.dumps(config),
                "seed": seed, "model_id": model_id, "created": now()}).last_pk
            self.db["selection_items"].insert_all(
                {"selection_id": selection_id, "item_id": i.item_id, "rank": i.rank,
                 "score": i.score, "is_control": int(i.is_control)} for i in items)
            self.add_tag(tag, [i.item_id for i in items])
        return selection_id

    def selection(self, tag: str) -> Selection:
        rows = list(self.db.query("SELECT * FROM selections WHERE tag = ?", [tag]))
        if not rows:
            known = [s.tag for s in self.selections()]
            raise KeyError(f"no selection named {tag!r} (selections: "
                           f"{', '.join(known) or 'none yet'})")
        r = rows[0]
        items = tuple(SelectionItem(i["item_id"], i["rank"], i["score"], bool(i["is_control"]))
                      for i in self.db.query("SELECT * FROM selection_items WHERE "
                                             "selection_id = ? ORDER BY rank", [r["id"]]))
        return Selection(id=r["id"], tag=r["tag"], round=r["round"], strategy=r["strategy"],
                         config=json.loads(r["config"]), seed=r["seed"], model_id=r["model_id"],
                         created=r["created"], items=items)

    def selections(self) -> list[SelectionSummary]:
        return [SelectionSummary(*r) for r in self.db.execute(
            "SELECT s.tag, s.round, s.strategy, s.model_id, count(si.item_id), "
            "coalesce(sum(si.is_control), 0), coalesce(sum(i.status = 'labeled'), 0), s.created "
            "FROM selections s LEFT JOIN selection_items si ON si.selection_id = s.id "
            "LEFT JOIN items i ON i.id = si.item_id GROUP BY s.id ORDER BY s.id")]

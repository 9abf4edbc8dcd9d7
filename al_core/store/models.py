"""Models, their predictions and embeddings, cold-start features."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from sqlite_utils import Database

from al_core.names import normalize_name
from al_core.store.rows import now
from al_core.types import Box


class ModelsMixin:
    db: Database

    # -- models (the registry grows with the detector issue) ------------------
    def add_model(self, *, name: str, arch: str, status: str, config: dict | None = None,
                  parent_id: int | None = None) -> int:
        """A new model row; ``name`` is stored as :func:`~al_core.names.normalize_name`
        makes it (ValueError naming it when it breaks the rule)."""
        name = normalize_name(name, kind="model")
        stamp = now()
        return self.db["models"].insert({
            "name": name, "parent_id": parent_id, "arch": arch,
            "config": json.dumps(config or {}), "status": status, "created": stamp,
            "updated": stamp}).last_pk

    def add_predictions(self, model_id: int, rows: Iterable[tuple[int, int, Box, float]]) -> None:
        """rows: (item_id, class_id, box, score)."""
        with self.write():
            self.db["predictions"].insert_all(
                {"model_id": model_id, "item_id": i, "class_id": c, "x1": b.x1, "y1": b.y1,
                 "x2": b.x2, "y2": b.y2, "score": s} for i, c, b, s in rows)

    def count_predictions(self, model_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM predictions WHERE model_id = ?",
                               [model_id]).fetchone()[0]

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
        if self.db.execute("SELECT 1 FROM embeddings WHERE model_id = ? LIMIT 1",
                           [model_id]).fetchone() is None:
            return []
        return self.items_without_embedding(model_id, item_ids)

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
        with self.write():
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
        with self.write():
            self.db["features"].upsert_all(
                ({"extractor": extractor, "item_id": i, "vector": v} for i, v in vectors),
                pk=("extractor", "item_id"))


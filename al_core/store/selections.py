"""Selections: the query pool, query rounds and their ranked items."""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlite_utils import Database

from al_core.names import MAX_NAME, normalize_name
from al_core.store.rows import now
from al_core.types import SPLITS, Selection, SelectionItem, SelectionSummary

MAX_TAG = MAX_NAME["tag"]  # characters of a selection name


class SelectionsMixin:
    db: Database

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

    def check_new_tag(self, tag: str) -> str:
        """The tag as a new selection stores it: :func:`~al_core.names.normalize_name`
        (``" round  1 "`` is ``round 1``). Raises ValueError naming the tag when it breaks
        the rule (empty, a line break or escape code, over 100 characters), is a split
        name, or is already a selection's or items' tag."""
        tag = normalize_name(tag, kind="tag")
        if tag in SPLITS:
            raise ValueError(f"tag {tag!r} is reserved for the split of the same name")
        if self.db.execute("SELECT 1 FROM selections WHERE tag = ?", [tag]).fetchone():
            raise ValueError(f"a selection named {tag!r} already exists; choose another --tag")
        if tag in self.tags():
            raise ValueError(f"tag {tag!r} is already on {self.tags()[tag]} items; a selection "
                             "needs a tag of its own")
        return tag

    def add_selection(self, *, tag: str, round: int, strategy: str, config: dict, seed: int,
                      model_id: int | None, items: Sequence[SelectionItem]) -> int:
        """Store a selection and tag its items with ``tag`` as :meth:`check_new_tag`
        gives it, in one transaction."""
        with self.write():
            tag = self.check_new_tag(tag)
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


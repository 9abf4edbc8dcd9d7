"""Classes, items, their labels and edit history, the demo's hidden ground truth, splits
and tags."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlite_utils import Database

from al_core.names import name_or_none, normalize_name
from al_core.store.rows import PALETTE, _box, _item, now
from al_core.store.work import UNAPPROVED_ITEMS
from al_core.types import SPLITS, Annotation, ClassInfo, Item, LabeledBox


class ItemsMixin:
    db: Database
    images_dir: Path

    # -- classes ------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        return [ClassInfo(r["id"], r["name"], r["color"])
                for r in self.db.query("SELECT * FROM classes ORDER BY id")]

    def ensure_classes(self, names: Iterable[str]) -> dict[str, int]:
        """Create the classes that do not exist yet; return name -> id for every class
        and every given name. A new name is stored as :func:`~al_core.names.normalize_name`
        makes it (``"traffic  light"`` is ``traffic light``); one that breaks the rule
        (empty, a control character such as a line break, over 100 characters) raises
        ValueError naming it, before any class is created. A given name maps to the class
        of that name as stored, else of that name once normalised, also a class stored
        before the rule existed (``"cat "`` of an old project is ``cat``)."""
        names = list(names)
        with self.write():
            existing = {c.name: c.id for c in self.classes()}
            by_rule: dict[str, int] = {}
            for stored, class_id in existing.items():  # old names may break the rule
                by_rule.setdefault(name_or_none(stored, kind="class") or stored, class_id)
            wanted = {n: n if n in existing else normalize_name(n, kind="class")
                      for n in names}  # every name checked before any is written
            count = len(existing)
            for given, name in wanted.items():
                if name not in existing and name not in by_rule:
                    color = PALETTE[count % len(PALETTE)]
                    by_rule[name] = self.db["classes"].insert(
                        {"name": name, "color": color, "created": now()}).last_pk
                    count += 1
                existing[given] = existing[name] = existing.get(name, by_rule.get(name))
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
              unsplit: bool = False, limit: int | None = None, offset: int = 0,
              trainable: bool = False) -> list[Item]:
        """Items matching every given filter, in id order. ``unsplit`` selects items with
        no split yet; ``tag`` an item tag (a split name also works as a tag);
        ``trainable`` leaves out images whose labels wait for review when only approved
        labels train (team mode's workflow, :meth:`approved_only`)."""
        where, params = self._item_filter(split, status, tag, ids, unsplit,
                                          trainable and self.approved_only())
        sql = f"SELECT * FROM items {where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_item(r) for r in self.db.query(sql, params)]

    def count_items(self, **filters) -> int:
        where, params = self._item_filter(filters.get("split"), filters.get("status"),
                                          filters.get("tag"), filters.get("ids"),
                                          filters.get("unsplit", False),
                                          filters.get("trainable", False)
                                          and self.approved_only())
        return self.db.execute(f"SELECT count(*) FROM items {where}", params).fetchone()[0]

    @staticmethod
    def _item_filter(split, status, tag, ids, unsplit, approved=False) -> tuple[str, list]:
        clauses, params = [], []
        if approved:
            clauses.append(f"id NOT IN ({UNAPPROVED_ITEMS})")
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
        """Current boxes per item id (items without boxes map to an empty list). In team
        mode an annotator reads no boxes of a gold image (its labels are the answer
        their own is scored against)."""
        out = self._annotations(item_ids)
        for item_id in self._hide_gold() & set(out):
            out[item_id] = []
        return out

    def _gold_truth(self, item_id: int) -> list[Annotation]:
        """A gold image's boxes whoever acts (to score an annotator's answer)."""
        return self._annotations([item_id])[item_id]

    def _annotations(self, item_ids: Sequence[int] | None) -> dict[int, list[Annotation]]:
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
                   reason: str | None = None,
                   auto_accepted: Sequence[bool] | None = None) -> int:
        """Replace the item's boxes, mark it labeled, append the change to the history.
        ``auto_accepted`` (one flag per box) marks the boxes saved without a person
        looking at them (box-level review). Returns the item's new label version.
        Raises ValueError when the flags do not match the boxes, or for auto-accepted
        boxes on a test item (the test split holds only labels people made)."""
        flags = [bool(f) for f in auto_accepted] if auto_accepted is not None \
            else [False] * len(boxes)
        if len(flags) != len(boxes):
            raise ValueError(f"{len(flags)} auto_accepted flags for {len(boxes)} boxes")
        with self.write():
            item = self.item(item_id)
            if item.split == "test" and any(flags):
                raise ValueError(f"image #{item_id} is in the frozen test split: its labels "
                                 "cannot include auto-accepted boxes (the test split holds "
                                 "only labels people made); nothing was saved")
            before = [[a.class_id, *a.box.as_list()]  # the history's, whoever writes
                      for a in self._annotations([item_id])[item_id]]
            after = [[b.class_id, *b.box.as_list()] for b in boxes]
            self.db.execute("DELETE FROM annotations WHERE item_id = ?", [item_id])
            stamp = now()
            self.db["annotations"].insert_all(
                {"item_id": item_id, "class_id": b.class_id, "x1": b.box.x1, "y1": b.box.y1,
                 "x2": b.box.x2, "y2": b.box.y2, "source": source, "author": author,
                 "round": round, "created": stamp, "auto_accepted": int(f)}
                for b, f in zip(boxes, flags))
            version = item.label_version + 1
            self.db.execute(
                "UPDATE items SET status = 'labeled', label_version = ?, labeled_by = ?, "
                "labeled_round = coalesce(labeled_round, ?) WHERE id = ?",
                [version, author, round, item_id])
            self.db["annotation_history"].insert({
                "item_id": item_id, "label_version": version, "before": json.dumps(before),
                "after": json.dumps(after), "author": author, "reason": reason, "at": stamp})
        return version

    def auto_accepted_ids(self, item_ids: Sequence[int] | None = None) -> set[int]:
        """The ids of the current boxes (of these items, or all) that were auto-accepted."""
        if item_ids is None:
            return {r[0] for r in self.db.execute(
                "SELECT id FROM annotations WHERE auto_accepted = 1")}
        return {r[0] for r in self._chunked(  # ModelsMixin's: 500 ids a query
            "SELECT id FROM annotations WHERE auto_accepted = 1 AND item_id IN ({marks})",
            item_ids)}

    def items_with_auto_accepted(self, item_ids: Sequence[int] | None = None) -> set[int]:
        """The items (of these, or all) whose current labels include an auto-accepted box."""
        if item_ids is None:
            return {r[0] for r in self.db.execute(
                "SELECT DISTINCT item_id FROM annotations WHERE auto_accepted = 1")}
        return {r[0] for r in self._chunked(
            "SELECT DISTINCT item_id FROM annotations WHERE auto_accepted = 1 AND "
            "item_id IN ({marks})", item_ids)}

    def split_identity(self, split: str) -> tuple[list[int], str]:
        """A split's labeled items and a hash of their ids and label versions (as
        ``test_set_identity``): anything computed from the split's labels is stale
        once this hash changes."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        rows = self.db.execute("SELECT id, label_version FROM items WHERE split = ? "
                               "AND status = 'labeled' ORDER BY id", [split]).fetchall()
        digest = hashlib.sha256(json.dumps([list(r) for r in rows]).encode()).hexdigest()[:16]
        return [r[0] for r in rows], digest

    def label_history(self, item_id: int) -> list[dict]:
        """The item's label versions, oldest first (none of a gold image for an annotator
        in team mode)."""
        if item_id in self._hide_gold():
            return []
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
        with self.write():
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

    def drop_unlabeled_items(self) -> list[str]:
        """Delete the unlabeled items, and the image files copied into the project for
        them (never a referenced folder's), for the simulation's start from an imported
        dataset: an image the import could not label whole has no ground truth to
        answer with. Returns their files. Raises sqlite3.IntegrityError if anything
        refers to them (nothing does right after an import)."""
        with self.write():
            rows = self.db.execute("SELECT file, root FROM items WHERE status = 'unlabeled' "
                                   "ORDER BY id").fetchall()
            self.db.execute("DELETE FROM items WHERE status = 'unlabeled'")
        for file, root in rows:
            if not root:
                (self.images_dir / file).unlink(missing_ok=True)
        return [file for file, _ in rows]

    def label_from_oracle(self, item_ids: Sequence[int], *, round: int | None = None) -> int:
        """Copy the hidden ground truth of these items into their labels (approved as
        written in team mode, as the oracle's reviews are)."""
        truth = self.oracle_boxes(item_ids)
        with self.write():
            for item_id in item_ids:
                self.set_labels(item_id, truth[item_id], source="oracle", author="oracle",
                                round=round, reason="labeled from the oracle")
                self.approve_written(item_id, "oracle")
        return len(item_ids)

    # -- splits and tags ----------------------------------------------------
    def set_splits(self, assignment: dict[int, str | None]) -> None:
        """Set items' splits in one transaction. Raises ValueError (nothing changed) for
        an unknown split, or for an item whose labels include auto-accepted boxes sent
        to test: the test split holds only labels people made."""
        with self.write():
            to_test = [i for i, s in assignment.items() if s == "test"]
            gold = sorted(set(to_test) & self.gold_ids())
            if gold:
                raise ValueError(f"image #{gold[0]} ({len(gold)} in all) is a gold image and "
                                 "cannot join the test split (gold images are shown to "
                                 "annotators; unmark it first); nothing was changed")
            auto = sorted(self.items_with_auto_accepted(to_test)) if to_test else []
            if auto:
                raise ValueError(f"image #{auto[0]} ({len(auto)} in all) has auto-accepted "
                                 "boxes and cannot join the test split (it holds only labels "
                                 "people made); nothing was changed")
            for item_id, split in assignment.items():
                if split is not None and split not in SPLITS:
                    raise ValueError(f"split {split!r} is not one of {SPLITS}")
                self.db.execute("UPDATE items SET split = ? WHERE id = ?", [split, item_id])

    def add_tag(self, tag: str, item_ids: Iterable[int]) -> None:
        if tag in SPLITS:
            raise ValueError(f"tag {tag!r} is reserved for the split of the same name")
        with self.write():
            self.db["tags"].insert_all(({"item_id": i, "tag": tag, "created": now()}
                                        for i in item_ids), ignore=True)

    def tags(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag")}

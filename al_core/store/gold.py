"""Gold images (honeypots) of team mode's workflow: which images are gold, the serves to
annotators and their scored answers (scoring: :mod:`al_core.review.gold`), and keeping
the answer from annotators' reads."""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlite_utils import Database

from al_core.permissions import PermissionDenied
from al_core.store.rows import now


class GoldMixin:
    db: Database

    # -- gold images ---------------------------------------------------------------------
    def gold_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT item_id FROM gold_items")}

    def is_gold(self, item_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM gold_items WHERE item_id = ?",
                               [item_id]).fetchone() is not None

    def set_gold(self, item_ids: Sequence[int], gold: bool = True) -> int:
        """Mark (or unmark) labeled images as gold (``manage_work``). Raises ValueError,
        nothing changed, for an image that is unlabeled, in the test split (annotators
        must never see test images), or whose labels wait for review. Returns the
        images changed."""
        with self.write():
            self.authorize("manage_work")
            ids = list(dict.fromkeys(int(i) for i in item_ids))
            if gold:
                for item in self.items(ids=ids):
                    if item.status != "labeled":
                        raise ValueError(f"image #{item.id} has no labels: a gold image's "
                                         "labels are the answer; nothing was marked")
                    if item.split == "test":
                        raise ValueError(f"image #{item.id} is in the frozen test split: "
                                         "gold images are shown to annotators, test images "
                                         "never are; nothing was marked")
                    if self.work_state(item.id) != "approved":
                        raise ValueError(f"image #{item.id}'s labels wait for review: only "
                                         "approved labels can be gold; nothing was marked")
                missing = set(ids) - {i.id for i in self.items(ids=ids)}
                if missing:
                    raise KeyError(f"no image with id {min(missing)}")
                stamp = now()
                changed = sum(self.db.execute(
                    "INSERT OR IGNORE INTO gold_items (item_id, marked_by, at) VALUES (?, ?, ?)",
                    [i, self.actor_name, stamp]).rowcount for i in ids)
            else:
                changed = sum(self.db.execute("DELETE FROM gold_items WHERE item_id = ?",
                                              [i]).rowcount for i in ids)
            self.audit("gold.mark" if gold else "gold.unmark", object_type="item",
                       object_id=",".join(map(str, ids[:20])),
                       summary=f"{'marked' if gold else 'unmarked'} {changed} gold images",
                       after={"items": ids[:200]})
        return changed

    def gold_candidates(self, annotator: str) -> list[int]:
        """Gold images ``annotator`` was never served and never labeled (any version of
        their labels, not only the last: a reviewer's fix of their boxes is still their
        image)."""
        return [r[0] for r in self.db.execute(
            "SELECT g.item_id FROM gold_items g WHERE g.item_id NOT IN "
            "(SELECT item_id FROM gold_answers WHERE lower(annotator) = lower(?)) "
            "AND g.item_id NOT IN (SELECT item_id FROM annotation_history "
            "WHERE lower(coalesce(author, '')) = lower(?)) ORDER BY g.item_id",
            [annotator, annotator])]

    def serve_gold(self, item_id: int, annotator: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO gold_answers (item_id, annotator, served) "
                        "VALUES (?, ?, ?)", [item_id, annotator, now()])

    def gold_served(self, item_id: int, annotator: str) -> bool:
        """True when the gold image was served to ``annotator``: it is theirs to open
        and answer, and to open and answer again (as a submitted image is theirs to take
        back before review), their last answer being the one scored. False once the
        image is no longer gold: a save is then a save."""
        return self.db.execute("SELECT 1 FROM gold_answers a JOIN gold_items g ON "
                               "g.item_id = a.item_id WHERE a.item_id = ? AND "
                               "lower(a.annotator) = lower(?)",
                               [item_id, annotator]).fetchone() is not None

    def record_gold_answer(self, item_id: int, annotator: str, **score) -> None:
        self.db.execute(
            "UPDATE gold_answers SET answered = ?, boxes = ?, gold_boxes = ?, answer_boxes = ?, "
            "matched = ?, same_class = ?, f1 = ?, class_accuracy = ?, seconds = ? "
            "WHERE item_id = ? AND lower(annotator) = lower(?)",
            [now(), json.dumps(score["boxes"]), score["gold_boxes"], score["answer_boxes"],
             score["matched"], score["same_class"], score["f1"], score["class_accuracy"],
             score["seconds"], item_id, annotator])

    def gold_answers(self, annotator: str | None = None) -> list[dict]:
        """Scored answers (a reviewer's or lead's figures: ``team_stats``)."""
        self.authorize("team_stats")
        where, params = ("AND annotator = ?", [annotator]) if annotator else ("", [])
        return list(self.db.query("SELECT * FROM gold_answers WHERE answered IS NOT NULL "
                                  f"{where} ORDER BY id", params))

    def _hide_gold(self) -> set[int]:
        """Gold images whose answer the acting user must not read: every gold image for
        an annotator in team mode, none otherwise."""
        if not self.team_mode() or self.actor_name is None:
            return set()
        try:
            role = self.actor().role
        except PermissionDenied:
            return self.gold_ids()
        return self.gold_ids() if role == "annotator" else set()


"""Review and claims: saved reviews with their change counts, leases that keep two
annotators off one image, per-user skips and settings.

A lease lasts its length of monotonic time in the boot it was taken in
(:mod:`al_core.clock`), never longer, whatever the wall clock does (a clock stepped
back an hour once stretched a 5-minute lease to 65). ``expires`` keeps the wall time it
was meant to end at, for people to read."""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlite_utils import Database

from al_core import clock
from al_core.names import normalize_name
from al_core.store.rows import now
from al_core.types import LabeledBox
from al_core.workflow import CapReached

# an unexpired lease of claims row ``c``; its parameters come from _lease_clock()
LIVE_LEASE = "(c.boot_id = ? AND c.taken_mono <= ? AND c.expires_mono > ?)"


def _lease_clock(at: float | None = None) -> list:
    """The parameters of ``LIVE_LEASE`` now (or at monotonic reading ``at``)."""
    mono = clock.monotonic() if at is None else at
    return [clock.BOOT_ID, mono + 1.0, mono]


class ReviewMixin:
    db: Database

    # -- leases -----------------------------------------------------------------
    def holder(self, item_id: int, *, at: float | None = None) -> str | None:
        """Who holds the item now (or at monotonic reading ``at``: an unexpired lease),
        or None."""
        row = self.db.execute(f"SELECT holder FROM claims c WHERE item_id = ? AND {LIVE_LEASE}",
                              [item_id, *_lease_clock(at)]).fetchone()
        return row[0] if row else None

    def _labeler(self, user: str) -> str:
        """``user`` by the name rule, once the acting user may label as them: anyone
        signed in may (``label``), in team mode only as themselves (PermissionDenied
        otherwise)."""
        user = normalize_name(user, kind="person")
        self.authorize("label")
        return self.own_name(user, what="the annotator")

    def claim(self, item_id: int, user: str, *, seconds: float) -> str | None:
        """Hold the item for ``user`` for ``seconds`` of monotonic time (renewing their
        own lease). Returns None on success, else the name of the other annotator who
        holds it. ``user`` goes by the name rule (:func:`al_core.names.normalize_name`),
        here as in every method that takes one, so `` ana `` holds what ``ana`` saves.
        Team mode: only the acting user's own lease (``label``)."""
        user = self._labeler(user)
        if self.team_mode():
            with self.write():
                held = self.holder(item_id)  # a lease the workflow does not know of
                if held is not None and held.casefold() != user.casefold():
                    return held
                other = self._work_open(item_id, user)  # team mode: the workflow's "open"
                if other is not None or self.is_gold(item_id):
                    return other  # a served gold image is held by its serve, not a lease
                return self._claim(item_id, user, seconds=seconds)
        return self._claim(item_id, user, seconds=seconds)

    def _claim(self, item_id: int, user: str, *, seconds: float) -> str | None:
        with self.write():
            mono = clock.monotonic()
            other = self.holder(item_id, at=mono)
            if other is not None and other != user:
                return other
            self.db.execute(
                "INSERT INTO claims (item_id, holder, expires, boot_id, taken_mono, "
                "expires_mono) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET "
                "holder = excluded.holder, expires = excluded.expires, boot_id = "
                "excluded.boot_id, taken_mono = excluded.taken_mono, expires_mono = "
                "excluded.expires_mono",
                [item_id, user, clock.wall_time() + seconds, clock.BOOT_ID, mono,
                 mono + seconds])
        return None

    def release(self, item_id: int, user: str) -> None:
        """Give up ``user``'s lease on the item (another's lease is left alone). Team
        mode: only the acting user's own lease."""
        user = self._labeler(user)
        with self.write():
            self._drop_lease(item_id, user)
            if self.team_mode():
                self._work_release(item_id, user)

    def _drop_lease(self, item_id: int, user: str) -> None:
        self.db.execute("DELETE FROM claims WHERE item_id = ? AND holder = ?", [item_id, user])

    def review_queue(self, selection_id: int, user: str, *, exclude: Sequence[int] = (),
                     limit: int | None = None) -> list[int]:
        """The selection's items left for ``user``, in rank order: unlabeled, not skipped
        by them, not in ``exclude``, not held by another annotator; items they hold
        themselves first."""
        user = normalize_name(user, kind="person")
        if self.team_mode():  # the workflow's queue: own work first, then the pool
            ids = [i for i in self._work_queue(selection_id, user) if i not in set(exclude)]
            return ids if limit is None else ids[:limit]
        rows = self.db.execute(
            "SELECT si.item_id FROM selection_items si "
            "JOIN items i ON i.id = si.item_id "
            f"LEFT JOIN claims c ON c.item_id = si.item_id AND {LIVE_LEASE} "
            "WHERE si.selection_id = ? AND i.status = 'unlabeled' "
            "AND (c.holder IS NULL OR c.holder = ?) "
            "AND si.item_id NOT IN (SELECT item_id FROM skips WHERE user = ?) "
            "ORDER BY (c.holder IS NULL), si.rank",
            [*_lease_clock(), selection_id, user, user]).fetchall()
        excluded = set(exclude)
        ids = [r[0] for r in rows if r[0] not in excluded]
        return ids if limit is None else ids[:limit]

    def claim_next(self, selection_id: int, user: str, *, seconds: float,
                   exclude: Sequence[int] = ()) -> int | None:
        """The first item of :meth:`review_queue`, claimed for ``user`` in the same write
        transaction (so two annotators never get the same one); None when none is left."""
        user = self._labeler(user)
        if self.team_mode():
            return self._work_next(selection_id, user, seconds=seconds, exclude=exclude)
        with self.write():
            ids = self.review_queue(selection_id, user, exclude=exclude, limit=1)
            if not ids:
                return None
            self._claim(ids[0], user, seconds=seconds)
            return ids[0]

    def claim_many(self, item_ids: Sequence[int], user: str, *, seconds: float) -> list[int]:
        """Claim each item that no other annotator holds; returns those claimed."""
        user = self._labeler(user)
        if self.team_mode():  # each through the workflow's "open"; the cap stops the rest
            claimed = []
            for item_id in item_ids:
                try:
                    if self.claim(item_id, user, seconds=seconds) is None:
                        claimed.append(item_id)
                except CapReached:
                    break
            return claimed
        with self.write():
            return [i for i in item_ids if self._claim(i, user, seconds=seconds) is None]

    # -- skips and settings -----------------------------------------------------------
    def skip(self, item_id: int, user: str, *, selection_id: int | None) -> None:
        """The item leaves ``user``'s queue (it stays unlabeled for everyone else). Team
        mode: only the acting user's own queue (``label``)."""
        user = self._labeler(user)
        with self.write():
            self.db.execute("INSERT OR REPLACE INTO skips (item_id, user, selection_id, at) "
                            "VALUES (?, ?, ?, ?)", [item_id, user, selection_id, now()])
            self._drop_lease(item_id, user)
            if self.team_mode():
                self._work_release(item_id, user, skip=True)
                if self.workflow_settings().skip_to == "me":  # it comes back to them
                    self.db.execute("DELETE FROM skips WHERE item_id = ? AND user = ?",
                                    [item_id, user])
            self.audit("review.skip", object_type="item", object_id=item_id,
                       summary=f"{user} skipped image #{item_id}",
                       after={"selection_id": selection_id})

    def skipped(self, selection_id: int, user: str) -> list[int]:
        """The selection's unlabeled items that ``user`` skipped, in rank order (saving an
        item ends its skips)."""
        user = normalize_name(user, kind="person")
        return [r[0] for r in self.db.execute(
            "SELECT si.item_id FROM skips k JOIN selection_items si ON si.item_id = k.item_id "
            "JOIN items i ON i.id = k.item_id WHERE k.user = ? AND si.selection_id = ? "
            "AND i.status = 'unlabeled' ORDER BY si.rank", [user, selection_id])]

    def user_setting(self, user: str, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM user_settings WHERE user = ? AND key = ?",
                              [user, key]).fetchone()
        return row[0] if row else default

    def set_user_setting(self, user: str, key: str, value: str) -> None:
        """A person's own setting: anyone signed in may change theirs; in team mode
        only theirs (PermissionDenied for another user's, or with nobody signed in)."""
        if self.team_mode():
            user = self.own_name(user, what="the user whose setting this is")
        self.db.execute("INSERT OR REPLACE INTO user_settings (user, key, value) "
                        "VALUES (?, ?, ?)", [user, key, value])

    # -- reviews ----------------------------------------------------------------------
    def save_review(self, item_id: int, boxes: Sequence[LabeledBox], *, author: str,
                    action: str, source: str, selection_id: int | None, round: int | None,
                    seconds: float | None, prelabels: int, changes: dict[str, int],
                    reason: str, auto_accepted: Sequence[bool] | None = None) -> int:
        """Write the labels, the review row and the history, and release ``author``'s
        lease, in one transaction; returns the new label version. ``auto_accepted``: one
        flag per box, set for a box saved without a person looking at it (the review row
        counts them). The caller (:func:`al_core.review.save.submit_review`) checks
        versions, leases and classes."""
        with self.write():
            version = self.set_labels(item_id, boxes, source=source, author=author,
                                      round=round, reason=reason, auto_accepted=auto_accepted)
            self.db["reviews"].insert({
                "item_id": item_id, "selection_id": selection_id, "round": round,
                "author": author, "action": action, "seconds": seconds,
                "label_version": version, "prelabels": prelabels, "boxes": len(boxes),
                **changes, "auto_accepted": sum(map(bool, auto_accepted or ())),
                "at": now()})
            self.db.execute("DELETE FROM skips WHERE item_id = ?", [item_id])
            self._drop_lease(item_id, author)
        return version

    def reviews(self, *, item_id: int | None = None, selection_id: int | None = None,
                author: str | None = None) -> list[dict]:
        """Saved reviews, oldest first, filtered by any of item, selection and author;
        none of a gold image for an annotator in team mode (their counts of boxes kept,
        moved and added describe its answer)."""
        clauses, params = [], []
        for column, value in (("item_id", item_id), ("selection_id", selection_id),
                              ("author", author)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = list(self.db.query(f"SELECT * FROM reviews {where} ORDER BY id", params))
        hidden = self._hide_gold()
        return [r for r in rows if r["item_id"] not in hidden] if hidden else rows

    def class_box_counts(self, user: str) -> dict[int, int]:
        """The boxes ``user`` has saved in this project, per class: ``{class_id: n}``
        (their current labels, case-insensitive on the name; classes with none are
        left out). What the Review editor's number keys follow."""
        rows = self.db.execute("SELECT class_id, count(*) FROM annotations WHERE "
                               "lower(author) = lower(?) GROUP BY class_id", [user])
        return {class_id: n for class_id, n in rows}

    def review_progress(self, selection_id: int, user: str) -> dict[str, int]:
        """The selection's counts for ``user``: total, labeled, skipped (by them), held
        (by others now) and left (unlabeled, not skipped by them)."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(i.status = 'labeled'), 0), "
            "coalesce(sum(i.status = 'unlabeled' AND k.item_id IS NOT NULL), 0), "
            "coalesce(sum(i.status = 'unlabeled' AND k.item_id IS NULL AND c.holder IS NOT NULL "
            "AND c.holder != ?), 0) "
            "FROM selection_items si JOIN items i ON i.id = si.item_id "
            "LEFT JOIN skips k ON k.item_id = si.item_id AND k.user = ? "
            f"LEFT JOIN claims c ON c.item_id = si.item_id AND {LIVE_LEASE} "
            "WHERE si.selection_id = ?", [user, user, *_lease_clock(), selection_id]).fetchone()
        total, labeled, skipped, held = row
        return {"total": total, "labeled": labeled, "skipped": skipped, "held": held,
                "left": total - labeled - skipped}

    # -- box-level review's thresholds -------------------------------------------------
    def auto_accept_thresholds(self, model_id: int, val_set_hash: str) -> dict | None:
        """The stored thresholds of a model on the validation set of this identity
        (``{"settings": {...}, "classes": {...}}``), or None."""
        row = self.db.execute("SELECT settings, classes FROM auto_accept_thresholds WHERE "
                              "model_id = ? AND val_set_hash = ?",
                              [model_id, val_set_hash]).fetchone()
        return {"settings": json.loads(row[0]), "classes": json.loads(row[1])} if row else None

    def save_auto_accept_thresholds(self, model_id: int, val_set_hash: str, *,
                                    settings: dict, classes: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO auto_accept_thresholds (model_id, val_set_hash, settings, "
            "classes, created) VALUES (?, ?, ?, ?, ?)",
            [model_id, val_set_hash, json.dumps(settings), json.dumps(classes), now()])

"""The lead's tasks of team mode's review workflow (:mod:`al_core.workflow`): a
selection's queued images handed out to annotators, round-robin or by image id, and taken
back while nobody opened them. Each image moves through :meth:`WorkMixin._move`
(:mod:`al_core.store.work`), which checks the transition table and writes the audit log."""
from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from al_core.store.rows import now


class TasksMixin:
    db: Database

    def assign(self, selection_id: int, annotators: Sequence[str], *, size: int,
               item_ids: Sequence[int] | None = None) -> list[dict]:
        """Hand out images as tasks of at most ``size`` images (``manage_work``; Dataloop's
        labeling task with its batch size): by default the selection's queued images (no
        one holds or was given them), in rank order, task k to ``annotators[k % n]``
        (round-robin); with ``item_ids``, those images (by hand), in the order given.
        Returns the tasks made. Raises ValueError, nothing changed, for no annotators, an
        unknown or disabled user, ``size`` under 1, or an image that is not a queued
        image of the selection."""
        with self.write():
            actor = self.authorize("manage_work")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"a task holds at least 1 image, not {size!r}")
            names = []
            for given in annotators:
                user = self.user(given) or next(
                    (u for u in self.users() if u.name.casefold() == str(given).casefold()),
                    None)
                if user is None or user.disabled:
                    raise ValueError(f"{str(given)[:60]!r} is not an enabled user of this "
                                     "project")
                names.append(user.name)
            if not names:
                raise ValueError("name at least one annotator to hand the images to")
            ids = [r["item_id"] for r in self._selection_ranked(selection_id)]
            queued = [i for i in ids if self.work_state(i) == "queued" and
                      self.holder(i) is None]
            if item_ids is None:
                chosen = queued
            else:
                chosen = list(dict.fromkeys(int(i) for i in item_ids))
                bad = [i for i in chosen if i not in set(queued)]
                if bad:
                    raise ValueError(f"image #{bad[0]} is not a queued image of this "
                                     f"selection (it is {self.work_state(bad[0])} or held, "
                                     "or in another selection); nothing was assigned")
            made = []
            for k, start in enumerate(range(0, len(chosen), size)):
                chunk = chosen[start:start + size]
                who = names[k % len(names)]
                task = {"selection_id": selection_id, "annotator": who, "size": len(chunk),
                        "created_by": actor.name, "created": now()}
                task["id"] = self.db["tasks"].insert(task).last_pk
                for item_id in chunk:
                    self._move(item_id, "assign", "assigned", annotator=who,
                               task_id=task["id"])
                made.append({**task, "items": chunk})
        return made

    def unassign(self, item_ids: Sequence[int]) -> int:
        """Put assigned images (not yet opened) back in the pool (``manage_work``)."""
        with self.write():
            self.authorize("manage_work")
            moved = 0
            for item_id in item_ids:
                if self.work_state(item_id) == "assigned":
                    self._move(item_id, "unassign", "queued", annotator=None, task_id=None)
                    moved += 1
        return moved

    def _selection_ranked(self, selection_id: int) -> list[dict]:
        return [dict(r) for r in self.db.query(
            "SELECT item_id, rank FROM selection_items WHERE selection_id = ? ORDER BY rank",
            [selection_id])]

    def tasks(self, selection_id: int | None = None) -> list[dict]:
        where, params = ("WHERE selection_id = ?", [selection_id]) \
            if selection_id is not None else ("", [])
        return list(self.db.query(f"SELECT * FROM tasks {where} ORDER BY id", params))


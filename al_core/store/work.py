"""The review workflow's rows (team mode, :mod:`al_core.workflow`): each image's state and
whose work it is, the annotator's queue (returned, held, assigned, then the pool, with a cap
and gold images mixed in), the lead's settings, submissions with the spot check's draw, and
the reviewers' decisions and comments (the lead's tasks: :mod:`al_core.store.tasks`; gold
images: :mod:`al_core.store.gold`). Every change of state goes through :meth:`WorkMixin._move`, which
checks the one transition table and writes the audit log.

In single-user mode (no users) nothing here is used: a saved label is a label.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence

from sqlite_utils import Database

from al_core.store.review import LIVE_LEASE, _lease_clock
from al_core.store.rows import now
from al_core.workflow import (WAITING, CapReached, WorkflowError, WorkflowSettings,
                              check_move)

WORKFLOW_KEY = "workflow"  # meta key: the project's WorkflowSettings as JSON
# the images whose current labels are not approved ones: every state but approved, except
# an approved image someone opened and has not saved (its labels are still the approved)
UNAPPROVED_ITEMS = ("SELECT item_id FROM work_items WHERE state != 'approved' AND NOT "
                    "(state = 'in_progress' AND coalesce(resume, '') = 'approved')")


class WorkMixin:
    db: Database
    # the spot check's and the gold mix's draws: unbiased, not reproducible (a test may
    # set a seeded random.Random)
    work_rng: random.Random = random.SystemRandom()

    # -- settings ------------------------------------------------------------------------
    def workflow_settings(self) -> WorkflowSettings:
        raw = self.get_meta(WORKFLOW_KEY)
        return WorkflowSettings.from_dict(json.loads(raw)) if raw else WorkflowSettings()

    def set_workflow_settings(self, **changes) -> WorkflowSettings:
        """Change some settings (``manage_work``); ValueError naming a bad value or key,
        nothing changed."""
        with self.write():
            self.authorize("manage_work")
            before = self.workflow_settings()
            after = WorkflowSettings.from_dict({**before.__dict__, **changes})
            self.set_meta(WORKFLOW_KEY, json.dumps(after.__dict__))
            self.audit("workflow.settings", object_type="project",
                       summary="workflow settings: " + ", ".join(
                           f"{k} {getattr(before, k)!r} -> {v!r}" for k, v in changes.items()),
                       before=before.__dict__, after=after.__dict__)
        return after

    def approved_only(self) -> bool:
        """True when only approved labels train (team mode with the setting on)."""
        return self.team_mode() and self.workflow_settings().approved_only

    # -- rows ----------------------------------------------------------------------------
    def work(self, item_id: int) -> dict | None:
        """The image's workflow row, or None when it never entered the workflow."""
        rows = list(self.db.query("SELECT * FROM work_items WHERE item_id = ?", [item_id]))
        return dict(rows[0]) if rows else None

    def work_state(self, item_id: int) -> str:
        """The image's state; an image without a row is ``approved`` when labeled (labels
        from before team mode, imports) and ``queued`` otherwise."""
        row = self.work(item_id)
        if row is not None:
            return row["state"]
        return "approved" if self.item(item_id).status == "labeled" else "queued"

    def _move(self, item_id: int, event: str, target: str, **fields) -> dict:
        """Move the image to ``target`` by ``event`` (checked against the transition
        table, :class:`WorkflowError` otherwise), setting ``fields`` (annotator, reviewer,
        task_id, returns, resume), with an audit row. Returns the new row."""
        with self.write():
            row = self.work(item_id)
            state = row["state"] if row else self.work_state(item_id)
            check_move(item_id, state, event, target)
            stamp = now()
            if row is None:
                sel = self.db.execute("SELECT selection_id FROM selection_items WHERE "
                                      "item_id = ? ORDER BY selection_id DESC LIMIT 1",
                                      [item_id]).fetchone()
                row = {"item_id": item_id, "selection_id": sel[0] if sel else None,
                       "annotator": None, "reviewer": None, "task_id": None, "returns": 0,
                       "resume": None}
            new = {**row, **fields, "state": target, "updated": stamp,
                   "since": stamp if target != state or row.get("since") is None
                   else row["since"]}
            self.db["work_items"].upsert(new, pk="item_id")
            self.audit(f"work.{event}", object_type="item", object_id=item_id,
                       summary=f"image #{item_id}: {state} -> {target}"
                               + (f" ({new['annotator']})" if new["annotator"] else ""),
                       before={"state": state}, after={"state": target, **fields})
        return new

    def approve_written(self, item_id: int, author: str | None) -> None:
        """Team mode: labels a lead's import or the demo's oracle wrote (``set_labels``
        outside a review) are approved as written, the workflow's ``import``. An image
        that had entered the workflow moves to approved: left queued or assigned with
        labels, it waited for a review nobody could give, out of training, and was still
        served as pool work. Call in the transaction that wrote the labels."""
        if not self.team_mode():
            return
        row = self.work(item_id)
        if row is not None and row["state"] != "approved":
            self._move(item_id, "import", "approved", annotator=author, resume=None)

    def work_counts(self, selection_id: int | None = None) -> dict[str, int]:
        """Images in each state (every state a key), of one selection or of all
        selections' images; images without a row count as :meth:`work_state` says."""
        where = "WHERE si.selection_id = ?" if selection_id is not None else ""
        rows = self.db.execute(
            "SELECT coalesce(w.state, CASE WHEN i.status = 'labeled' THEN 'approved' "
            "ELSE 'queued' END), count(DISTINCT si.item_id) FROM selection_items si "
            "JOIN items i ON i.id = si.item_id LEFT JOIN work_items w ON w.item_id = si.item_id "
            f"{where} GROUP BY 1", [selection_id] if selection_id is not None else [])
        counts = dict.fromkeys(("queued", "assigned", "in_progress", "submitted", "in_review",
                                "returned", "approved"), 0)
        counts.update({state: n for state, n in rows})
        return counts

    def labels_waiting(self) -> int:
        """Labeled images whose labels wait for a reviewer (submitted, in review, returned,
        or opened again from one of those): not trained on while only approved labels
        train. An approved image open in someone's editor keeps its approved labels
        until a save (which moves it in the same transaction), so it does not wait."""
        return self.db.execute(
            "SELECT count(*) FROM work_items w JOIN items i ON i.id = w.item_id "
            f"WHERE i.status = 'labeled' AND w.item_id IN ({UNAPPROVED_ITEMS})").fetchone()[0]

    def held_count(self, annotator: str) -> int:
        """Images an annotator holds against the cap: assigned or returned to them, or in
        progress for them under a live lease or opened from their own (assigned, returned,
        submitted) work; an approved image they opened and left is nobody's."""
        return self.db.execute(
            "SELECT count(*) FROM work_items w "
            f"LEFT JOIN claims c ON c.item_id = w.item_id AND {LIVE_LEASE} "
            "WHERE w.annotator = ? AND (w.state IN ('assigned', 'returned') OR "
            "(w.state = 'in_progress' AND (c.holder = w.annotator OR "
            "coalesce(w.resume, 'queued') NOT IN ('queued', 'approved'))))",
            [*_lease_clock(), annotator]).fetchone()[0]

    # -- the annotator's side -------------------------------------------------------------
    def _work_open(self, item_id: int, user: str) -> str | None:
        """Open the image for ``user`` (event ``open``), or renew their hold. Returns None,
        or the name of whoever it belongs to instead (another annotator it is assigned,
        returned or in progress to; the reviewer reviewing it). Raises WorkflowError for a
        gold image the user was not served, CapReached when pulling from the pool would
        take ``user`` past the cap."""
        with self.write():
            if self.is_gold(item_id):
                if self.gold_served(item_id, user):
                    return None
                raise WorkflowError(f"image #{item_id} is not in {user}'s queue")
            row = self.work(item_id)
            state = row["state"] if row else self.work_state(item_id)
            owner = row["annotator"] if row else None
            mine = owner is not None and owner.casefold() == user.casefold()
            if state == "in_progress":
                live = self.db.execute(f"SELECT c.holder FROM claims c WHERE c.item_id = ? "
                                       f"AND {LIVE_LEASE}", [item_id, *_lease_clock()]
                                       ).fetchone()
                if mine:
                    return None
                if live is not None:
                    return owner
                # an abandoned hold (its lease ran out): it goes back where it was opened
                # from (the pool, its annotator, approved), then to ``user`` if theirs to take
                row = self._give_back(row)
                state, owner = row["state"], row["annotator"]
                mine = owner is not None and owner.casefold() == user.casefold()
            if state in ("assigned", "returned") and not mine:
                return owner
            if state == "in_review":
                return row["reviewer"]
            if state == "submitted" and not mine:
                return owner
            if state == "queued" and self.held_count(user) >= self.workflow_settings().cap:
                raise CapReached(
                    f"{user} holds {self.held_count(user)} "
                    f"image{'' if self.held_count(user) == 1 else 's'}, the project's cap: "
                    "submit or release some before taking another")
            self._move(item_id, "open", "in_progress", annotator=user, resume=state)
        return None

    def _work_release(self, item_id: int, user: str, *, skip: bool = False) -> None:
        """Give the image back (``release``, or ``skip``) to the state it was opened from:
        a returned image stays returned to its annotator, an assigned one assigned, an
        approved one left unchanged approved; a pulled one goes back to the pool, or with
        ``skip`` where the project's ``skip_to`` says."""
        with self.write():
            row = self.work(item_id)
            if row is None or row["state"] != "in_progress" or row["annotator"] is None \
                    or row["annotator"].casefold() != user.casefold():
                return
            self._give_back(row, skip=skip)

    def _give_back(self, row: dict, *, skip: bool = False) -> dict:
        event = "skip" if skip else "release"
        resume = row["resume"] or "queued"
        to_me = skip and self.workflow_settings().skip_to == "me"
        if resume == "assigned" and skip and not to_me:
            resume = "queued"
        elif resume == "queued" and to_me:
            resume = "assigned"
        if resume == "queued":
            return self._move(row["item_id"], event, "queued", annotator=None, task_id=None,
                              resume=None)
        return self._move(row["item_id"], event, resume, resume=None)

    def _work_queue(self, selection_id: int, user: str, *, pool: bool = True) -> list[int]:
        """``user``'s images of the selection, in the order they get them: returned to
        them, in progress for them, assigned to them (rank order), then the pool (rank
        order: queued, not skipped by them, not held by another)."""
        own, shared = self._work_buckets(selection_id, user, pool=pool)
        return own + shared

    def _work_buckets(self, selection_id: int, user: str, *, pool: bool = True
                      ) -> tuple[list[int], list[int]]:
        """(``user``'s own images in queue order, the pool's in rank order)."""
        rows = self.db.execute(
            "SELECT si.item_id, i.status, w.state, w.annotator, w.resume, c.holder, "
            "k.item_id IS NOT NULL FROM selection_items si JOIN items i ON i.id = si.item_id "
            "LEFT JOIN work_items w ON w.item_id = si.item_id "
            f"LEFT JOIN claims c ON c.item_id = si.item_id AND {LIVE_LEASE} "
            "LEFT JOIN skips k ON k.item_id = si.item_id AND k.user = ? "
            "WHERE si.selection_id = ? ORDER BY si.rank",
            [*_lease_clock(), user, selection_id]).fetchall()
        gold = self.gold_ids()
        me = user.casefold()
        buckets: list[list[int]] = [[], [], [], []]
        for item_id, status, state, owner, resume, holder, skipped in rows:
            if item_id in gold:
                continue
            mine = owner is not None and owner.casefold() == me
            if mine and state in ("returned", "in_progress", "assigned"):
                buckets[("returned", "in_progress", "assigned").index(state)].append(item_id)
            elif pool and not skipped and (holder is None or holder.casefold() == me) and (
                    (state is None and status == "unlabeled") or state == "queued"
                    or (state == "in_progress" and holder is None
                        and (resume or "queued") == "queued")):
                buckets[3].append(item_id)
        return buckets[0] + buckets[1] + buckets[2], buckets[3]

    def _work_next(self, selection_id: int, user: str, *, seconds: float,
                   exclude: Sequence[int] = ()) -> int | None:
        """The next image for ``user`` (team mode's ``claim_next``): their own first, then
        a gold image at the project's rate (to an annotator), then the pool while under
        the cap."""
        excluded = set(exclude)
        settings = self.workflow_settings()
        with self.write():
            own, pool = self._work_buckets(selection_id, user)
            # a returned image is new work even when this session saw it before: it
            # comes first, whatever ``exclude`` (the page's history) says
            returned = {r["item_id"] for r in self.work_rows(("returned",), annotator=user)}
            own = [i for i in own if i not in excluded or i in returned]
            for item_id in own:
                if self._work_open(item_id, user) is None:
                    self._claim(item_id, user, seconds=seconds)
                    return item_id
            if self.held_count(user) >= settings.cap:
                return None
            # gold goes to annotators only: a reviewer or a lead reads its answer
            if settings.gold_rate and self._hide_gold() and \
                    self.work_rng.random() < settings.gold_rate:
                candidates = [g for g in self.gold_candidates(user) if g not in excluded]
                model_id = self.selection_model_id(selection_id)
                if model_id is not None and candidates:  # only with the batch's pre-labels:
                    missing = set(self.unpredicted_items(model_id, candidates))  # none gives
                    candidates = [g for g in candidates if g not in missing]  # gold away
                if candidates:
                    item_id = self.work_rng.choice(candidates)
                    self.serve_gold(item_id, user)
                    return item_id
            for item_id in pool:
                if item_id in excluded:
                    continue
                if self._work_open(item_id, user) is None:
                    self._claim(item_id, user, seconds=seconds)
                    return item_id
        return None

    def _work_submit(self, item_id: int, annotator: str, *, seconds: float | None,
                     label_version: int) -> dict:
        """After an annotator's save: record the submission and send it to review, or
        approve it as submitted when the spot check does not sample it (a first
        submission is sampled with the project's ``review_share``; a fix of a returned
        image always goes back to its reviewer; a submission its annotator took back
        before review keeps its kind and its draw, so a sampled one is not drawn again).
        Returns the submission row."""
        with self.write():
            row = self.work(item_id)
            if row is None or row["state"] != "in_progress" or row["annotator"] is None or \
                    row["annotator"].casefold() != annotator.casefold():
                raise WorkflowError(f"image #{item_id} is not in progress for {annotator}")
            last = self.db.execute("SELECT kind, share, draw FROM submissions WHERE "
                                   "item_id = ? ORDER BY id DESC LIMIT 1", [item_id]).fetchone()
            if row["resume"] == "submitted" and last is not None:
                # taken back while it waited: still the sample it was (a new draw would let
                # an annotator re-roll the spot check until it passed them by)
                kind, share, draw = last
                sampled = True
            else:
                share = self.workflow_settings().review_share
                kind = "fix" if row["resume"] == "returned" else "edit" if last else "first"
                draw = None if kind == "fix" else self.work_rng.random()
                sampled = kind == "fix" or draw < share
            sub = {"item_id": item_id, "selection_id": row["selection_id"],
                   "annotator": row["annotator"], "kind": kind, "share": share, "draw": draw,
                   "sampled": int(sampled), "seconds": seconds,
                   "label_version": label_version, "at": now()}
            sub["id"] = self.db["submissions"].insert(sub).last_pk
            self._move(item_id, "submit", "submitted" if sampled else "approved",
                       reviewer=row["reviewer"] if kind == "fix" else None, resume=None)
            self.db.execute("UPDATE review_comments SET resolved = ? WHERE item_id = ? AND "
                            "resolved IS NULL", [sub["at"], item_id])
        return sub

    def submissions(self, *, annotator: str | None = None, item_id: int | None = None
                    ) -> list[dict]:
        clauses, params = [], []
        for column, value in (("annotator", annotator), ("item_id", item_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return list(self.db.query(f"SELECT * FROM submissions {where} ORDER BY id", params))

    def work_rows(self, states: Sequence[str] | None = None, *,
                  selection_id: int | None = None, annotator: str | None = None) -> list[dict]:
        """Workflow rows (with the selection's ``tag`` and ``submitted_at``, the time of
        the image's last submission), oldest in their state first."""
        clauses, params = [], []
        if states is not None:
            clauses.append(f"w.state IN ({','.join('?' * len(states))})")
            params += list(states)
        if selection_id is not None:
            clauses.append("w.selection_id = ?")
            params.append(selection_id)
        if annotator is not None:
            clauses.append("lower(w.annotator) = lower(?)")
            params.append(annotator)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [dict(r) for r in self.db.query(
            "SELECT w.*, s.tag, (SELECT max(at) FROM submissions b WHERE b.item_id = "
            "w.item_id) AS submitted_at FROM work_items w LEFT JOIN selections s ON "
            f"s.id = w.selection_id {where} ORDER BY w.since, w.item_id", params)]

    def selection_model_id(self, selection_id: int) -> int | None:
        row = self.db.execute("SELECT model_id FROM selections WHERE id = ?",
                              [selection_id]).fetchone()
        return row[0] if row else None

    # -- review decisions and comments ------------------------------------------------------
    def insert_decision(self, record: dict) -> int:
        return self.db["review_decisions"].insert(record).last_pk

    def insert_comment(self, record: dict) -> int:
        return self.db["review_comments"].insert(record).last_pk

    def comment_rows(self, item_id: int, *, open_only: bool = False) -> list[dict]:
        where = "AND resolved IS NULL" if open_only else ""
        return [dict(r, box=json.loads(r["box"]) if r["box"] else None) for r in self.db.query(
            f"SELECT * FROM review_comments WHERE item_id = ? {where} ORDER BY id", [item_id])]

    def decision_rows(self, *, item_id: int | None = None) -> list[dict]:
        where, params = ("WHERE item_id = ?", [item_id]) if item_id is not None else ("", [])
        return [dict(r, changes=json.loads(r["changes"]), verdicts=json.loads(r["verdicts"]))
                for r in self.db.query(f"SELECT * FROM review_decisions {where} ORDER BY id",
                                       params)]


__all__ = ["CapReached", "WAITING", "WorkMixin"]

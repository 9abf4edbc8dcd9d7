"""Read-only queries behind team mode's figures (the dashboard, the lead's Work tab):
submissions with their first decision, reviewers' fixes with the boxes on both sides,
activity times, states per selection, what each annotator holds and the gold images
with their answers. The figures themselves are computed in
:mod:`al_core.review.team_stats`, which checks ``team_stats`` before it calls these;
those that carry boxes or gold images check it again.

Boxes come back as stored in the label history: ``[class_id, x1, y1, x2, y2]`` lists
in absolute image pixels.
"""
from __future__ import annotations

import json

from sqlite_utils import Database

from al_core.workflow import STATES


class WorkFiguresMixin:
    db: Database

    def submission_rows(self) -> list[dict]:
        """Every submission (``id``, ``item_id``, ``annotator``, ``kind``, ``sampled``,
        ``seconds``, ``at``) with the decision that first judged it (``first_decision``:
        approve, fix or return; None while undecided), oldest first."""
        return [dict(r) for r in self.db.query(
            "SELECT s.id, s.item_id, s.annotator, s.kind, s.sampled, s.seconds, s.at, "
            "(SELECT d.decision FROM review_decisions d WHERE d.submission_id = s.id "
            " ORDER BY d.id LIMIT 1) AS first_decision FROM submissions s ORDER BY s.id")]

    def decision_totals(self) -> list[dict]:
        """Per annotator judged: ``decisions``, distinct ``images`` decided and the
        reviewers' ``corrections`` summed over those decisions."""
        return [dict(r) for r in self.db.query(
            "SELECT annotator, count(*) AS decisions, count(DISTINCT item_id) AS images, "
            "coalesce(sum(corrections), 0) AS corrections FROM review_decisions "
            "WHERE annotator IS NOT NULL GROUP BY annotator ORDER BY annotator")]

    def fix_boxes(self) -> list[dict]:
        """Each fix a reviewer made (``decision`` fix), with the annotator's submitted
        boxes (``submitted``) and the reviewer's (``fixed``): the label history's
        version right after the judged submission's, whose ``before`` is what the
        annotator submitted. A reviewer's or lead's read (``team_stats``): a fix's
        boxes may be a gold image's answer."""
        self.authorize("team_stats")
        return [dict(r, submitted=json.loads(r["submitted"]), fixed=json.loads(r["fixed"]))
                for r in self.db.query(
                    "SELECT d.id, d.item_id, d.annotator, d.reviewer, h.before AS submitted, "
                    "h.after AS fixed FROM review_decisions d "
                    "JOIN submissions s ON s.id = d.submission_id "
                    "JOIN annotation_history h ON h.item_id = d.item_id "
                    " AND h.label_version = s.label_version + 1 "
                    "WHERE d.decision = 'fix' AND d.annotator IS NOT NULL ORDER BY d.id")]

    def activity_rows(self) -> list[tuple[str, str]]:
        """``(at, what)`` of every submission (``submitted``) and review decision
        (``approve``, ``fix``, ``return``), in no particular order."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT at, 'submitted' FROM submissions UNION ALL "
            "SELECT at, decision FROM review_decisions")]

    def work_counts_by_selection(self) -> list[dict]:
        """Per selection (``id``, ``tag``, oldest first): its images in each state, every
        state a key, counted as :meth:`WorkMixin.work_counts` counts them."""
        out: dict[int, dict] = {}
        for sel_id, tag in self.db.execute("SELECT id, tag FROM selections ORDER BY id"):
            out[sel_id] = {"id": sel_id, "tag": tag, **dict.fromkeys(STATES, 0)}
        for sel_id, state, n in self.db.execute(
                "SELECT si.selection_id, coalesce(w.state, CASE WHEN i.status = 'labeled' "
                "THEN 'approved' ELSE 'queued' END), count(DISTINCT si.item_id) "
                "FROM selection_items si JOIN items i ON i.id = si.item_id "
                "LEFT JOIN work_items w ON w.item_id = si.item_id GROUP BY 1, 2"):
            out[sel_id][state] = n
        return list(out.values())

    def held_by_annotator(self) -> dict[str, dict[str, int]]:
        """Per annotator named on a workflow row: their images ``assigned``,
        ``in_progress`` and ``returned`` (whatever the leases say)."""
        out: dict[str, dict[str, int]] = {}
        for name, state, n in self.db.execute(
                "SELECT annotator, state, count(*) FROM work_items WHERE annotator IS NOT "
                "NULL AND state IN ('assigned', 'in_progress', 'returned') GROUP BY 1, 2"):
            out.setdefault(name, dict.fromkeys(("assigned", "in_progress", "returned"), 0))
            out[name][state] = n
        return out

    def gold_rows(self) -> list[dict]:
        """Every gold image (``item_id``, ``file``, ``split``, ``marked_by``, ``at``) with
        its ``served`` and ``answered`` counts and the answers' mean ``f1`` and
        ``class_accuracy`` (None with no answer), by image id. A reviewer's or lead's
        read (``team_stats``): an annotator must not learn which images are gold."""
        self.authorize("team_stats")
        return [dict(r) for r in self.db.query(
            "SELECT g.item_id, i.file, i.split, g.marked_by, g.at, "
            "count(a.id) AS served, count(a.answered) AS answered, "
            "avg(CASE WHEN a.answered IS NOT NULL THEN a.f1 END) AS f1, "
            "avg(CASE WHEN a.answered IS NOT NULL THEN a.class_accuracy END) "
            "AS class_accuracy FROM gold_items g JOIN items i ON i.id = g.item_id "
            "LEFT JOIN gold_answers a ON a.item_id = g.item_id "
            "GROUP BY g.item_id ORDER BY g.item_id")]

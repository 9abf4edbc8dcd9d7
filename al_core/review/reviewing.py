"""The reviewer's side of team mode's workflow (:mod:`al_core.workflow`): the queue of
submitted images, what a reviewer is shown (the pre-labels, the annotator's boxes and what
changed between them, the comments so far), and the decision: **approve**, **fix and
approve** (the reviewer's edits are counted as corrections against the annotator), or
**return** to the annotator with comments pinned to a box or to the image. Per-box verdicts
(accept or reject each of the annotator's boxes) are recorded with the decision; a rejected
box is removed on approval, or commented on when the image is returned.

The anchors: Label Studio Enterprise's Accept / Fix + Accept / Reject, CVAT's issues pinned
to regions, Encord's per-label review. Boxes are float ``[x1, y1, x2, y2]`` in absolute
image pixels. Every function acts as the store's acting user (``review``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from al_core.names import printable
from al_core.permissions import PermissionDenied
from al_core.review.changes import box_changes, match_changes
from al_core.review.prelabel_threshold import prelabel_threshold
from al_core.review.save import LEASE_SECONDS, HeldError, clip_box, prelabels
from al_core.store import Store
from al_core.store.rows import now
from al_core.types import Box, LabeledBox
from al_core.workflow import WorkflowError

DECISIONS = ("approve", "fix", "return")
MAX_COMMENT = 2000  # characters of one comment


@dataclass(frozen=True)
class Comment:
    """A reviewer's comment: on the image (``box_index`` None) or pinned to one of the
    annotator's boxes (its index in :attr:`ReviewView.boxes`)."""

    text: str
    box_index: int | None = None


@dataclass(frozen=True)
class ReviewView:
    """What a reviewer sees of one image. ``changes``: per annotator box, ``kept``,
    ``moved``, ``relabeled``, ``moved+relabeled`` or ``added`` against the pre-labels;
    ``deleted``: the indices of pre-labels the annotator removed; ``comments``: every
    comment on the image so far, oldest first (dicts with ``text``, ``box``, ``author``,
    ``at``, ``resolved``)."""

    item_id: int
    state: str
    annotator: str | None
    reviewer: str | None
    prelabels: list[LabeledBox]
    boxes: list[LabeledBox]
    changes: list[str]
    deleted: list[int]
    comments: list[dict] = field(default_factory=list)
    submission: dict | None = None
    label_version: int = 0
    # what ``prelabels`` and ``changes`` are against: the model's pre-labels, or, for a
    # fix of a returned image, the boxes as they were returned ("returned")
    base: str = "prelabels"


def review_queue(store: Store, *, selection_id: int | None = None,
                 limit: int | None = None) -> list[dict]:
    """The acting reviewer's queue, as work rows: images they have in review first, then
    submitted images, longest waiting since their submission first (leaving one
    undecided does not send it to the back), that are not their own and not a fix waiting for
    another reviewer (a returned image's fix goes back to whoever returned it; a lead
    may take any)."""
    actor = store.authorize("review")
    me = (actor.name or "").casefold()
    rows = store.work_rows(("submitted", "in_review"), selection_id=selection_id)
    out = []
    for row in rows:
        if (row["annotator"] or "").casefold() == me and store.team_mode():
            continue
        reviewer = (row["reviewer"] or "").casefold()
        if row["state"] == "in_review" and reviewer != me:
            if store.holder(row["item_id"]) is not None:
                continue  # another reviewer has it open
            reviewer = (fix_reviewer(store, row["item_id"]) or "").casefold()  # left open
        if row["state"] in ("submitted", "in_review") and reviewer and reviewer != me and \
                actor.role != "lead":
            continue  # a fix goes back to the reviewer who returned it
        out.append(row)
    out.sort(key=lambda r: (r["state"] != "in_review" or
                            (r["reviewer"] or "").casefold() != me,
                            r["submitted_at"] or r["since"]))
    return out if limit is None else out[:limit]


def queue_age(store: Store) -> dict:
    """The review queue's size and the age of its oldest image in seconds (None when
    empty), across reviewers."""
    store.authorize("team_stats")
    rows = store.work_rows(("submitted", "in_review"))
    oldest = min((r["submitted_at"] or r["since"] for r in rows), default=None)
    age = None
    if oldest:
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(oldest)).total_seconds()
    return {"size": len(rows), "oldest_s": age}


def fix_reviewer(store: Store, item_id: int) -> str | None:
    """The reviewer the image's waiting submission goes back to: whoever returned it,
    when that submission is the annotator's fix of a returned image; None otherwise (any
    reviewer may take it)."""
    subs = store.submissions(item_id=item_id)
    if not subs or subs[-1]["kind"] != "fix":
        return None
    returns = [d for d in store.decision_rows(item_id=item_id) if d["decision"] == "return"]
    return returns[-1]["reviewer"] if returns else None


def _own_check(store: Store, row: dict, reviewer: str) -> None:
    if store.team_mode() and (row["annotator"] or "").casefold() == reviewer.casefold():
        raise PermissionDenied(f"{printable(reviewer, 60)} labeled image #{row['item_id']}: "
                               "a reviewer cannot review their own labels")


def start_review(store: Store, item_id: int) -> None:
    """Open a submitted image for review (``start_review``), held for the acting reviewer
    like an annotator's image (a lease of LEASE_SECONDS). Raises HeldError when another
    reviewer has it open, PermissionDenied for one's own labels, WorkflowError when it is
    not waiting for review."""
    actor = store.authorize("review")
    with store.write():
        row = store.work(item_id)
        if row is None:
            raise WorkflowError(f"image #{item_id} was never submitted")
        _own_check(store, row, actor.name or "")
        holder = store.holder(item_id)
        me = (actor.name or "").casefold()
        if holder is not None and holder.casefold() != me:
            raise HeldError(f"image #{item_id} is open for {holder}")
        if row["state"] == "in_review" and (row["reviewer"] or "").casefold() == me:
            store._claim(item_id, actor.name, seconds=LEASE_SECONDS)
            return
        if row["state"] == "in_review":  # another reviewer's, whose lease ran out
            row = store._move(item_id, "release_review", "submitted",
                              reviewer=fix_reviewer(store, item_id))
        if row["state"] == "submitted" and row["reviewer"] and \
                row["reviewer"].casefold() != me and actor.role != "lead":
            raise HeldError(f"image #{item_id}'s fix goes back to {row['reviewer']}, who "
                            "returned it")
        store._move(item_id, "start_review", "in_review", reviewer=actor.name)
        store._claim(item_id, actor.name, seconds=LEASE_SECONDS)


def release_review(store: Store, item_id: int) -> None:
    """Leave an image in review undecided: it waits for review again."""
    actor = store.authorize("review")
    with store.write():
        row = store.work(item_id)
        if row and row["state"] == "in_review" and \
                (row["reviewer"] or "").casefold() == (actor.name or "").casefold():
            # a fix goes back to whoever returned it (not to a lead who looked at it);
            # any other submission to every reviewer
            store._move(item_id, "release_review", "submitted",
                        reviewer=fix_reviewer(store, item_id))
            store._drop_lease(item_id, actor.name)


def review_view(store: Store, item_id: int, *, min_score: float | None = None) -> ReviewView:
    """What the reviewer is shown of an image (``review``): the pre-labels of the model
    that picked its selection (at ``min_score``, default the model's pre-label threshold,
    :mod:`al_core.review.prelabel_threshold`),
    the annotator's boxes, the changes between them and the comments."""
    store.authorize("review")
    row = store.work(item_id) or {}
    item = store.item(item_id)
    model_id = None
    if row.get("selection_id"):
        model_id = store.selection_model_id(row["selection_id"])
    if min_score is None:  # what an annotator who has not moved the slider is shown
        min_score = prelabel_threshold(store, model_id).min_score()
    shown = [b for b, _ in prelabels(store, model_id, [item_id], min_score=min_score)[item_id]]
    boxes = [LabeledBox(a.class_id, a.box) for a in store.annotations([item_id])[item_id]]
    subs = store.submissions(item_id=item_id)
    returned = _as_returned(store, item_id, subs)
    base = "prelabels" if returned is None else "returned"
    if returned is not None:  # a fix: what changed since the reviewer sent it back
        shown = returned
    status, deleted = box_changes(shown, boxes)
    return ReviewView(item_id, row.get("state") or store.work_state(item_id),
                      row.get("annotator"), row.get("reviewer"), shown, boxes, status,
                      deleted, comments(store, item_id), subs[-1] if subs else None,
                      item.label_version, base)


def _as_returned(store: Store, item_id: int, subs: list[dict]) -> list[LabeledBox] | None:
    """For a fix of a returned image: the boxes as they were returned (the returned
    submission's label version, from the label history); None otherwise."""
    if len(subs) < 2 or subs[-1]["kind"] != "fix":
        return None
    version = subs[-2]["label_version"]
    entry = next((h for h in store.label_history(item_id) if h["label_version"] == version),
                 None)
    if entry is None:
        return None
    return [LabeledBox(int(c), Box(*map(float, xyxy))) for c, *xyxy in entry["after"]]


def comments(store: Store, item_id: int, *, open_only: bool = False) -> list[dict]:
    """The image's comments, oldest first: ``text``, ``box`` (``[x1, y1, x2, y2]`` or
    None for the image), ``class_id``, ``author``, ``at``, ``resolved`` (when the
    annotator's fix was submitted). An annotator reads those on images that are theirs,
    never those of a gold image (they point at its answer)."""
    actor = store.actor()
    if store.team_mode() and actor.role == "annotator":
        if item_id in store._hide_gold():
            return []
        row = store.work(item_id)
        if row is None or (row["annotator"] or "").casefold() != (actor.name or "").casefold():
            return []
    return store.comment_rows(item_id, open_only=open_only)


def decide(store: Store, item_id: int, decision: str, *,
           boxes: Sequence[LabeledBox] | None = None,
           verdicts: Sequence[bool] | None = None, comments: Sequence[Comment] = (),
           seconds: float | None = None, expected_version: int | None = None) -> dict:
    """The acting reviewer's decision on an image in review (or submitted: the review
    starts now). ``decision``: ``approve``, ``fix`` (``boxes`` are the labels as fixed) or
    ``return`` (at least one comment or rejected box; the image goes back to its
    annotator). ``verdicts``: one per annotator box, False rejecting it (an approve with a
    rejected box is a fix without it). Returns the decision row (``corrections``: what the
    reviewer changed, counted against the annotator).

    Raises PermissionDenied for one's own labels or a role without ``review``,
    WorkflowError for an image not waiting for review or a return with nothing said,
    HeldError when another reviewer holds it, ValueError for an unknown decision, a
    comment over :data:`MAX_COMMENT` characters or pinned to no box, verdicts that do not
    match the boxes, or a class the project lacks; StaleLabelsError-like HeldError when
    ``expected_version`` is given and the labels changed since."""
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    actor = store.authorize("review")
    with store.write():
        row = store.work(item_id)
        if row is None or row["state"] not in ("submitted", "in_review"):
            state = row["state"] if row else store.work_state(item_id)
            raise WorkflowError(f"image #{item_id} is {state.replace('_', ' ')}, not waiting "
                                "for review")
        start_review(store, item_id)
        row = store.work(item_id)
        item = store.item(item_id)
        if expected_version is not None and item.label_version != expected_version:
            raise HeldError(f"image #{item_id}'s labels changed since you opened it (version "
                            f"{item.label_version}, you opened {expected_version}); nothing "
                            "was decided, reopen it")
        theirs = [LabeledBox(a.class_id, a.box) for a in store.annotations([item_id])[item_id]]
        flags = list(verdicts) if verdicts is not None else [True] * len(theirs)
        if len(flags) != len(theirs):
            raise ValueError(f"{len(flags)} verdicts for {len(theirs)} boxes")
        notes = _check_comments(comments, len(theirs))
        final = theirs
        if decision == "fix" and boxes is not None:
            known = {c.id for c in store.classes()}
            bad = sorted({b.class_id for b in boxes} - known)
            if bad:
                raise ValueError(f"class id {bad[0]} is not a class of this project")
            final = [LabeledBox(b.class_id, c) for b in boxes
                     if (c := clip_box(b.box.as_list(), item.width, item.height)) is not None]
        elif decision != "return":
            final = [b for b, ok in zip(theirs, flags) if ok]
        if decision == "approve" and final != theirs:
            decision = "fix"
        if decision == "return":
            rejected = [k for k, ok in enumerate(flags) if not ok]
            pinned = {c.box_index for c in notes}
            notes += [Comment("Rejected", k) for k in rejected if k not in pinned]
            if not notes:
                raise WorkflowError(f"returning image #{item_id} needs a comment (on the image "
                                    "or a box) or a rejected box: say what to fix")
        changes = match_changes(theirs, final)
        if decision == "fix":
            store.set_labels(item_id, final, source="human", author=actor.name,
                             round=item.labeled_round,
                             reason=f"fixed in review by {actor.name}")
        stamp = now()
        subs = store.submissions(item_id=item_id)
        record = {"item_id": item_id, "submission_id": subs[-1]["id"] if subs else None,
                  "reviewer": actor.name or "", "annotator": row["annotator"],
                  "decision": decision, "corrections": changes.corrections,
                  "changes": json.dumps(changes.as_dict()),
                  "verdicts": json.dumps([bool(f) for f in flags]), "seconds": seconds,
                  "at": stamp}
        record["id"] = store.insert_decision(record)
        for note in notes:
            pinned = theirs[note.box_index] if note.box_index is not None else None
            store.insert_comment({
                "item_id": item_id, "decision_id": record["id"], "author": actor.name or "",
                "box": json.dumps(pinned.box.as_list()) if pinned else None,
                "class_id": pinned.class_id if pinned else None, "text": note.text,
                "at": stamp, "resolved": None})
        if decision == "return":
            store._move(item_id, "return", "returned", reviewer=actor.name,
                        returns=row["returns"] + 1)
        else:
            store._move(item_id, decision, "approved", reviewer=actor.name)
        store._drop_lease(item_id, actor.name)
    return record


def _check_comments(given: Sequence[Comment], n_boxes: int) -> list[Comment]:
    out = []
    for c in given:
        text = str(c.text).strip()
        if not text:
            continue
        if len(text) > MAX_COMMENT:
            raise ValueError(f"a comment is {len(text)} characters; the most is {MAX_COMMENT}")
        if c.box_index is not None and not 0 <= c.box_index < n_boxes:
            raise ValueError(f"a comment is pinned to box {c.box_index}, but the image has "
                             f"{n_boxes} boxes")
        out.append(Comment(text, c.box_index))
    return out


def decisions(store: Store, item_id: int) -> list[dict]:
    """The image's review decisions, oldest first (none of a gold image for an annotator:
    its verdicts and corrections describe the answer)."""
    if item_id in store._hide_gold():
        return []
    return store.decision_rows(item_id=item_id)


__all__ = ["Box", "Comment", "DECISIONS", "ReviewView", "comments", "decide", "decisions",
           "fix_reviewer", "queue_age", "release_review", "review_queue", "review_view", "start_review"]

"""Saving a review (the labels, who, the round, the seconds spent, the change counts
against the pre-labels, :mod:`al_core.review.changes`) as one transaction that also
deals the item into train or val; the pre-labels an annotator is shown; leases.

Every box is float ``[x1, y1, x2, y2]`` in absolute image pixels. The review screen,
``import --selection``, the demo's oracle and the tests all save through
:func:`submit_review`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from al_core.names import normalize_name
from al_core.permissions import PermissionDenied
from al_core.review.changes import ChangeCounts, match_changes
from al_core.store import Store
from al_core.training.split import split_for_new_label
from al_core.types import DEFAULT_MIN_SCORE, Box, LabeledBox, Selection
from al_core.workflow import whose

PROJECT_MIN_SCORE_KEY = "review_min_score"  # meta key: the Review page's project default
MIN_BOX_SIDE_PX = 2.0  # a clipped box with a side below this is a stray click: dropped
LEASE_SECONDS = 300  # an opened image is held this long, renewed while it stays open
# a Review page tab's hold: renewed by the tab's heartbeat every TAB_HEARTBEAT_SECONDS, so
# a tab that is closed (or whose browser crashed) frees its image this soon, even when
# its "closed" notice never arrives
TAB_LEASE_SECONDS = 30
TAB_HEARTBEAT_SECONDS = 10
ACTIONS = ("accept", "save", "import", "oracle")
_SOURCE = {"accept": "human", "save": "human", "import": "import", "oracle": "oracle"}


class StaleLabelsError(Exception):
    """The image's labels changed since it was opened; saving would overwrite them."""


class HeldError(Exception):
    """Another annotator holds the image."""


@dataclass(frozen=True)
class ReviewResult:
    item_id: int
    label_version: int
    changes: ChangeCounts
    split: str | None  # the split the item joined now (None: it kept its split)
    dropped: int  # boxes dropped as stray clicks after clipping


def clip_box(coords: Sequence[float], width: int, height: int, *,
             min_side: float = MIN_BOX_SIDE_PX) -> Box | None:
    """``[x1, y1, x2, y2]`` (any order, pixels) clipped to a ``width`` x ``height`` image;
    None when the clipped box has a side below ``min_side`` pixels (a stray click, or a
    box dragged wholly off the image) or a coordinate is not finite."""
    if len(coords) != 4 or not all(math.isfinite(v) for v in coords):
        return None
    x1, x2 = sorted((min(max(coords[0], 0.0), width), min(max(coords[2], 0.0), width)))
    y1, y2 = sorted((min(max(coords[1], 0.0), height), min(max(coords[3], 0.0), height)))
    if x2 - x1 < min_side or y2 - y1 < min_side:
        return None
    return Box(float(x1), float(y1), float(x2), float(y2))


def prelabels(store: Store, model_id: int | None, item_ids: Sequence[int], *,
              min_score: float) -> dict[int, list[tuple[LabeledBox, float]]]:
    """A model's boxes scoring at least ``min_score`` (a class's own where it is a
    :class:`~al_core.review.prelabel_threshold.MinScore` with one) as ``(box, score)``
    pairs per item, in the order stored; every id in ``item_ids`` has an entry (empty
    with no model)."""
    from al_core.review.prelabel_threshold import min_score_of

    out: dict[int, list[tuple[LabeledBox, float]]] = {i: [] for i in item_ids}
    if model_id is not None:
        for p in store.predictions(model_id, list(item_ids)):
            if p["score"] >= min_score_of(min_score, p["class_id"]):
                out[p["item_id"]].append(
                    (LabeledBox(p["class_id"], Box(p["x1"], p["y1"], p["x2"], p["y2"])),
                     p["score"]))
    return out


def submit_review(store: Store, item_id: int, boxes: Sequence[LabeledBox], *,
                  author: str | None = None, action: str, prelabels: Sequence[LabeledBox] = (),
                  expected_version: int | None = None, selection: Selection | None = None,
                  seconds: float | None = None,
                  auto_accepted: Sequence[LabeledBox] = ()) -> ReviewResult:
    """Save an item's reviewed boxes in one transaction: the labels (clipped to the image;
    boxes with a side under :data:`MIN_BOX_SIDE_PX` dropped), a review row with ``author``,
    the selection's round, ``seconds`` spent and the changes against ``prelabels`` (the
    boxes the annotator was shown), the edit history, the release of the item's lease; an
    item without a split joins train or val at once (:func:`split_for_new_label`).
    ``auto_accepted``: pre-labels saved beside ``boxes`` without the annotator being asked
    (box-level review, :mod:`al_core.review.auto_accept`), marked as such; ``prelabels``
    are then only the boxes the annotator was asked about.

    ``action`` is one of :data:`ACTIONS`. Raises :class:`StaleLabelsError` when
    ``expected_version`` is given and the labels changed since (naming who changed them),
    :class:`HeldError` when another annotator holds the item, ``ValueError`` for an unknown
    class, an empty author or an unknown action, ``KeyError`` for an unknown item.

    Team mode: the acting user saves (``label``; an ``import`` action needs ``import``)
    and is the author: ``author`` may be left out, and another person's name is
    :class:`~al_core.permissions.PermissionDenied` (:func:`review_author`)."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {ACTIONS}")
    store.authorize("import" if action == "import" else "label")
    author = review_author(store, author, action)
    known = {c.id: c.name for c in store.classes()}
    unknown = sorted({b.class_id for b in [*boxes, *auto_accepted]} - set(known))
    if unknown:
        raise ValueError(f"class id {unknown[0]} is not a class of this project "
                         f"(classes: {', '.join(known.values()) or 'none'}); nothing was saved")
    if action == "oracle" and store.team_mode():
        _check_oracle_boxes(store, item_id, [*boxes, *auto_accepted])
    team = store.team_mode() and action in ("accept", "save")
    if team and store.gold_served(item_id, author):  # scored, never saved as labels
        return _gold_answer(store, item_id, author, boxes, auto_accepted, prelabels, seconds)
    with store.write():
        if team:  # the workflow's "open" (already done when the page opened the image)
            other = store._work_open(item_id, author)
            if other is not None:
                raise HeldError(f"{whose(item_id, store.work_state(item_id), other)}; "
                                "nothing was saved")
        item = store.item(item_id)
        holder = store.holder(item_id)
        if holder is not None and holder != author:
            raise HeldError(f"image #{item_id} is held by {holder}; nothing was saved")
        if expected_version is not None and item.label_version != expected_version:
            last = store.label_history(item_id)[-1]
            raise StaleLabelsError(
                f"image #{item_id} was changed by {last['author'] or 'someone'} at "
                f"{last['at']} after you opened it (version {item.label_version}, you opened "
                f"version {expected_version}); your boxes were not saved, reopen the image to "
                "see theirs")
        clean = [LabeledBox(b.class_id, c) for b in boxes
                 if (c := clip_box(b.box.as_list(), item.width, item.height)) is not None]
        auto = [LabeledBox(b.class_id, c) for b in auto_accepted
                if (c := clip_box(b.box.as_list(), item.width, item.height)) is not None]
        changes = match_changes(prelabels, clean)
        reason = f"reviewed for selection {selection.tag}" if selection else "reviewed"
        if auto:
            reason += f"; {len(auto)} boxes auto-accepted above their class thresholds"
        version = store.save_review(
            item_id, auto + clean, author=author, action=action, source=_SOURCE[action],
            selection_id=selection.id if selection else None,
            round=selection.round if selection else None, seconds=seconds,
            prelabels=len(prelabels), changes=changes.as_dict(), reason=reason,
            auto_accepted=[True] * len(auto) + [False] * len(clean))
        split = split_for_new_label(store, item_id) if item.split is None else None
        if split is not None:
            store.set_splits({item_id: split})
        if team:  # to review, or approved as submitted when the spot check passes it by
            store._work_submit(item_id, author, seconds=seconds, label_version=version)
        elif store.team_mode():  # a lead's import, the demo's oracle: approved as written
            store._move(item_id, "import", "approved", annotator=author, resume=None)
        store.audit("review.save", object_type="item", object_id=item_id,
                    summary=f"{action} image #{item_id} as {author}: {len(auto) + len(clean)} "
                            f"boxes, label version {version}"
                            + (f" ({selection.tag})" if selection else ""),
                    before={"label_version": item.label_version},
                    after={"label_version": version, "boxes": len(auto) + len(clean),
                           "changes": changes.as_dict()})
    return ReviewResult(item_id, version, changes, split,
                        len(boxes) + len(auto_accepted) - len(clean) - len(auto))


def _gold_answer(store: Store, item_id: int, author: str, boxes: Sequence[LabeledBox],
                 auto_accepted: Sequence[LabeledBox], shown: Sequence[LabeledBox],
                 seconds: float | None) -> ReviewResult:
    """A served gold image's submit: the boxes are scored against the gold labels and
    recorded (:mod:`al_core.review.gold`); the labels stay as they were, and the result
    says nothing the annotator's own save would not (its changes are against what they
    were shown)."""
    from al_core.review.gold import record_answer
    with store.write():
        item = store.item(item_id)
        answer = [LabeledBox(b.class_id, c) for b in [*auto_accepted, *boxes]
                  if (c := clip_box(b.box.as_list(), item.width, item.height)) is not None]
        record_answer(store, item_id, author, answer, seconds=seconds)
    return ReviewResult(item_id, item.label_version, match_changes(shown, answer), None,
                        len(boxes) + len(auto_accepted) - len(answer))


def _check_oracle_boxes(store: Store, item_id: int, boxes: Sequence[LabeledBox]) -> None:
    """Team mode: an oracle review (anyone's ``label``, approved as written) carries the
    image's hidden ground truth and nothing else; other boxes would be labels written past
    the review workflow. PermissionDenied otherwise."""
    def key(b: LabeledBox) -> tuple:
        return (b.class_id, *(round(v, 3) for v in b.box.as_list()))
    truth = store.oracle_boxes([item_id])[item_id]
    if sorted(map(key, boxes)) != sorted(map(key, truth)):
        raise PermissionDenied(f"an oracle review of image #{item_id} writes its hidden ground "
                               "truth, not other boxes (in team mode a person's boxes are "
                               "saved and reviewed); nothing was saved")


def review_author(store: Store, author: str | None, action: str) -> str:
    """The name a review is saved under, by the name rule (as the lease was taken).
    Single-user mode: ``author`` as typed (ValueError when empty). Team mode: the acting
    user's name for a person's review (``accept``, ``save``; ``author`` None stands for
    them, another name is PermissionDenied); a review by the demo's oracle is authored
    ``oracle`` (only on a project with hidden ground truth); an import's author may also
    name its file (``import:...``), the acting user being in the audit log."""
    if store.team_mode():
        if action == "oracle":
            if author not in (None, "oracle") or not store.has_oracle():
                raise PermissionDenied("an oracle review is authored 'oracle', on a project "
                                       "with hidden ground truth (the demo) only")
            return "oracle"
        if action == "import" and isinstance(author, str) and author.startswith("import:"):
            return normalize_name(author, kind="person")
        return store.own_name(author, what="the review's author")
    if not isinstance(author, str) or not author.strip():
        raise ValueError("a review needs the annotator's name")
    return normalize_name(author, kind="person")


def set_project_min_score(store: Store, min_score: float) -> None:
    """The project's default pre-label threshold on the Review page (what an annotator
    who has not moved their own slider starts with). A project setting: team mode asks
    for a lead (``query``: the batch's pre-labels come with the query)."""
    if not 0 <= min_score <= 1:
        raise ValueError(f"min_score {min_score!r} must be between 0 and 1")
    with store.write():
        store.authorize("query")
        before = store.get_meta(PROJECT_MIN_SCORE_KEY)
        store.set_meta(PROJECT_MIN_SCORE_KEY, str(min_score))
        store.audit("setting.review_min_score", object_type="project",
                    summary=f"review's default pre-label threshold set to {min_score:g}",
                    before={"min_score": before}, after={"min_score": min_score})


def label_selection_from_oracle(store: Store, tag: str, *,
                                min_score: float = DEFAULT_MIN_SCORE) -> int:
    """The demo's stand-in for a person: label the selection's unlabeled items that no
    annotator holds with the hidden ground truth, as reviews by ``oracle`` whose changes
    are counted against the pre-labels the review screen would show at ``min_score``.
    Returns the items labeled. Raises ``ValueError`` when the project has no hidden
    ground truth (only demo and simulation projects have one), ``KeyError`` for an
    unknown selection."""
    store.authorize("label")
    if not store.has_oracle():
        raise ValueError("this project has no hidden ground truth to label from (only the "
                         "demo and simulation projects have one)")
    selection = store.selection(tag)
    labeled = 0
    with store.write():  # nobody claims or saves one of these between the check and the save
        ids = [i.id for i in store.items(ids=[s.item_id for s in selection.items],
                                         status="unlabeled") if store.holder(i.id) is None]
        truth = store.oracle_boxes(ids)
        shown = prelabels(store, selection.model_id, ids, min_score=min_score)
        for item in store.items(ids=ids):
            submit_review(store, item.id, truth[item.id], author="oracle", action="oracle",
                          prelabels=[b for b, _ in shown[item.id]],
                          expected_version=item.label_version, selection=selection)
            labeled += 1
        store.audit("label.oracle", object_type="selection", object_id=selection.id,
                    summary=f"labeled {labeled} images of {selection.tag} from the oracle",
                    after={"labeled": labeled})
    return labeled

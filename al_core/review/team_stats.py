"""The team dashboard's figures (team mode, ``team_stats``: reviewers and leads): what
each annotator did and how well, the review queue, the images of each selection in each
state of the workflow (:mod:`al_core.workflow`), and the work done per day or hour.

Every figure comes with the count it is computed from, so a share of 2 in 3 is not read
as one of 200 in 300. The error rate is estimated from the **spot check**: a first
submission is sent to review at random (the project's ``review_share``, drawn per
submission and recorded), so the share of those returned at their first decision is an
unbiased estimate of the annotator's share of images needing rework, whatever the share.

Agreement uses the gold score's matching (:func:`al_core.review.gold.score_answer`: box
F1 at IoU 0.5, one-to-one by the Hungarian method), never another: between two
annotators' answers on the same gold image, and between an annotator's submitted boxes
and a reviewer's fix of them. Boxes are float ``[x1, y1, x2, y2]`` in absolute image
pixels. Every function checks ``team_stats`` first (PermissionDenied otherwise) and only
reads.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from itertools import combinations

from al_core.review.gold import GoldScore, score_answer
from al_core.review.reviewing import queue_age
from al_core.store import Store
from al_core.types import Box, LabeledBox
from al_core.workflow import STATES

PERIODS = ("day", "hour")
# the review queue's ages, for a histogram: (label, up to this many seconds)
AGE_BUCKETS = (("under 1 hour", 3600.0), ("1-4 hours", 4 * 3600.0),
               ("4-24 hours", 24 * 3600.0), ("1-3 days", 3 * 86400.0),
               ("over 3 days", float("inf")))


@dataclass(frozen=True)
class AnnotatorFigures:
    """One annotator's figures. ``None`` where the count it would come from is 0.

    - ``images``: distinct images they submitted (gold answers are not submissions);
      ``submissions``: every submission (firsts, fixes of returned images, later edits).
    - ``seconds_per_image``: the median of their submissions' seconds (from opening the
      image to saving it), over the ``timed`` submissions that carry a time.
    - ``returned_share``: among their *first* submissions that the spot check sent to
      review and that a reviewer has decided (``reviewed_first``), the share returned at
      that first decision (``returned_first``): an unbiased estimate of their error rate.
    - ``corrections_per_image``: the reviewers' corrections (boxes moved, relabeled,
      deleted or added when fixing) summed over every decision on their images, per
      distinct image decided (``reviewed_images``).
    - ``gold_f1`` / ``gold_class_accuracy``: the means of their scored gold answers'
      box F1 and class accuracy (``gold_answers`` answers; class accuracy over the
      ``gold_classed`` answers with a matched box).
    - ``peer_f1``: the mean box F1 between their answer and another annotator's on the
      same gold image, over ``peer_pairs`` such pairs.
    - ``fix_f1``: the mean box F1 between the boxes they submitted and a reviewer's fix
      of them, over the ``fixes`` fixes (approvals, which agree fully, are not counted).
    - ``holds``: images assigned, in progress or returned to them now.
    """

    annotator: str
    images: int = 0
    submissions: int = 0
    seconds_per_image: float | None = None
    timed: int = 0
    returned_share: float | None = None
    returned_first: int = 0
    reviewed_first: int = 0
    corrections_per_image: float | None = None
    corrections: int = 0
    reviewed_images: int = 0
    gold_f1: float | None = None
    gold_class_accuracy: float | None = None
    gold_answers: int = 0
    gold_classed: int = 0
    peer_f1: float | None = None
    peer_pairs: int = 0
    fix_f1: float | None = None
    fixes: int = 0
    holds: int = 0


@dataclass(frozen=True)
class Agreement:
    """Two people who labeled the same images. ``kind``: ``gold`` (two annotators'
    answers on a gold image; ``first`` and ``second`` in name order) or ``fix`` (an
    annotator's submitted boxes, ``first``, and a reviewer's fix, ``second``).
    ``f1``: the mean box F1 at IoU 0.5 over the ``images`` they share;
    ``class_accuracy``: the mean share of matched boxes of the same class, over the
    ``classed`` images with a matched box (None without one)."""

    kind: str
    first: str
    second: str
    images: int
    f1: float
    class_accuracy: float | None
    classed: int


@dataclass(frozen=True)
class SelectionStates:
    """A selection's images in each workflow state (``counts``: every state of
    :data:`al_core.workflow.STATES` a key), as :meth:`Store.work_counts` counts them."""

    selection_id: int
    tag: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class QueueFigures:
    """The review queue across reviewers: ``size`` images waiting (``submitted`` not
    yet opened, ``in_review`` open for a reviewer), the age of the oldest in seconds
    since it entered its state (None when empty), and each waiting image's age
    (``ages``, seconds, oldest first)."""

    size: int
    submitted: int
    in_review: int
    oldest_s: float | None
    ages: tuple[float, ...]


@dataclass(frozen=True)
class Throughput:
    """One day or hour (``start``: its first instant, in the time zone asked for):
    images ``submitted`` by annotators and review decisions ``approved``, ``fixed``
    (fixed and approved) and ``returned`` in it."""

    start: datetime
    submitted: int = 0
    approved: int = 0
    fixed: int = 0
    returned: int = 0

    @property
    def decided(self) -> int:
        return self.approved + self.fixed + self.returned


@dataclass(frozen=True)
class GoldImage:
    """A gold image: ``answered`` of the ``served`` annotators answered it, their mean
    box F1 and class accuracy against its labels (None with no answer)."""

    item_id: int
    file: str
    split: str | None
    marked_by: str | None
    served: int
    answered: int
    f1: float | None
    class_accuracy: float | None


@dataclass(frozen=True)
class Workload:
    """What one enabled user holds now: images ``assigned`` to them (not opened),
    ``in_progress`` for them and ``returned`` to them; ``held``: those that count
    against the project's cap (in progress only under a live lease)."""

    name: str
    role: str
    assigned: int
    in_progress: int
    returned: int
    held: int


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _boxes(rows: Iterable[Sequence[float]]) -> list[LabeledBox]:
    """Stored ``[class_id, x1, y1, x2, y2]`` rows as boxes."""
    return [LabeledBox(int(r[0]), Box(*map(float, r[1:5]))) for r in rows]


def annotator_figures(store: Store) -> list[AnnotatorFigures]:
    """Every annotator's figures (see :class:`AnnotatorFigures`), by name: the project's
    enabled annotators, and anyone else who submitted, was reviewed, answered a gold
    image or holds images."""
    store.authorize("team_stats")
    by_name: dict[str, dict] = defaultdict(dict)
    for u in store.users():
        if u.role == "annotator" and not u.disabled:
            by_name.setdefault(u.name, {})
    for part in (_submission_figures(store), _review_figures(store),
                 _gold_figures(store)):
        for name, values in part.items():
            by_name[name].update(values)
    for name, held in store.held_by_annotator().items():
        by_name[name].update(holds=sum(held.values()))
    return [AnnotatorFigures(name, **values)
            for name, values in sorted(by_name.items(), key=lambda kv: kv[0].casefold())]


def _submission_figures(store: Store) -> dict[str, dict]:
    """Images, submissions, seconds per image and the returned share, per annotator."""
    out = {}
    for name, rows in _group(store.submission_rows(), "annotator").items():
        timed = [r["seconds"] for r in rows if r["seconds"] is not None]
        judged = [r for r in rows if r["kind"] == "first" and r["sampled"]
                  and r["first_decision"] is not None]
        returned = sum(r["first_decision"] == "return" for r in judged)
        out[name] = dict(
            images=len({r["item_id"] for r in rows}), submissions=len(rows),
            seconds_per_image=statistics.median(timed) if timed else None, timed=len(timed),
            returned_first=returned, reviewed_first=len(judged),
            returned_share=returned / len(judged) if judged else None)
    return out


def _review_figures(store: Store) -> dict[str, dict]:
    """Reviewers' corrections per image decided, and agreement with their fixes."""
    out: dict[str, dict] = defaultdict(dict)
    for row in store.decision_totals():
        out[row["annotator"]].update(
            corrections=row["corrections"], reviewed_images=row["images"],
            corrections_per_image=row["corrections"] / row["images"])
    fixes: dict[str, list[float]] = defaultdict(list)
    for row in store.fix_boxes():
        fixes[row["annotator"]].append(
            score_answer(_boxes(row["fixed"]), _boxes(row["submitted"])).f1)
    for name, f1s in fixes.items():
        out[name].update(fix_f1=_mean(f1s), fixes=len(f1s))
    return out


def _gold_figures(store: Store) -> dict[str, dict]:
    """Gold scores, and agreement with other annotators on the same gold images."""
    out: dict[str, dict] = defaultdict(dict)
    answers = store.gold_answers()
    for name, rows in _group(answers, "annotator").items():
        classed = [r["class_accuracy"] for r in rows if r["class_accuracy"] is not None]
        out[name].update(gold_answers=len(rows), gold_f1=_mean([r["f1"] for r in rows]),
                         gold_classed=len(classed), gold_class_accuracy=_mean(classed))
    peers: dict[str, list[float]] = defaultdict(list)
    for a, b, score in _gold_pairs(answers):
        peers[a].append(score.f1)
        peers[b].append(score.f1)
    for name, f1s in peers.items():
        out[name].update(peer_f1=_mean(f1s), peer_pairs=len(f1s))
    return out


def _group(rows: Iterable[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _gold_pairs(answers: Iterable[dict]) -> list[tuple[str, str, GoldScore]]:
    """``(first, second, score)`` for every two annotators' answers (scored gold answer
    rows) on one gold image, names in order (the score is symmetric: F1 and class
    accuracy do not depend on which side is the reference)."""
    out = []
    for rows in _group(answers, "item_id").values():
        named = sorted(((r["annotator"], _boxes(json.loads(r["boxes"] or "[]")))
                        for r in rows),
                         key=lambda a: a[0].casefold())
        for (a, boxes_a), (b, boxes_b) in combinations(named, 2):
            out.append((a, b, score_answer(boxes_a, boxes_b)))
    return out


def agreement(store: Store) -> list[Agreement]:
    """Agreement where two people labeled the same image (see :class:`Agreement`):
    each pair of annotators who answered the same gold images, then each annotator and
    reviewer pair with fixes, by kind and names."""
    store.authorize("team_stats")
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for a, b, score in _gold_pairs(store.gold_answers()):
        groups[("gold", a, b)].append(score)
    for row in store.fix_boxes():
        groups[("fix", row["annotator"], row["reviewer"])].append(
            score_answer(_boxes(row["fixed"]), _boxes(row["submitted"])))
    out = []
    for (kind, a, b), scores in groups.items():
        classed = [s.class_accuracy for s in scores if s.class_accuracy is not None]
        out.append(Agreement(kind, a, b, len(scores), _mean([s.f1 for s in scores]),
                             _mean(classed), len(classed)))
    return sorted(out, key=lambda g: (g.kind != "gold", g.first.casefold(),
                                      g.second.casefold()))


def selection_states(store: Store) -> list[SelectionStates]:
    """Each selection's images per workflow state, oldest selection first."""
    store.authorize("team_stats")
    return [SelectionStates(r["id"], r["tag"], {s: r[s] for s in STATES})
            for r in store.work_counts_by_selection()]


def review_queue_figures(store: Store, *, now: datetime | None = None) -> QueueFigures:
    """The review queue's size and ages (see :class:`QueueFigures`): the size and the
    oldest age are :func:`~al_core.review.reviewing.queue_age`'s; each image's age is
    taken at ``now`` (aware; default: the clock)."""
    store.authorize("team_stats")
    queue = queue_age(store)
    rows = store.work_rows(("submitted", "in_review"))
    at = now or datetime.now(timezone.utc)
    ages = tuple(sorted(((at - datetime.fromisoformat(r["since"])).total_seconds()
                         for r in rows), reverse=True))
    return QueueFigures(queue["size"], sum(r["state"] == "submitted" for r in rows),
                        sum(r["state"] == "in_review" for r in rows), queue["oldest_s"],
                        ages)


def age_histogram(ages: Sequence[float]) -> list[tuple[str, int]]:
    """Waiting images per bucket of :data:`AGE_BUCKETS` (every bucket, in order)."""
    counts = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
    for age in ages:
        label = next(label for label, upto in AGE_BUCKETS if age < upto)
        counts[label] += 1
    return list(counts.items())


def throughput(store: Store, *, period: str = "day", tz: tzinfo | None = None
               ) -> list[Throughput]:
    """Submissions and review decisions per ``period`` (``day`` or ``hour``) in time
    zone ``tz`` (default UTC), oldest first; periods with nothing done are left out.
    ValueError for another period."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    store.authorize("team_stats")
    zone = tz or timezone.utc
    field = {"submitted": "submitted", "approve": "approved", "fix": "fixed",
             "return": "returned"}
    counts: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        field.values(), 0))
    for at, what in store.activity_rows():
        t = datetime.fromisoformat(at)
        t = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(zone)
        start = t.replace(minute=0, second=0, microsecond=0)
        if period == "day":
            start = start.replace(hour=0)
        counts[start][field[what]] += 1
    return [Throughput(start, **counts[start]) for start in sorted(counts)]


def gold_images(store: Store) -> list[GoldImage]:
    """Every gold image with its answer counts and mean scores, by image id."""
    store.authorize("team_stats")
    return [GoldImage(r["item_id"], r["file"], r["split"], r["marked_by"], r["served"],
                      r["answered"], r["f1"], r["class_accuracy"])
            for r in store.gold_rows()]


def workload(store: Store) -> list[Workload]:
    """What each enabled user holds now (see :class:`Workload`), in the users' order."""
    store.authorize("team_stats")
    held = {k.casefold(): v for k, v in store.held_by_annotator().items()}
    out = []
    for u in store.users():
        if u.disabled:
            continue
        mine = held.get(u.name.casefold(), {})
        out.append(Workload(u.name, u.role, mine.get("assigned", 0),
                            mine.get("in_progress", 0), mine.get("returned", 0),
                            store.held_count(u.name)))
    return out


__all__ = ["AGE_BUCKETS", "Agreement", "AnnotatorFigures", "GoldImage", "PERIODS",
           "QueueFigures", "SelectionStates", "Throughput", "Workload", "age_histogram",
           "agreement", "annotator_figures", "gold_images", "review_queue_figures",
           "selection_states", "throughput", "workload"]

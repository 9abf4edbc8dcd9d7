"""Is the labeling paying off? The learning curve (test mAP50 against the labeled images
each model was trained on, one point per model), what each label round bought, the
random control slice's estimate of how a model does on the unlabeled pool, and the
correction effort per round and annotator on the strategy's picks against the control
images of the same round.

Units: mAP50 values are fractions in [0, 1] (COCO AP at IoU 0.5, mean over classes with
ground truth); gains are in mAP50 *points* (hundredths: a rise from 0.800 to 0.812 is
1.2 points); seconds are the wall-clock seconds an annotator spent on one image.
Only evaluations on the current frozen test set (same :meth:`Store.test_set_identity`
hash) are compared; a model evaluated only on an earlier test set, or not at all, has no
test mAP50 here (``None``) and a note that says which.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from al_core.evaluation.history import MAP_IOU, model_history
from al_core.evaluation.metrics import evaluate
from al_core.evaluation.model_eval import labels_ground_truth, model_detections
from al_core.store import Store

FLAT_POINTS_PER_100 = 1.0  # fewer test mAP50 points per 100 labels than this: flattening
FLAT_ROUNDS = 2  # over this many of the last rounds
EVERYONE = "everyone"  # the author of effort rows that pool all annotators
PICKS, CONTROL = "picks", "control"


@dataclass(frozen=True)
class CurvePoint:
    """One trained model on the learning curve."""

    model_id: int
    name: str
    status: str
    active: bool
    labeled_images: int  # train + val images it was trained on
    label_round: int | None  # the newest label round in its training labels (None: unknown)
    test_map50: float | None  # on the current test set; None: see ``note``
    note: str  # "" | "not evaluated" | "on an earlier test set"


@dataclass(frozen=True)
class RoundStep:
    """What a label round bought: the best evaluated model trained on labels up to this
    round against the previous round's."""

    round: int
    model_id: int
    labeled_images: int
    test_map50: float
    labels_added: int | None  # against the previous round's model (None: first round)
    gain_points: float | None  # test mAP50 points gained against it (None: first round)
    points_per_100_labels: float | None  # None: first round, or no labels were added


@dataclass(frozen=True)
class ControlRound:
    """A round's control slice: how the model that picked the round did on its randomly
    drawn control images, once they were labeled, beside its test mAP50."""

    round: int
    tag: str
    model_id: int | None  # the model whose predictions picked the round (None: cold start)
    control_images: int  # control images labeled by now
    control_map50: float | None  # None: see ``note``
    test_map50: float | None  # on the current test set (None: not evaluated on it)
    note: str  # why control_map50 is missing; "" when it is there


@dataclass(frozen=True)
class ReviewRecord:
    """One saved review of an image of a selection, with the change counts against the
    pre-labels the annotator was shown."""

    round: int
    author: str
    control: bool  # the image came from the round's random control slice
    seconds: float | None  # None: not timed (imports, the demo's oracle)
    added: int
    deleted: int
    moved: int
    relabeled: int


@dataclass(frozen=True)
class EffortRow:
    """Mean correction effort per reviewed image of one round's picks or control slice
    (of one annotator, or of ``EVERYONE``)."""

    round: int
    author: str
    slice: str  # PICKS | CONTROL
    images: int  # reviews counted
    seconds_per_image: float | None  # mean over the timed reviews (None: none was timed)
    added: float  # boxes per image
    deleted: float
    moved: float
    relabeled: float

    @property
    def corrections(self) -> float:
        """Boxes added, deleted, moved or relabeled per image."""
        return self.added + self.deleted + self.moved + self.relabeled


# -- the learning curve --------------------------------------------------------------
def learning_curve(store: Store) -> list[CurvePoint]:
    """One point per model trained in this project (external models, which carry no
    training labels, are left out), by labeled images then id. Older models that only
    recorded ``train_images`` count those."""
    points = []
    for v in model_history(store):
        if v.labels is None:
            continue
        comparable = v.test_map50 is not None and not v.test_note
        points.append(CurvePoint(
            model_id=v.id, name=v.name, status=v.status, active=v.active,
            labeled_images=int(v.labels), label_round=max(v.rounds) if v.rounds else None,
            test_map50=v.test_map50 if comparable else None,
            note="" if comparable else (v.test_note or "not evaluated")))
    return sorted(points, key=lambda p: (p.labeled_images, p.model_id))


def round_steps(points: Iterable[CurvePoint]) -> list[RoundStep]:
    """Per label round, the evaluated model with the best test mAP50 among those trained
    on labels up to that round, and its gain over the previous round's such model."""
    best: dict[int, CurvePoint] = {}
    for p in points:
        if p.test_map50 is None or p.label_round is None:
            continue
        if p.label_round not in best or p.test_map50 > best[p.label_round].test_map50:
            best[p.label_round] = p
    steps, previous = [], None
    for r in sorted(best):
        p = best[r]
        added = gain = per_100 = None
        if previous is not None:
            added = p.labeled_images - previous.labeled_images
            gain = 100.0 * (p.test_map50 - previous.test_map50)
            per_100 = 100.0 * gain / added if added > 0 else None
        steps.append(RoundStep(round=r, model_id=p.model_id, labeled_images=p.labeled_images,
                               test_map50=p.test_map50, labels_added=added, gain_points=gain,
                               points_per_100_labels=per_100))
        previous = p
    return steps


def flattening_hint(steps: Sequence[RoundStep], *, rounds: int = FLAT_ROUNDS,
                    min_points_per_100: float = FLAT_POINTS_PER_100) -> str | None:
    """A plain sentence when the last ``rounds`` steps together gained fewer than
    ``min_points_per_100`` test mAP50 points per 100 labels added; None otherwise (or
    with fewer than ``rounds`` steps after the first)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    last = [s for s in steps if s.labels_added is not None][-rounds:]
    if len(last) < rounds:
        return None
    added = sum(s.labels_added for s in last)
    gain = sum(s.gain_points for s in last)
    if added > 0 and 100.0 * gain / added >= min_points_per_100:
        return None
    span = f"the last {rounds} rounds" if rounds > 1 else "the last round"
    bought = (f"bought {gain:.1f} points of test mAP50" if gain >= 0.05 else
              f"lost {-gain:.1f} points of test mAP50" if gain <= -0.05 else
              "bought no test mAP50")
    return (f"The curve is flattening: {added:,} more labels in {span} {bought} "
            f"(less than {min_points_per_100:g} point per 100 labels). More of the same "
            "labels may not pay; a different strategy, a bigger model or a look at the "
            "hardest classes may.")


# -- the random control slice --------------------------------------------------------
def control_rounds(store: Store) -> list[ControlRound]:
    """Per selection (in round order), the picking model's mAP50 at IoU 0.5 on the
    selection's control images labeled so far, from the predictions it stored before
    they were labeled: an unbiased estimate of its mAP50 on the unlabeled pool (a small
    sample: read it with its image count). Beside it, the model's test mAP50."""
    _, digest = store.test_set_identity()
    class_ids = [c.id for c in store.classes()]
    out = []
    for summary in store.selections():
        selection = store.selection(summary.tag)
        model_id = selection.model_id
        labeled = [i.id for i in store.items(ids=selection.control_ids, status="labeled")]
        test = store.evaluation(model_id, digest, MAP_IOU) if model_id is not None else None
        control, note = None, ""
        if model_id is None:
            note = "picked without a model (cold start)"
        elif not selection.control_ids:
            note = "no control slice"
        elif not labeled:
            note = "no control image labeled yet"
        else:
            control, note = _control_map(store, model_id, labeled, class_ids)
        out.append(ControlRound(round=selection.round, tag=selection.tag, model_id=model_id,
                                control_images=len(labeled), control_map50=control,
                                test_map50=test["map"] if test else None, note=note))
    return out


def _control_map(store: Store, model_id: int, item_ids: list[int],
                 class_ids: list[int]) -> tuple[float | None, str]:
    if store.unpredicted_items(model_id, item_ids):
        return None, f"model #{model_id} has not predicted these images"
    gt = labels_ground_truth(store, item_ids)
    if len(gt.label) == 0:
        return None, "the control images hold no boxes"
    result = evaluate(gt, model_detections(store, model_id, item_ids),
                      iou_threshold=MAP_IOU, class_ids=class_ids)
    return result.map, ""


# -- correction effort ---------------------------------------------------------------
def review_records(store: Store) -> list[ReviewRecord]:
    """Every saved review of an image of a selection, oldest first (reviews outside a
    selection have no round and no picks/control side, and are left out)."""
    control: dict[int, set[int]] = {}
    rounds: dict[int, int] = {}
    for summary in store.selections():
        selection = store.selection(summary.tag)
        control[selection.id] = set(selection.control_ids)
        rounds[selection.id] = selection.round
    return [ReviewRecord(
        round=r["round"] if r["round"] is not None else rounds[r["selection_id"]],
        author=r["author"], control=r["item_id"] in control[r["selection_id"]],
        seconds=r["seconds"], added=r["added"], deleted=r["deleted"], moved=r["moved"],
        relabeled=r["relabeled"])
        for r in store.reviews() if r["selection_id"] in control]


def correction_effort(records: Iterable[ReviewRecord], *,
                      by_author: bool = False) -> list[EffortRow]:
    """Mean effort per image by round and slice (picks, then control), and by annotator
    when ``by_author`` (else every row's author is :data:`EVERYONE`). Each review counts
    as one image."""
    groups: dict[tuple[int, str, str], list[ReviewRecord]] = {}
    for r in records:
        key = (r.round, r.author if by_author else EVERYONE, CONTROL if r.control else PICKS)
        groups.setdefault(key, []).append(r)
    rows = []
    for (rnd, author, side), group in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != PICKS)):
        timed = [r.seconds for r in group if r.seconds is not None]
        n = len(group)
        rows.append(EffortRow(
            round=rnd, author=author, slice=side, images=n,
            seconds_per_image=sum(timed) / len(timed) if timed else None,
            added=sum(r.added for r in group) / n, deleted=sum(r.deleted for r in group) / n,
            moved=sum(r.moved for r in group) / n,
            relabeled=sum(r.relabeled for r in group) / n))
    return rows


def effort_verdict(rows: Sequence[EffortRow]) -> str | None:
    """One sentence on the newest round that has both picks and control reviews (pooled
    rows, author :data:`EVERYONE`): do the strategy's picks need more fixing than random
    images? None when no round has both."""
    pooled = {(r.round, r.slice): r for r in rows if r.author == EVERYONE}
    both = sorted(rnd for rnd, side in pooled if side == PICKS and (rnd, CONTROL) in pooled)
    if not both:
        return None
    rnd = both[-1]
    picks, control = pooled[(rnd, PICKS)], pooled[(rnd, CONTROL)]
    figures = (f"In round {rnd} the strategy's picks needed {picks.corrections:.1f} "
               f"corrections per image ({picks.images} images), the random control images "
               f"{control.corrections:.1f} ({control.images} images)")
    if picks.corrections > control.corrections * 1.1 + 0.05:
        return figures + ": the strategy finds what the model gets wrong."
    if picks.corrections < control.corrections * 0.9 - 0.05:
        return figures + ": its picks are easier than random ones; it is not finding " \
                         "the model's mistakes."
    return figures + ": about the same as random images."

"""The pre-label threshold that fits a model: which of its boxes the Review page shows.

A pre-label scoring below the threshold is hidden. Hiding a right box makes the annotator
draw it again; showing a wrong one makes them delete it. The threshold is the one that
costs the annotator least on the model's validation images, where the truth is known:

- A validation box of the model is **right** when it matches a true box of its class at
  IoU >= :data:`al_core.review.auto_accept.MATCH_IOU` (0.5), one-to-one, greedily by
  score (:func:`al_core.review.auto_accept.match_predictions`); every other box is
  **wrong** (a box of the wrong class on an object counts as wrong: deleted, and the
  object drawn).
- Costs, in annotator seconds, from the project's effort model
  (:mod:`al_core.review.effort`; the published constants unless a
  :class:`~al_core.review.effort.CostModel` is given): a hidden right box costs a draw
  instead of a confirmation (``added - kept``: 25.5 - 1.6 = 23.9 s published); a shown
  wrong box costs a deletion (``deleted``: 2.6 s published). So a box is worth showing
  when it is right about one time in ten (2.6 / (2.6 + 23.9)).
- Candidates are the Review slider's positions, 0.05 to 1.00 in steps of
  :data:`STEP`, and the project default; the threshold is the candidate of least cost
  (``cost(t) = hidden right(t) x (added - kept) + shown wrong(t) x deleted``), ties
  going to the one nearest the project default: the threshold moves from the default
  only as far as the validation images show it pays.
- Per class (the class of the model's box) where the validation labels hold at least
  :data:`MIN_CLASS_OBJECTS` true boxes of the class (fewer, and one box moves the
  class's hidden share by more than a tenth); every other class gets the model-wide
  threshold, chosen on all classes' boxes together.

No model, no labeled validation image, a validation image the model has not predicted,
or no box of the model on them: the project default, with a ``why`` that says so.

Results are kept per model in the project's meta (:func:`prelabel_threshold`), with the
validation set's identity (:meth:`Store.split_identity`): a new or changed validation
label computes it again (from the stored predictions: no model runs). Boxes are float
``[x1, y1, x2, y2]`` in absolute image pixels.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from al_core.review.auto_accept import match_predictions, unpredicted_by
from al_core.review.effort import CostModel, published_model
from al_core.store import Store
from al_core.types import DEFAULT_MIN_SCORE, LabeledBox

STEP = 0.05  # the Review slider's step: every candidate is a position of it
CANDIDATES = tuple(round(STEP * k, 2) for k in range(1, 21))  # 0.05 .. 1.00
MIN_CLASS_OBJECTS = 10  # true validation boxes of a class before it gets its own
META_KEY = "prelabel-threshold-model-{}"  # the project's meta: one result per model
PROJECT_MIN_SCORE_KEY = "review_min_score"  # the project default (al_core.review.save's)


class MinScore(float):
    """A pre-label score threshold: the float is the model-wide value, ``per_class``
    (``{class_id: threshold}``) overrides it for some classes. Where it is used as a
    plain float it is the model-wide value; :func:`min_score_of` reads a class's."""

    per_class: dict[int, float]

    def __new__(cls, value: float, per_class: Mapping[int, float] | None = None):
        self = super().__new__(cls, value)
        self.per_class = {int(c): float(t) for c, t in (per_class or {}).items()}
        return self

    def of(self, class_id: int) -> float:
        return self.per_class.get(class_id, float(self))

    def __eq__(self, other) -> bool:
        if isinstance(other, MinScore):
            return float(self) == float(other) and self.per_class == other.per_class
        return not self.per_class and float(self) == other

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = float.__hash__

    def __repr__(self) -> str:
        return f"MinScore({float(self)!r}, {self.per_class!r})"


def min_score_of(min_score: float, class_id: int) -> float:
    """The threshold a pre-label of ``class_id`` is shown at: the class's own where
    ``min_score`` is a :class:`MinScore` that has one, else ``min_score``."""
    return min_score.of(class_id) if isinstance(min_score, MinScore) else float(min_score)


@dataclass(frozen=True)
class PrelabelThreshold:
    """The pre-label threshold chosen for a model. ``threshold``: model-wide, in [0, 1];
    ``per_class``: the classes with their own; ``val_images`` / ``val_objects``: the
    labeled validation images and true boxes it was chosen on (0 for the default);
    ``chosen``: False when it is the project default (no model, or no validation data);
    ``why``: one line for people to read; ``hidden_right`` / ``shown_wrong``: the
    validation boxes it hides that were right and shows that were wrong;
    ``hidden_right_at_default``: the right ones the project default would hide."""

    model_id: int | None
    threshold: float
    per_class: dict[int, float] = field(default_factory=dict)
    val_images: int = 0
    val_objects: int = 0
    why: str = ""
    chosen: bool = False
    hidden_right: int = 0
    shown_wrong: int = 0
    hidden_right_at_default: int = 0

    def min_score(self) -> MinScore:
        """As the Review page and the simulation apply it."""
        return MinScore(self.threshold, self.per_class)


def best_threshold(scores: np.ndarray, right: np.ndarray, *, hidden_cost: float,
                   shown_cost: float, default: float = DEFAULT_MIN_SCORE,
                   candidates: Sequence[float] = CANDIDATES) -> float:
    """The candidate ``t`` of least ``hidden_cost x (right boxes scoring < t) +
    shown_cost x (wrong boxes scoring >= t)`` for one set of boxes (``scores``, ``right``
    (N,)); ties go to the candidate nearest ``default`` (then the lower). ``default``
    is a candidate too. Raises ValueError on a negative cost or mismatched shapes."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    right = np.asarray(right, bool).reshape(-1)
    if scores.shape != right.shape:
        raise ValueError(f"scores {scores.shape} and right {right.shape} differ in shape")
    if not (hidden_cost >= 0 and shown_cost >= 0):
        raise ValueError(f"costs are >= 0: hidden {hidden_cost!r}, shown {shown_cost!r}")
    ts = np.array(sorted(set(candidates) | {float(default)}))  # (K,)
    shown = scores[None, :] >= ts[:, None]  # (K, N)
    cost = hidden_cost * (~shown & right).sum(1) + shown_cost * (shown & ~right).sum(1)
    best = np.flatnonzero(np.isclose(cost, cost.min()))
    return float(ts[min(best, key=lambda k: (abs(ts[k] - default), ts[k]))])


def _counts(scores: np.ndarray, right: np.ndarray, t: float) -> tuple[int, int]:
    """(right boxes hidden, wrong boxes shown) at ``t``."""
    return int((right & (scores < t)).sum()), int((~right & (scores >= t)).sum())


def choose_threshold(predictions: Mapping[int, Sequence[dict]],
                     truth: Mapping[int, Sequence[LabeledBox]], *, model_id: int,
                     cost: CostModel | None = None, default: float = DEFAULT_MIN_SCORE,
                     min_class_objects: int = MIN_CLASS_OBJECTS) -> PrelabelThreshold:
    """The threshold for one model from its validation boxes (module doc).
    ``predictions``: per validation image, rows with ``class_id``, ``x1, y1, x2, y2``
    (pixels) and ``score``, as :meth:`Store.predictions` returns them; ``truth``: the
    same images' true boxes (its keys are the images used). ``default``: the project
    default, returned when there is nothing to choose on."""
    cost = cost or published_model()
    hidden_cost, shown_cost = cost.added - cost.kept, cost.deleted
    ids = list(truth)
    scores, right, classes = [], [], []
    for i in ids:
        rows = list(predictions.get(i, []))
        ok = match_predictions(
            np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows]).reshape(-1, 4),
            np.array([r["score"] for r in rows]), np.array([r["class_id"] for r in rows]),
            np.array([t.box.as_list() for t in truth[i]]).reshape(-1, 4),
            np.array([t.class_id for t in truth[i]]))
        scores += [float(r["score"]) for r in rows]
        right += [bool(x) for x in ok]
        classes += [int(r["class_id"]) for r in rows]
    n_objects = sum(len(truth[i]) for i in ids)
    if not ids or not scores or n_objects < min_class_objects:
        what = ("no labeled validation image" if not ids else
                f"no box of model #{model_id} on its {_n(len(ids), 'validation image')}"
                if not scores else
                f"{_n(n_objects, 'true box', 'true boxes')} on the validation images, too "
                f"few to choose from (it takes {min_class_objects})")
        return fallback(model_id, default, what, val_images=len(ids), val_objects=n_objects)
    s, r, c = np.array(scores), np.array(right), np.array(classes)
    overall = best_threshold(s, r, hidden_cost=hidden_cost, shown_cost=shown_cost,
                             default=default)
    per_class = {}
    objects = {}
    for i in ids:
        for t in truth[i]:
            objects[t.class_id] = objects.get(t.class_id, 0) + 1
    for cls, n in sorted(objects.items()):
        if n >= min_class_objects and (c == cls).any():
            mine = best_threshold(s[c == cls], r[c == cls], hidden_cost=hidden_cost,
                                  shown_cost=shown_cost, default=overall)
            if mine != overall:
                per_class[cls] = mine
    cuts = np.array([per_class.get(int(k), overall) for k in c])
    hidden, shown = int((r & (s < cuts)).sum()), int((~r & (s >= cuts)).sum())
    at_default, _ = _counts(s, r, default)
    n = len(per_class)
    by_class = f" ({n} class{'es have their' if n > 1 else ' has its'} own)" if n else ""
    why = (f"{overall:.2f} for model #{model_id}{by_class}: on its "
           f"{_n(len(ids), 'validation image')} it hides {_n(hidden, 'right box', 'right boxes')}"
           f" and shows {_n(shown, 'wrong one')}" +
           (f"; at {default:.2f} it would hide {at_default}" if overall != default or n else
            ", the fewest corrections of any threshold"))
    return PrelabelThreshold(model_id, overall, per_class, len(ids), n_objects, why, True,
                             hidden, shown, at_default)


def _n(count: int, one: str, many: str | None = None) -> str:
    """``count`` and the noun, singular or plural ("1 validation image", "3 right boxes")."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def fallback(model_id: int | None, default: float, reason: str, *, val_images: int = 0,
             val_objects: int = 0) -> PrelabelThreshold:
    """The project default, not chosen from data, for ``reason``."""
    return PrelabelThreshold(model_id, float(default), {}, val_images, val_objects,
                             f"{default:.2f}, the project default: {reason}", False)


def project_default(store: Store) -> float:
    """The project's default threshold: a lead's (``review_min_score``) or
    :data:`DEFAULT_MIN_SCORE`."""
    return float(store.get_meta(PROJECT_MIN_SCORE_KEY) or DEFAULT_MIN_SCORE)


def prelabel_threshold(store: Store, model_id: int | None, *, cost: CostModel | None = None,
                       val_ids: Sequence[int] | None = None) -> PrelabelThreshold:
    """The model's threshold on the project's labeled validation images (or on
    ``val_ids``), from its stored predictions: kept in the meta per model with the
    validation set's identity and the settings, and computed again when they change.
    Predicts nothing: a validation image the model has not predicted gives the project
    default (``why`` says how many)."""
    default = project_default(store)
    if model_id is None:
        return fallback(None, default, "no model yet")
    if val_ids is None:
        val_ids, digest = store.split_identity("val")
    else:
        val_ids, digest = list(val_ids), "given:" + ",".join(map(str, sorted(val_ids)))
    cost = cost or published_model()
    settings = {"val_set_hash": digest, "default": default, "cost": cost.as_dict(),
                "min_class_objects": MIN_CLASS_OBJECTS, "step": STEP}
    stored = json.loads(store.get_meta(META_KEY.format(model_id)) or "null")
    if stored is not None and stored.get("settings") == settings:
        result = stored["result"]
        return PrelabelThreshold(**{**result, "per_class": {
            int(k): v for k, v in result["per_class"].items()}})
    missing = unpredicted_by(store, model_id, val_ids)
    if missing:
        return fallback(model_id, default, f"model #{model_id} has not predicted "
                        f"{len(missing)} of its {len(val_ids)} validation images",
                        val_images=len(val_ids))
    # every box, whoever asks: computed (and stored for everyone) as the annotator who
    # opened the page, whose reads hide gold images' labels (as auto_accept does)
    used = sorted(set(val_ids) - store.items_with_auto_accepted(val_ids))
    truth = {i: list(boxes) for i, boxes in store._annotations(used).items()}
    found: dict[int, list[dict]] = {i: [] for i in used}
    for row in store.predictions(model_id, used):
        found[row["item_id"]].append(row)
    result = choose_threshold(found, truth, model_id=model_id, cost=cost, default=default)
    if result.chosen:
        store.set_meta(META_KEY.format(model_id), json.dumps(
            {"settings": settings, "result": {**asdict(result), "per_class": {
                str(k): v for k, v in result.per_class.items()}}}))
    return result

"""A query round: gather the pool, let a strategy pick a batch (plus a random control
slice), make sure the picks carry the active model's predictions as pre-labels, and
store it all as a named selection. Runs as a job (kind ``query``) from the CLI and UI.

Deterministic for a seed: the control slice is drawn with ``default_rng(seed)`` from the
pool first (so it is a uniform sample of the pool, untouched by the strategy), then the
strategy gets ``default_rng([seed, 1])`` and the rest of the pool.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from al_core.jobs.reporter import PartReporter
from al_core.jobs.runner import Cancelled, job_kind
from al_core.query import features as cold_features
from al_core.query.cost import class_quality
from al_core.query.measures import (ImageScores, flip_boxes, flip_inconsistency, image_uncertainty,
                                    rare_class_weights)
from al_core.query.strategies import (COLD_START_STRATEGY, DEFAULT_STRATEGY, ModelDetections,
                                      Ranked, check_options, get_strategy)
from al_core.store import Store
from al_core.types import Selection, SelectionItem, brief

log = logging.getLogger(__name__)
DEFAULT_RANDOM_CONTROL = 0.1
Progress = Callable[[float, str], None]
# class_quality matches at most this many labeled images against their labels
QUALITY_SAMPLE = 500


@dataclass(frozen=True)
class QuerySpec:
    """What to query. Exactly one of ``add`` (items to pick) and ``target`` (the labeled
    training set's size once this and earlier pending selections are labeled)."""

    strategy: str = DEFAULT_STRATEGY
    add: int | None = None
    target: int | None = None
    random_control: float = DEFAULT_RANDOM_CONTROL
    seed: int = 0
    tag: str | None = None
    pool_tag: str | None = None
    include_pending: bool = False
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        if (self.add is None) == (self.target is None):
            raise ValueError("give exactly one of --add N (items to pick) and --target N "
                             "(the labeled set's size after this query)")
        for name in ("add", "target"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"--{name}: {brief(value)} is not a positive integer")
        if not (isinstance(self.random_control, (int, float)) and 0 <= self.random_control < 1):
            raise ValueError(f"--random-control: {brief(self.random_control)} must be a fraction "
                             "in [0, 1)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"--seed: {brief(self.seed)} is not an integer >= 0")
        check_options(self.options)


class QueryContext:
    """The :class:`~al_core.query.strategies.Context` of one query: model outputs are
    computed (and stored) on first use, for the items asked about only."""

    def __init__(self, store: Store, model_id: int | None, pool: np.ndarray, options: dict, *,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.store, self.model_id, self.options = store, model_id, options
        self.pool = np.asarray(pool, np.int64)
        self.labeled = np.asarray(store.training_labeled_ids(), np.int64)
        self.notes: dict = {}
        self._progress, self._should_stop = progress, should_stop
        self._has_checkpoint = model_id is not None and bool(
            store.model(model_id)["checkpoint_path"])
        self._boxes: dict[int, list[tuple]] = {}
        self._class_counts: dict[int, int] | None = None

    def note(self, key: str, value) -> None:
        self.notes[key] = value

    def report(self, fraction: float, message: str) -> None:
        if self._should_stop and self._should_stop():
            raise Cancelled()
        if self._progress:
            self._progress(fraction, message)

    # -- model outputs ------------------------------------------------------------
    def ensure_predicted(self, ids) -> None:
        """Run the active model on the items it has not predicted yet (stores boxes with
        per-class probabilities, and embeddings)."""
        if not self._has_checkpoint:
            return
        missing = self.store.items_without_embedding(self.model_id, [int(i) for i in ids])
        if missing:
            from al_core.training.prediction import predict_items  # torch loads only when needed

            predict_items(self.store, self.model_id, missing, reporter=PartReporter(
                self._progress, self._should_stop, 0.05, 0.8, f"predicting {len(missing)} images"))

    def _predictions(self, ids: np.ndarray) -> dict[int, list[tuple]]:
        """item id -> [(class_id, score, probs or None)]"""
        need = [int(i) for i in ids if int(i) not in self._boxes]
        if need:
            if self.model_id is None:
                raise ValueError("this strategy needs model predictions and no model is active")
            self.ensure_predicted(need)
            for i in need:
                self._boxes[i] = []
            for item_id, class_id, score, probs in self.store.predictions_with_probs(
                    self.model_id, need):
                self._boxes[item_id].append((class_id, score, probs))
        return {int(i): self._boxes[int(i)] for i in ids}

    def detections(self, ids: np.ndarray) -> ModelDetections:
        """The active model's detections on ``ids``, as rows over the project's classes
        (see :class:`~al_core.query.strategies.ModelDetections`)."""
        boxes = self._predictions(ids)
        classes = [c.id for c in self.store.classes()]
        column = {c: k for k, c in enumerate(classes)}
        rows, scores, index, predicted = [], [], [], []
        for position, item_id in enumerate(ids):
            for class_id, score, probs in boxes[int(item_id)]:
                if probs is None:  # an imported model's box: only its class is known
                    probs = np.eye(len(classes), dtype=np.float32)[column[class_id]]
                rows.append(probs)
                scores.append(score)
                index.append(position)
                # each box's stored class (a two-stage model can give one box per class,
                # so this is the box's class, not the argmax of its row)
                predicted.append(column[class_id])
        width = max((len(r) for r in rows), default=len(classes))
        return ModelDetections(np.array(rows, np.float32).reshape(-1, width),
                               np.array(scores, np.float32), np.array(index, np.int64),
                               np.array(predicted, np.int64), len(ids))

    def uncertainty(self, ids: np.ndarray, class_factors: np.ndarray | None = None
                    ) -> ImageScores:
        found = self.detections(ids)
        o = self.options
        weights = None
        if (o["class_weight"] or class_factors is not None) and len(found.scores):
            weights = np.ones(len(found.scores), np.float32)
            if o["class_weight"]:
                counts = self.labeled_class_counts()
                labeled = np.array([counts.get(c.id, 0) for c in self.store.classes()],
                                   np.float64)
                weights *= rare_class_weights(found.classes, labeled, o["class_weight"])
            if class_factors is not None:
                weights *= np.asarray(class_factors, np.float32)[found.classes]
        return image_uncertainty(found.probs, found.scores, found.image_index, len(ids),
                                 measure=o["measure"], aggregate=o["aggregate"],
                                 background=o["background"], weights=weights)

    def class_quality(self) -> np.ndarray:
        """:func:`~al_core.query.cost.class_quality` of the active model on (up to
        :data:`QUALITY_SAMPLE` of) the labeled training images, ``(C,)`` in the
        project's class order, NaN for a class without labeled boxes."""
        classes = [c.id for c in self.store.classes()]
        column = {c: k for k, c in enumerate(classes)}
        ids = [int(i) for i in self.labeled]
        if len(ids) > QUALITY_SAMPLE:  # the same sample for the same labeled set
            ids = sorted(np.random.default_rng(len(ids)).choice(ids, QUALITY_SAMPLE,
                                                                 replace=False).tolist())
        if self.model_id is None or not ids:
            return np.full(len(classes), np.nan)
        self.ensure_predicted(ids)
        found: dict[int, list[dict]] = {i: [] for i in ids}
        for row in self.store.predictions(self.model_id, ids):
            if row["class_id"] in column:
                found[row["item_id"]].append(row)
        if not self._has_checkpoint:  # an imported model: only the images it has boxes for
            ids = [i for i in ids if found[i]]
        labels = self.store.annotations(ids)
        predictions, truth = [], []
        for i in ids:
            rows = found[i]
            predictions.append((np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows],
                                         np.float64).reshape(-1, 4),
                                np.array([r["score"] for r in rows], np.float64),
                                np.array([column[r["class_id"]] for r in rows], np.int64)))
            anns = [a for a in labels.get(i, []) if a.class_id in column]
            truth.append((np.array([a.box.as_list() for a in anns], np.float64).reshape(-1, 4),
                          np.array([column[a.class_id] for a in anns], np.int64)))
        quality = class_quality(predictions, truth, len(classes))
        self.note("class_quality", {str(c): None if np.isnan(q) else round(float(q), 4)
                                    for c, q in zip(classes, quality)})
        return quality

    def predicted_classes(self, ids: np.ndarray) -> list[list[int]]:
        boxes = self._predictions(ids)
        floor = self.options["class_score"]
        return [sorted({c for c, s, _ in boxes[int(i)] if s >= floor}) for i in ids]

    def labeled_class_counts(self) -> dict[int, int]:
        """Labeled boxes per class id, read once per query (uncertainty's class weights
        and hybrid's quotas both ask)."""
        if self._class_counts is None:
            counts: dict[int, int] = {}
            for anns in self.store.annotations([int(i) for i in self.labeled]).values():
                for a in anns:
                    counts[a.class_id] = counts.get(a.class_id, 0) + 1
            self._class_counts = counts
        return dict(self._class_counts)

    def embeddings(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), d) float32: the model's image embeddings, or the fixed cold-start
        features when no model with a checkpoint is active."""
        ids = [int(i) for i in ids]
        if not self._has_checkpoint:
            self.note("features", cold_features.EXTRACTOR)
            return cold_start_features(self.store, ids, report=self.report)
        self.ensure_predicted(ids)
        vectors = self.store.embedding_vectors(self.model_id, ids)
        self.note("features", f"model #{self.model_id} embeddings")
        if not ids:
            return np.zeros((0, 1), np.float32)
        return np.stack([np.frombuffer(vectors[i], np.float32) for i in ids])

    def consistency(self, ids: np.ndarray) -> np.ndarray:
        if not self._has_checkpoint:
            raise ValueError("consistency needs a model with a checkpoint to run; the active "
                             f"model #{self.model_id} has none (imported predictions)")
        return flip_consistency_scores(self.store, self.model_id, [int(i) for i in ids],
                                       report=self.report)


def cold_start_features(store: Store, ids: list[int], *, report: Progress | None = None
                        ) -> np.ndarray:
    """Fixed features (``features.EXTRACTOR``) of the items, computed once and cached."""
    from al_core.formats.images import load_image

    cached = store.feature_vectors(cold_features.EXTRACTOR, ids)
    missing = [i for i in ids if i not in cached]
    for start in range(0, len(missing), 256):
        chunk = store.items(ids=missing[start:start + 256])
        fresh = [(i.id, cold_features.image_features(load_image(store.image_path(i))).tobytes())
                 for i in chunk]
        store.save_feature_vectors(cold_features.EXTRACTOR, fresh)
        cached.update(fresh)
        if report:
            report(0.05 + 0.8 * (start + len(chunk)) / len(missing),
                   f"image features {start + len(chunk)}/{len(missing)}")
    if not ids:
        return np.zeros((0, cold_features.DIM), np.float32)
    return np.stack([np.frombuffer(cached[i], np.float32) for i in ids])


def flip_consistency_scores(store: Store, model_id: int, ids: list[int], *,
                            report: Progress | None = None, batch_size: int = 32) -> np.ndarray:
    """:func:`~al_core.query.measures.flip_inconsistency` of each item: the model
    runs on the image and on its mirror image, unchanged."""
    import torch

    from al_core.training.checkpoints import load_checkpoint
    from al_core.training.data import load_items
    from al_core.training.loop import resolve_device
    from al_core.training.prediction import PREDICT_SCORE_THRESHOLD

    model, config, _ = load_checkpoint(store, model_id)
    device = resolve_device(config.device)
    model.to(device)
    out: dict[int, float] = {}
    for start in range(0, len(ids), batch_size):
        data = load_items(store, ids[start:start + batch_size], image_size=config.image_size,
                          class_index=None)
        images = data.images.to(device).float() / 255  # (B, 3, S, S)
        with torch.inference_mode():
            preds = model.predict(torch.cat([images, images.flip(-1)]),
                                  score_threshold=PREDICT_SCORE_THRESHOLD)
        n = len(data.item_ids)
        for item_id, a, b in zip(data.item_ids, preds[:n], preds[n:]):
            back = flip_boxes(b.boxes, config.image_size)
            out[item_id] = flip_inconsistency((a.boxes, a.scores, a.probs),
                                              (back, b.scores, b.probs))
        if report:
            done = min(start + batch_size, len(ids))
            report(0.05 + 0.8 * done / len(ids), f"flip consistency {done}/{len(ids)}")
    return np.array([out[i] for i in ids], np.float64)


def batch_size_for(store: Store, spec: QuerySpec) -> int:
    """How many items to pick: ``add``, or ``target`` minus the labeled training set and
    the items still waiting in earlier selections."""
    if spec.add is not None:
        return spec.add
    labeled = len(store.training_labeled_ids())
    pending = len(store.pending_item_ids())
    add = spec.target - labeled - pending
    if add < 1:
        raise ValueError(f"--target {spec.target}: the labeled set already has {labeled} items"
                         + (f" and {pending} more wait in earlier selections" if pending else "")
                         + "; nothing to add")
    return add


@dataclass(frozen=True)
class QueryPlan:
    """What a query will do, checked before any work: see :func:`plan_query`."""

    strategy: str  # the one that will run (the cold-start one when no model is active)
    model_id: int | None
    pool: np.ndarray  # (N,) item ids
    batch: int
    tag: str
    round: int


def plan_query(store: Store, spec: QuerySpec) -> QueryPlan:
    """Resolve the strategy, pool, batch size and tag; raise ValueError naming the
    problem (the CLI calls this before starting a job, so mistakes fail at once)."""
    model_id = store.active_model_id()
    strategy = get_strategy(spec.strategy)
    if strategy.needs_model and model_id is None:
        strategy = get_strategy(COLD_START_STRATEGY)
    pool = np.array(store.query_pool(tag=spec.pool_tag, include_pending=spec.include_pending),
                    np.int64)
    n = batch_size_for(store, spec)
    if n > len(pool):
        raise ValueError(f"asked for {n} items but the pool has only {len(pool)} "
                         "(unlabeled, unsplit" + (f", tagged {brief(spec.pool_tag)}" if spec.pool_tag
                                                   else "")
                         + ("" if spec.include_pending else ", not waiting in a selection")
                         + ")")
    round_ = store.next_round()
    tag = store.check_new_tag(spec.tag or f"al-iteration-{round_}")  # as it is stored
    return QueryPlan(strategy.name, model_id, pool, n, tag, round_)


def run_query(store: Store, spec: QuerySpec, *, progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None,
              on_commit: Callable[[], None] | None = None) -> Selection:
    """Pick a batch by ``spec`` and store it as a selection (see the module doc).
    ``should_stop`` is checked at every progress step and once more inside the
    transaction that stores the selection, where ``on_commit`` (a job's
    :meth:`~al_core.jobs.runner.Reporter.commit`) runs too; a cancel stores nothing."""
    options = check_options(spec.options)
    plan = plan_query(store, spec)
    strategy, model_id, pool, n, tag = (get_strategy(plan.strategy), plan.model_id, plan.pool,
                                        plan.batch, plan.tag)
    if strategy.name != spec.strategy:
        log.info("no active model: %s falls back to %s", spec.strategy, strategy.name)
    n_control = int(round(n * spec.random_control))
    control = np.sort(np.random.default_rng(spec.seed).choice(pool, n_control, replace=False))
    ctx = QueryContext(store, model_id, np.setdiff1d(pool, control), options,
                       progress=progress, should_stop=should_stop)
    ctx.report(0.0, f"{strategy.name}: picking {n - n_control} of {len(ctx.pool)}")
    picked = strategy.select(ctx, n - n_control, np.random.default_rng([spec.seed, 1]))
    _check_picks(picked, ctx.pool, n - n_control)
    items = [SelectionItem(i, rank, s, False) for rank, (i, s) in enumerate(picked, 1)]
    items += [SelectionItem(int(i), len(picked) + r, None, True) for r, i in enumerate(control, 1)]
    ctx.report(0.9, "pre-labels for the picked items")
    ctx.ensure_predicted([i.item_id for i in items])  # the batch carries pre-labels
    config = {"requested": asdict(spec), "options": options, "batch": n,
              "control": n_control, "pool_size": len(pool), **ctx.notes}
    if strategy.name != spec.strategy:
        config["fallback"] = f"no active model: {spec.strategy} needs one"
    with store.write():
        ctx.report(0.95, "storing the selection")  # raises Cancelled on a cancel
        if on_commit:
            on_commit()
        store.add_selection(tag=tag, round=plan.round, strategy=strategy.name, config=config,
                            seed=spec.seed, model_id=model_id, items=items)
    return store.selection(tag)


def _check_picks(picked: Ranked, pool: np.ndarray, k: int) -> None:
    """A strategy bug must not reach the store: k distinct items, all from the pool."""
    ids = [i for i, _ in picked]
    if len(ids) != k or len(set(ids)) != k or not np.isin(ids, pool).all():
        raise RuntimeError(f"strategy returned {len(ids)} picks ({len(set(ids))} distinct), "
                           f"expected {k} distinct pool items")


@job_kind("query")
def run_query_job(store: Store, job_id: int, params: dict, reporter) -> None:
    selection = run_query(store, QuerySpec(**params), progress=reporter.progress,
                          should_stop=reporter.cancel_requested, on_commit=reporter.commit)
    reporter.progress(1.0, f"selection {selection.tag}: {len(selection.items)} items")
    reporter.log(f"selection {selection.tag} (id {selection.id})")

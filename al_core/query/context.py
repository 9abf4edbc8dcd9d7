"""The :class:`~al_core.query.strategies.Context` of one query round: the candidate pool,
the labeled set, and what strategies ask about them, computed on first use for the items
asked about only: the active model's detections, uncertainty, embeddings and flip
consistency; the pretrained backbone's image embeddings (:mod:`al_core.query.embeddings`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from al_core.jobs.reporter import PartReporter
from al_core.jobs.runner import Cancelled
from al_core.query import embeddings as image_embeddings
from al_core.query.cost import class_quality
from al_core.query.measures import (ImageScores, flip_boxes, flip_inconsistency, image_uncertainty,
                                    rare_class_weights)
from al_core.query.strategies import ModelDetections
from al_core.store import Store

Progress = Callable[[float, str], None]
# class_quality matches at most this many labeled images against their labels
QUALITY_SAMPLE = 500

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

    def embeddings(self, ids: np.ndarray, *, prefer: str = "model") -> np.ndarray:
        """(len(ids), d) float32 image vectors, from one source for the whole query: the
        active model's embeddings, or the pretrained backbone's (:meth:`image_embeddings`).
        Option ``embedding``: ``image`` or ``model`` (the model's when it has a
        checkpoint, else the backbone's); ``auto`` takes the strategy's ``prefer``."""
        choice = self.options["embedding"]
        source = prefer if choice == "auto" else choice
        if source == "image" or not self._has_checkpoint:
            return self.image_embeddings(ids)
        ids = [int(i) for i in ids]
        self.ensure_predicted(ids)
        vectors = self.store.embedding_vectors(self.model_id, ids)
        self.note("features", f"model #{self.model_id} embeddings")
        if not ids:
            return np.zeros((0, 1), np.float32)
        return np.stack([np.frombuffer(vectors[i], np.float32) for i in ids])

    def image_embeddings(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), d) float32: the pretrained backbone's embeddings (option
        ``image_backbone``), or handcrafted features without its weights; each image's
        computed once per backbone and stored."""
        vectors, extractor = image_embeddings.image_vectors(
            self.store, ids, backbone=self.options["image_backbone"], report=self.report)
        self.note("features", extractor)
        return vectors

    def consistency(self, ids: np.ndarray) -> np.ndarray:
        if not self._has_checkpoint:
            raise ValueError("consistency needs a model with a checkpoint to run; the active "
                             f"model #{self.model_id} has none (imported predictions)")
        return flip_consistency_scores(self.store, self.model_id, [int(i) for i in ids],
                                       report=self.report)


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

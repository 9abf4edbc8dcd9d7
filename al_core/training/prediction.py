"""Prediction: a trained model version run on items, its boxes, class probabilities and
image embeddings stored (they feed the strategies, the review screen's pre-labels and
the evaluation), and the predict job."""
from __future__ import annotations

import numpy as np
import torch

from al_core.jobs.reporter import Reporter
from al_core.jobs.runner import Cancelled, job_kind
from al_core.store import Store
from al_core.training.checkpoints import load_checkpoint
from al_core.training.data import load_items
from al_core.training.loop import resolve_device
from al_core.types import Box

PREDICT_SCORE_THRESHOLD = 0.05  # low, so uncertain boxes are kept for the strategies


def predict_items(store: Store, model_id: int, item_ids: list[int], *,
                  score_threshold: float = PREDICT_SCORE_THRESHOLD, batch_size: int = 64,
                  reporter: Reporter | None = None) -> int:
    """Run the model on the items and replace its stored predictions and embeddings for
    them (one transaction per batch). Returns the number of boxes stored."""
    model, config, class_ids = load_checkpoint(store, model_id)
    device = resolve_device(config.device)
    model.to(device)
    stored = 0
    for start in range(0, len(item_ids), batch_size):
        if reporter and reporter.cancel_requested():
            raise Cancelled()
        chunk = item_ids[start:start + batch_size]
        data = load_items(store, chunk, image_size=config.image_size, class_index=None)
        with torch.inference_mode():
            preds = model.predict(data.images.to(device).float() / 255,
                                  score_threshold=score_threshold)
        rows, vectors = [], []
        sizes = {i.id: (i.width, i.height) for i in store.items(ids=data.item_ids)}
        for item_id, scale, p in zip(data.item_ids, data.scales, preds):
            boxes = np.clip(p.boxes / scale, 0, list(sizes[item_id]) * 2)
            for box, label, score, probs in zip(boxes, p.labels, p.scores, p.probs):
                if box[2] > box[0] and box[3] > box[1]:
                    rows.append((item_id, class_ids[int(label)], Box(*map(float, box)),
                                 float(score), probs.round(5).tolist()))
            vectors.append((item_id, p.embedding.astype(np.float32).tobytes()))
        store.replace_predictions(model_id, data.item_ids, rows, vectors)
        stored += len(rows)
        if reporter:
            reporter.progress((start + len(chunk)) / len(item_ids),
                              f"predicted {start + len(chunk)}/{len(item_ids)} images")
    return stored


def predict_validation(store: Store, model_id: int, *,
                       reporter: Reporter | None = None) -> int:
    """Run a trained model on the labeled validation images it has not predicted yet, so
    its pre-label threshold (:mod:`al_core.review.prelabel_threshold`) and box-level
    review's thresholds can be chosen from them without a separate job. Returns the
    number of images predicted (0 for a model without a checkpoint)."""
    if not store.model(model_id).get("checkpoint_path"):
        return 0
    val_ids, _ = store.split_identity("val")
    missing = store.items_without_embedding(model_id, val_ids)  # as review's unpredicted_by
    if missing:
        predict_items(store, model_id, missing, reporter=reporter)
    return len(missing)


@job_kind("predict")
def run_predict_job(store: Store, job_id: int, params: dict, reporter: Reporter) -> None:
    """Predictions are stored a chunk at a time (a cancel keeps the chunks done: they are
    a cache, and no decision rests on them); the job ends cancelled unless it finished
    every chunk before the cancel came."""
    predict_items(store, params["model_id"], params["item_ids"], reporter=reporter)
    with store.write():
        reporter.commit()

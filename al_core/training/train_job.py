"""The train job: a candidate model version trained on the train split's current labels
(validating on val), optionally warm-started from its parent's weights and with the
parent's pseudo-labeled pool images added, its checkpoint written atomically
(:mod:`al_core.training.checkpoints`) and the model marked trained."""
from __future__ import annotations

import json
from collections.abc import Callable

import torch

from al_core.jobs.reporter import PartReporter, Reporter
from al_core.jobs.runner import Cancelled, job_kind
from al_core.store import Store
from al_core.training.checkpoints import atomic_save, build_detector, load_checkpoint
from al_core.training.config import TrainConfig, merge_config
from al_core.training.data import load_items, load_split
from al_core.training.data_fit import describe_fit, learned_nothing
from al_core.training.loop import SplitData, describe_stop, train_loop, use_allowed_cpus
from al_core.training.memory_fit import check_fits
from al_core.training.prediction import predict_items


def train_model(store: Store, model_id: int, *,
                progress: Callable[[float, str], None] | None = None,
                log_line: Callable[[str], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                on_commit: Callable[[], None] | None = None,
                first_active_by: str | None = None) -> dict:
    """Train a candidate on the train split's current labels (validating on val), write
    its checkpoint atomically and mark it trained. Returns its metrics. Raises
    Cancelled when ``should_stop`` asked to stop, checked after every epoch and once more
    inside the transaction that marks the model trained, where ``on_commit`` (a job's
    :meth:`~al_core.jobs.runner.Reporter.commit`) runs too: a cancel then leaves the model
    untouched and removes its checkpoint file. With ``first_active_by`` (a person's name)
    and no model active, the same transaction makes the model active at once, as the
    project's first (:meth:`~al_core.store.Store.activate_first_model`: there is nothing
    to compare it with). Team mode: a lead's work (``train``; in a job, the requester as
    they are when it runs)."""
    store.authorize("train")
    row = store.model(model_id)
    config = merge_config(TrainConfig(), row["config"])
    class_ids = [c.id for c in store.classes()]
    index = {c: k for k, c in enumerate(class_ids)}
    if progress:
        progress(0.0, "loading images")
    n_train = store.count_items(split="train", status="labeled", trainable=True)
    # before loading them; pseudo-labels (only with a parent to make them) add at most
    # as many images as train holds
    pseudo = bool(config.pseudo_label_score and row["parent_id"] is not None)
    check_fits(config, n_train * (2 if pseudo else 1)
               + store.count_items(split="val", status="labeled", trainable=True))
    train = load_split(store, "train", image_size=config.image_size, class_index=index)
    val = load_split(store, "val", image_size=config.image_size, class_index=index)
    labeled_train = len(train)
    if config.pseudo_label_score:
        train = _with_pseudo_labels(store, row["parent_id"], config, train, index, log_line,
                                    progress, should_stop)
    fitted = row["metrics"].get("data_fit")
    if log_line:
        for line in describe_fit(fitted):
            log_line(line)
        log_line(f"train {len(train)} images ({len(train) - labeled_train} pseudo-labeled), "
                 f"val {len(val)} images, config {row['config']}")
        if store.approved_only() and (waiting := store.labels_waiting()):
            log_line(f"{waiting} labeled images wait for review and are not trained on "
                     "(only approved labels train: the project's workflow setting)")
    model = build_detector(config, len(class_ids), seed=config.seed)
    if log_line and getattr(model, "weights_hint", None):  # pretrained weights missing
        log_line(model.weights_hint)
    if config.warm_start:
        _load_parent_weights(store, row, model, class_ids, log_line)

    def on_epoch(rec: dict) -> None:
        fraction = rec["epoch"] / rec["epochs"]
        if config.time_budget_s:
            fraction = max(fraction, rec["elapsed_s"] / config.time_budget_s)
        if progress:
            progress(min(fraction, 0.99), (
                f"epoch {rec['epoch']}/{rec['epochs']} loss {rec['loss']:.3f} "
                f"val mAP50 {rec['val_map50']:.3f} ETA {rec['eta_s']:.0f}s"))
        if log_line:
            log_line(json.dumps(rec))

    result = train_loop(model, train, val, config, progress=on_epoch, should_stop=should_stop)
    if result.stopped:
        raise Cancelled()
    if should_stop and should_stop():
        raise Cancelled()
    path = store.models_dir / f"model-{model_id}.pt"
    digest = atomic_save({"arch": config.arch, "config": config.to_dict(),
                           "class_ids": class_ids, "state_dict": result.state_dict,
                           "best_epoch": result.best_epoch}, path)
    metrics = {"best_epoch": result.best_epoch, "val_map50": result.best_val_map,
               "epochs_run": result.epochs_run, "stop_reason": result.stop_reason,
               "train_images": labeled_train,
               "pseudo_labeled_images": len(train) - labeled_train,
               "val_images": len(val), "labeled_images": labeled_train + len(val),
               "rounds": _label_rounds(store, train.item_ids[:labeled_train] + val.item_ids),
               # team mode: labeled images left out because they wait for review
               "waiting_for_review": store.labels_waiting() if store.approved_only() else 0,
               "history": result.history}
    if fitted:
        metrics["data_fit"] = fitted
    if labeled_train and len(val) and not result.best_val_map:
        metrics["warning"] = learned_nothing(fitted)
        if log_line:
            log_line(f"warning: {metrics['warning']}")
    try:
        with store.write():
            if should_stop and should_stop():
                raise Cancelled()
            if on_commit:
                on_commit()
            store.update_model(model_id, status="trained",
                               checkpoint_path=str(path.relative_to(store.root)),
                               checkpoint_sha256=digest, metrics=metrics)
            store.audit("model.train", object_type="model", object_id=model_id,
                        summary=f"trained model #{model_id}: val mAP50 "
                                f"{result.best_val_map or 0:.3f} at epoch "
                                f"{result.best_epoch} of {result.epochs_run}",
                        after={"train_images": labeled_train, "val_images": len(val)})
            if first_active_by is not None:
                store.activate_first_model(model_id, decided_by=first_active_by)
    except Cancelled:
        path.unlink(missing_ok=True)  # no model row will ever point at it
        raise
    if progress:
        progress(1.0, describe_stop(result, config))
    return metrics


def _with_pseudo_labels(store: Store, parent_id: int | None, config: TrainConfig,
                        train: SplitData, index: dict[int, int],
                        log_line: Callable[[str], None] | None,
                        progress: Callable[[float, str], None] | None,
                        should_stop: Callable[[], bool] | None) -> SplitData:
    """``train`` with the parent model's pseudo-labeled pool images appended
    (:mod:`al_core.training.pseudo_labels`); unchanged, saying why, without a usable parent."""
    from al_core.training.pseudo_labels import pseudo_label_set

    # the checks of a warm start: a checkpoint that loads, of the same classes (a class
    # added since would be taught as background on every pseudo-labeled image)
    _, reason = _parent_weights(store, parent_id, list(index))
    if reason:
        if log_line:
            log_line(f"pseudo-labels: none, {reason}")
        return train
    pool = store.query_pool()
    missing = store.items_without_embedding(parent_id, pool)
    if missing:
        predict_items(store, parent_id, missing, reporter=PartReporter(
            progress, should_stop, 0.0, 0.0,
            f"pseudo-labels: model #{parent_id} predicts {len(missing)} pool images"))
    found = pseudo_label_set(store, parent_id, score=config.pseudo_label_score,
                             cap=len(train), seed=config.seed)
    if not found.item_ids:
        return train
    data = load_items(store, found.item_ids, image_size=config.image_size, class_index=None)
    targets, position = [], {item_id: k for k, item_id in enumerate(found.item_ids)}
    for item_id, scale in zip(data.item_ids, data.scales):
        k = position[item_id]  # boxes: image pixels -> letterboxed input pixels
        targets.append({"boxes": torch.from_numpy(found.boxes[k].reshape(-1, 4) * scale),
                        "labels": torch.tensor([index[c] for c in found.class_ids[k]],
                                               dtype=torch.int64)})
    return SplitData(torch.cat([train.images, data.images]), train.targets + targets,
                     train.item_ids + data.item_ids, train.scales + data.scales)


def _label_rounds(store: Store, item_ids: list[int]) -> list[int]:
    """The rounds whose labels a model is trained on (items labeled outside a round,
    e.g. imported, count as round 0)."""
    return sorted({i.labeled_round or 0 for i in store.items(ids=item_ids)})


def _parent_weights(store: Store, parent: int | None, class_ids: list[int]
                    ) -> tuple[dict | None, str | None]:
    """(the parent's state dict, None), or (None, why it cannot be used)."""
    if parent is None:
        return None, "it has no parent model"
    if not store.model(parent)["checkpoint_path"]:
        return None, f"its parent #{parent} has no checkpoint"
    try:
        loaded, _, parent_classes = load_checkpoint(store, parent)
    except (ValueError, OSError) as exc:  # missing, damaged, or an older architecture
        return None, f"its parent's checkpoint cannot be used: {exc}"
    if parent_classes != class_ids:
        return None, f"the classes changed since its parent #{parent}"
    return loaded.state_dict(), None


def _load_parent_weights(store: Store, row: dict, model, class_ids: list[int],
                         log_line: Callable[[str], None] | None) -> None:
    """Fine-tune instead of training from scratch: the parent's weights, when it has a
    checkpoint of the same architecture, width and classes; otherwise say why not."""
    state, reason = _parent_weights(store, row["parent_id"], class_ids)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError:
            reason = f"its parent #{row['parent_id']} has another architecture or width"
    if log_line:
        log_line(f"warm start: {reason}; training from scratch" if reason
                 else f"warm start from model #{row['parent_id']}")


@job_kind("train")
def run_train_job(store: Store, job_id: int, params: dict, reporter: Reporter) -> None:
    model_id = params["model_id"]
    store.update_model(model_id, status="training", job_id=job_id)
    use_allowed_cpus()
    train_model(store, model_id, progress=reporter.progress, log_line=reporter.log,
                should_stop=reporter.cancel_requested, on_commit=reporter.commit,
                first_active_by=params.get("decided_by") or store.own_name(None) or "cli")
    from al_core.training.prediction import predict_validation

    try:  # after the model is saved: its validation predictions are a cache, for the
        n = predict_validation(store, model_id)  # pre-label threshold; a failure here
    except Exception as exc:  # noqa: BLE001 - loses nothing: box-level review predicts
        reporter.log(f"validation images not predicted ({exc}): the pre-label threshold "
                     "stays the project default until they are")
    else:
        if n:
            reporter.log(f"predicted {n} validation images (the pre-label threshold)")

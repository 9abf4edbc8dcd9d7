"""Training: the config (a base config plus a JSON override), the data of a split, and
the loop (validate on val each epoch, keep the best epoch).

The loop knows nothing of jobs or the store: it takes tensors and two callbacks,
``progress(dict)`` and ``should_stop() -> bool``.
"""
from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from al_core.evaluation.metrics import Detections, GroundTruth, evaluate
from al_core.training.config import TrainConfig


def use_allowed_cpus() -> int:
    """Give torch one thread per CPU this process may run on (its affinity: ``taskset``,
    a container's cpuset), not per CPU of the machine: two jobs pinned to one core each
    would otherwise each run two threads on it, and torch's threads wait on each other
    (two simulations side by side ran ~10x slower). Returns the thread count."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = os.cpu_count() or 1
    torch.set_num_threads(max(1, allowed))
    return max(1, allowed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available")
    return torch.device(name)


@dataclass
class SplitData:
    """Letterboxed images (N, 3, S, S) uint8 and their targets in input pixels."""

    images: torch.Tensor
    targets: list[dict[str, torch.Tensor]]
    item_ids: list[int] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.targets)


def _augment(images: torch.Tensor, targets: list[dict], augment: tuple[str, ...],
             rng: np.random.Generator) -> tuple[torch.Tensor, list[dict]]:
    """images (B, 3, S, S) float in [0, 1]."""
    b, _, s, _ = images.shape
    out_targets = []
    if "color" in augment:
        perm = torch.stack([torch.from_numpy(rng.permutation(3)) for _ in range(b)])  # (B, 3)
        images = torch.gather(images, 1, perm[:, :, None, None].expand(-1, -1, s, s))
        contrast = torch.from_numpy(rng.uniform(0.6, 1.4, (b, 1, 1, 1))).float()
        bias = torch.from_numpy(rng.uniform(-0.2, 0.2, (b, 1, 1, 1))).float()
        images = ((images - 0.5) * contrast + 0.5 + bias).clamp(0, 1)
    for i, t in enumerate(targets):
        boxes = t["boxes"].clone()
        if "hflip" in augment and rng.random() < 0.5:
            images[i] = images[i].flip(-1)
            boxes[:, [0, 2]] = s - boxes[:, [2, 0]]
        if "scale" in augment:
            f = float(rng.uniform(0.75, 1.25))
            size = max(8, int(round(s * f)))
            scaled = F.interpolate(images[i:i + 1], size=(size, size), mode="bilinear",
                                   align_corners=False)[0]
            canvas = torch.full_like(images[i], float(images[i].mean()))
            ox, oy = int(rng.integers(min(0, s - size), max(0, s - size) + 1)), \
                int(rng.integers(min(0, s - size), max(0, s - size) + 1))
            sx0, sy0 = max(0, -ox), max(0, -oy)
            dx0, dy0 = max(0, ox), max(0, oy)
            n = min(size - sx0, s - dx0), min(size - sy0, s - dy0)
            canvas[:, dy0:dy0 + n[1], dx0:dx0 + n[0]] = scaled[:, sy0:sy0 + n[1], sx0:sx0 + n[0]]
            images[i] = canvas
            moved = boxes * (size / s) + torch.tensor([ox, oy, ox, oy], dtype=boxes.dtype)
            clipped = moved.clamp(0, s)
            area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
            kept = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
            visible = kept >= 0.6 * area
            out_targets.append({"boxes": clipped[visible], "labels": t["labels"][visible]})
        else:
            out_targets.append({"boxes": boxes, "labels": t["labels"]})
    return images, out_targets


def repeat_factors(targets: list[dict], threshold: float) -> np.ndarray:
    """LVIS's repeat-factor sampling for long-tailed classes: an image is repeated
    ``max(1, sqrt(threshold / f))`` times per epoch, f being the fraction of training
    images that contain its rarest class. ``threshold`` 0 turns it off. Returns (N,)."""
    factors = np.ones(len(targets))
    if threshold <= 0 or not targets:
        return factors
    classes = [set(t["labels"].tolist()) for t in targets]
    counts: dict[int, int] = {}
    for present in classes:
        for k in present:
            counts[k] = counts.get(k, 0) + 1
    for i, present in enumerate(classes):
        for k in present:
            factors[i] = max(factors[i], math.sqrt(threshold / (counts[k] / len(targets))))
    return factors


def _epoch_order(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch: ``len(factors)`` draws, image i with probability proportional to its
    repeat factor (a plain shuffle when all are 1). The epoch's length does not depend on
    which images are labeled, so every labeled set of a size gets the same number of
    steps (the simulation compares strategies at an equal training budget)."""
    n = len(factors)
    if np.all(factors == 1):
        return rng.permutation(n)
    return rng.choice(n, n, p=factors / factors.sum())


class LRSchedule:
    """The learning-rate factor of each step: a linear warm-up over ``warmup`` steps, then
    a cosine from 1 to 0 over ``total_steps`` (or over the time budget, when that comes
    first); once :meth:`final_anneal` is called, a cosine from the factor it had then to 0
    over the given steps, whichever of the two is lower."""

    def __init__(self, total_steps: int, budget_s: float | None, warmup: int = 50) -> None:
        self.total, self.budget, self.warmup = total_steps, budget_s, warmup
        self.anneal: tuple[int, int, float] | None = None  # (first step, steps, factor then)

    def factor(self, step: int, elapsed_s: float) -> float:
        progress = step / max(self.total, 1)
        if self.budget:
            progress = max(progress, elapsed_s / self.budget)
        warm = min(1.0, (step + 1) / self.warmup)
        factor = warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if self.anneal:
            first, steps, start = self.anneal
            done = min(1.0, (step - first + 1) / max(steps, 1))  # 0 at its last step
            factor = min(factor, start * 0.5 * (1 + math.cos(math.pi * done)))
        return factor

    def final_anneal(self, step: int, steps: int, elapsed_s: float) -> None:
        self.anneal = (step, steps, self.factor(step, elapsed_s))


def val_map(model, data: SplitData, *, device, batch_size: int = 64) -> float:
    """mAP@0.5 of the model on a letterboxed split (IoU does not change with the scale)."""
    if len(data) == 0:
        return float("nan")
    model.eval()
    preds = []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            batch = data.images[start:start + batch_size].to(device).float() / 255
            preds.extend(model.predict(batch, score_threshold=0.01))
    model.train()
    gt = ground_truth_arrays(data.targets)
    dt_img = np.concatenate([np.full(len(p.scores), i) for i, p in enumerate(preds)])
    boxes = np.concatenate([p.boxes for p in preds]).reshape(-1, 4).astype(np.float64)
    dets = Detections(dt_img.astype(np.int64), np.concatenate([p.labels for p in preds]),
                      np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]],
                      np.concatenate([p.scores for p in preds]).astype(np.float64))
    return evaluate(gt, dets, iou_threshold=0.5).map


def ground_truth_arrays(targets: list[dict]) -> GroundTruth:
    image = np.concatenate([np.full(len(t["labels"]), i) for i, t in enumerate(targets)])
    boxes = np.concatenate([t["boxes"].numpy() for t in targets]).reshape(-1, 4).astype(np.float64)
    xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
    return GroundTruth(image.astype(np.int64),
                       np.concatenate([t["labels"].numpy() for t in targets]).astype(np.int64),
                       xywh, np.zeros(len(xywh), bool), xywh[:, 2] * xywh[:, 3])


STOP_REASONS = ("epochs", "plateau", "time budget", "cancelled")


@dataclass
class TrainResult:
    state_dict: dict
    best_epoch: int
    best_val_map: float
    epochs_run: int
    history: list[dict]
    stop_reason: str  # one of STOP_REASONS

    @property
    def stopped(self) -> bool:
        """Cancelled through ``should_stop`` (the weights are then not to be kept)."""
        return self.stop_reason == "cancelled"


def final_anneal_epochs(patience: int) -> int:
    """How long the learning rate anneals to 0 after a val plateau of ``patience``
    epochs, before training stops: half the patience, at least one epoch."""
    return max(1, patience // 2)


def train_loop(model, train: SplitData, val: SplitData, config: TrainConfig, *,
               progress: Callable[[dict], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_validated: Callable[[torch.nn.Module], None] | None = None) -> TrainResult:
    """Train ``model`` (a Detector) and return the weights of its best validation epoch
    (the last epoch when there is no val split), and why training stopped: after
    ``config.epochs``, on a val plateau (``config.patience`` epochs without a better val
    mAP50, then a short final anneal of the learning rate; a model whose val mAP50 is
    still 0 has not started, so it cannot plateau), at the time budget, or cancelled by
    ``should_stop``."""
    if len(train) == 0:
        raise ValueError("the train split has no labeled items; label and split some first")
    device = resolve_device(config.device)
    model.to(device).train()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    ema = ModelEMA(model, config.ema_decay) if config.ema_decay > 0 else None
    evaluated = ema.model if ema else model
    factors = repeat_factors(train.targets, config.repeat_threshold)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    schedule = LRSchedule(steps_per_epoch * config.epochs, config.time_budget_s)
    clock = _Clock(time.monotonic(), 0)
    best = (-1.0, 0, copy.deepcopy(evaluated.state_dict()))
    history, reason, last_epoch = [], "epochs", config.epochs
    for epoch in range(1, config.epochs + 1):
        losses, cancelled = _train_epoch(model, ema, optimizer, train, factors, config,
                                         schedule, clock, rng, should_stop)
        elapsed = time.monotonic() - clock.start
        score = val_map(evaluated, val, device=device) if len(val) else float("nan")
        if len(val) == 0 or score > best[0]:
            best = (score, epoch, copy.deepcopy(evaluated.state_dict()))
        if on_validated:  # the model just validated (the EMA, when on); for benchmarks
            on_validated(evaluated)
        if config.patience and best[0] > 0 and schedule.anneal is None \
                and epoch - best[1] >= config.patience:  # a plateau: anneal, then stop
            last_epoch = min(config.epochs, epoch + final_anneal_epochs(config.patience))
            schedule.final_anneal(clock.step, steps_per_epoch * (last_epoch - epoch), elapsed)
        record = {"epoch": epoch, "epochs": config.epochs, "step": clock.step,
                  "loss": float(np.mean(losses)), "val_map50": score, "elapsed_s": elapsed,
                  "eta_s": _eta(elapsed, epoch, last_epoch, config.time_budget_s)}
        history.append(record)
        if progress:
            progress(record)
        if cancelled:
            reason = "cancelled"
        elif config.time_budget_s and elapsed >= config.time_budget_s:
            reason = "time budget"
        elif schedule.anneal and epoch == last_epoch < config.epochs:
            reason = "plateau"
        if reason != "epochs":
            break
    return TrainResult(best[2], best[1], best[0], len(history), history, reason)


@dataclass
class _Clock:
    start: float  # time.monotonic() when training began
    step: int  # optimizer steps taken


def _train_epoch(model, ema: ModelEMA | None, optimizer, train: SplitData,
                 factors: np.ndarray, config: TrainConfig, schedule: LRSchedule,
                 clock: _Clock, rng: np.random.Generator,
                 should_stop: Callable[[], bool] | None) -> tuple[list[float], bool]:
    """One epoch's steps; returns (their losses, whether ``should_stop`` asked to stop).
    Also ends inside the epoch at the time budget (a slow model may not finish one)."""
    device = next(model.parameters()).device
    params = [p for group in optimizer.param_groups for p in group["params"]]
    order = _epoch_order(factors, rng)
    losses, steps = [], math.ceil(len(order) / config.batch_size)
    for b in range(steps):
        idx = order[b * config.batch_size:(b + 1) * config.batch_size]
        images = train.images[idx].float() / 255
        images, targets = _augment(images, [train.targets[i] for i in idx], config.augment, rng)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * schedule.factor(clock.step, time.monotonic() - clock.start)
        loss_parts = model.losses(images.to(device), [
            {k: v.to(device) for k, v in t.items()} for t in targets])
        loss = sum(loss_parts.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss became {float(loss)} at epoch "
                                     f"{clock.step // steps + 1}; lower lr (now {config.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        if ema:
            ema.update(model)
        losses.append(float(loss.detach()))
        clock.step += 1
        if should_stop and should_stop():
            return losses, True
        if config.time_budget_s and time.monotonic() - clock.start >= config.time_budget_s:
            break
    return losses, False


def describe_stop(result: TrainResult, config: TrainConfig) -> str:
    """One line for people: why training stopped, and the epoch it kept."""
    at = f"at epoch {result.epochs_run}/{config.epochs}"
    if result.stop_reason == "plateau":
        why = (f"stopped on a val plateau (no better val mAP50 for {config.patience} epochs, "
               f"then a {final_anneal_epochs(config.patience)}-epoch final anneal) {at}")
    elif result.stop_reason == "time budget":
        why = f"stopped by the time budget ({config.time_budget_s:g} s) {at}"
    elif result.stop_reason == "cancelled":
        why = f"cancelled {at}"
    else:
        why = f"ran all {config.epochs} epochs"
    kept = (f"best epoch {result.best_epoch}, val mAP50 {result.best_val_map:.3f}"
            if math.isfinite(result.best_val_map) else
            f"kept epoch {result.best_epoch} (no val split)")
    return f"{why}; {kept}"


class ModelEMA:
    """An exponential moving average of a model's weights and float buffers (as YOLOv5
    and timm keep one): it is what gets validated and kept, so the chosen epoch is less
    at the mercy of the last few noisy steps and of a small val split. The decay ramps
    up over the first ~``tau`` steps so the average follows the fast early learning."""

    def __init__(self, model: torch.nn.Module, decay: float, tau: float = 50.0) -> None:
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                value.copy_(current[name])


def _eta(elapsed: float, epoch: int, last_epoch: int, budget_s: float | None) -> float:
    remaining = elapsed / epoch * (last_epoch - epoch)
    if budget_s:
        remaining = min(remaining, max(0.0, budget_s - elapsed))
    return remaining

"""The Compare Models node (after Dataloop's): per-class AP of a new and an old model on
the same frozen test set decides ``update_model`` or ``discard``.

The config is Dataloop's JSON, accepted as-is::

    {"checks": {"precision_recall": {"iou_threshold": 0.5, "min_delta": 0.0}},
     "wins": "any"}          # or "all", or a fraction (a number or a numeric string)

A class is won when the new model's AP exceeds the old one's by more than ``min_delta``.
Beyond Dataloop, optional: ``"min_map_gain"`` (discard unless the new model's mAP is
higher than the old one's by more than this: a mean-AP non-regression rule),
``"max_class_drop"`` (discard if any class loses more AP than this) and
``"bootstrap": {"samples": 1000, "seed": 0, "min_confidence": 0.9}`` (a paired bootstrap
over test images, after Efron & Tibshirani; its 95% interval of the mAP difference is
reported, and with ``min_confidence`` it discards unless the new model's mAP is higher
in at least that share of the resamples).

Dataloop's own example (``"wins": "any"``) promotes a model that wins one class and loses
the others, so the config the app and CLI offer is :data:`DEFAULT_COMPARE_CONFIG`: one
class won, mAP not lower, no class down by more than 5 AP points.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from al_core.evaluation.metrics import Detections, EvalResult, GroundTruth, evaluate
from al_core.types import Cancelled, brief

TOP_KEYS = {"checks", "wins", "min_map_gain", "max_class_drop", "bootstrap"}
PR_KEYS = {"iou_threshold", "min_delta"}
BOOTSTRAP_KEYS = {"samples", "seed", "min_confidence"}
MAX_BOOTSTRAP_SAMPLES = 100_000  # each resample evaluates both models once

# What the app and the CLI offer: never promotes a model whose test mAP is not higher or
# that loses a class by more than 5 AP points; the bootstrap interval is reported.
DEFAULT_COMPARE_CONFIG = {
    "checks": {"precision_recall": {"iou_threshold": 0.5, "min_delta": 0.0}},
    "wins": "any", "min_map_gain": 0.0, "max_class_drop": 0.05,
    "bootstrap": {"samples": 500, "seed": 0}}


@dataclass(frozen=True)
class CompareConfig:
    iou_threshold: float = 0.5
    min_delta: float = 0.0
    wins: str | float = "any"  # "any" | "all" | a fraction in [0, 1]
    max_class_drop: float | None = None
    min_map_gain: float | None = None
    bootstrap_samples: int = 0  # 0: no bootstrap
    bootstrap_seed: int = 0
    min_confidence: float | None = None


@dataclass(frozen=True)
class ClassComparison:
    class_id: int
    new_ap: float
    old_ap: float | None  # None: there is no old model
    won: bool


@dataclass(frozen=True)
class Decision:
    decision: str  # "update_model" | "discard"
    reason: str
    per_class: list[ClassComparison]
    map_delta: float
    confidence: float | None = None  # bootstrap P(new mAP > old mAP)
    delta_interval: tuple[float, float] | None = None  # bootstrap 95% interval


def _number(value, key: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{key}: {brief(value)} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: {brief(value)} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{key}: {brief(value)} is outside [{low}, {high}]")
    return float(value)


def _only(data, allowed: set[str], where: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {brief(data)}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} "
                         f"(allowed: {', '.join(sorted(allowed))})")
    return data


def parse_compare_config(data) -> CompareConfig:
    """Validate a compare config; errors name the offending key and value."""
    data = _only(data, TOP_KEYS, "compare config")
    checks = _only(data.get("checks", {}), {"precision_recall"}, "checks")
    pr = _only(checks.get("precision_recall", {}), PR_KEYS, "checks.precision_recall")
    wins = data.get("wins", "any")
    if wins not in ("any", "all"):
        wins = _number(wins, "wins", low=0.0, high=1.0)
    boot = _only(data.get("bootstrap", {}), BOOTSTRAP_KEYS, "bootstrap")
    samples = boot.get("samples", 1000 if boot else 0)
    if isinstance(samples, bool) or not isinstance(samples, int) or not \
            0 <= samples <= MAX_BOOTSTRAP_SAMPLES:
        raise ValueError(f"bootstrap.samples: {brief(samples)} is not an integer in "
                         f"[0, {MAX_BOOTSTRAP_SAMPLES:,}]")
    seed = boot.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise ValueError(f"bootstrap.seed: {brief(seed)} is not an integer in "
                         "[0, 2^63)")
    return CompareConfig(
        iou_threshold=_number(pr.get("iou_threshold", 0.5),
                              "checks.precision_recall.iou_threshold", low=0.0, high=1.0),
        min_delta=_number(pr.get("min_delta", 0.0), "checks.precision_recall.min_delta",
                          low=0.0, high=1.0),
        wins=wins,
        max_class_drop=None if data.get("max_class_drop") is None else _number(
            data["max_class_drop"], "max_class_drop", low=0.0, high=1.0),
        min_map_gain=None if data.get("min_map_gain") is None else _number(
            data["min_map_gain"], "min_map_gain", low=0.0, high=1.0),
        bootstrap_samples=samples, bootstrap_seed=seed,
        min_confidence=None if boot.get("min_confidence") is None else _number(
            boot["min_confidence"], "bootstrap.min_confidence", low=0.0, high=1.0))


def _resample(gt: GroundTruth, dt: Detections, images: np.ndarray, pick: np.ndarray
              ) -> tuple[GroundTruth, Detections]:
    """The test set with images[pick] (with repeats), each copy a new image id."""
    def take(image_col: np.ndarray):
        pos = np.searchsorted(images, image_col)
        order = np.argsort(pos, kind="stable")  # rows grouped by image
        counts = np.bincount(pos, minlength=len(images))
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        n = counts[pick]  # (K,) rows per picked image
        offsets = np.repeat(starts[pick] - np.r_[0, np.cumsum(n)[:-1]], n)
        return order[offsets + np.arange(n.sum())], np.repeat(np.arange(len(pick)), n)
    g, gid = take(gt.image)
    d, did = take(dt.image)
    return (GroundTruth(gid, gt.label[g], gt.xywh[g], gt.crowd[g], gt.area[g]),
            Detections(did, dt.label[d], dt.xywh[d], dt.score[d]))


BOOTSTRAP_BATCH = 25  # resamples between two looks at ``should_stop``


def bootstrap_map_delta(gt: GroundTruth, new: Detections, old: Detections, *,
                        iou_threshold: float, samples: int, seed: int,
                        should_stop: Callable[[], bool] | None = None
                        ) -> tuple[float, tuple[float, float]]:
    """Paired bootstrap over test images: P(new mAP > old mAP) and a 95% interval of
    the mAP difference. The same resampled images are used for both models.
    ``should_stop`` is asked every ``BOOTSTRAP_BATCH`` resamples; when it answers True,
    :class:`~al_core.jobs.runner.Cancelled` is raised."""
    images = np.unique(gt.image)
    rng = np.random.default_rng(seed)
    deltas = np.empty(samples)
    for s in range(samples):
        if should_stop and s % BOOTSTRAP_BATCH == 0 and should_stop():
            raise Cancelled()
        pick = rng.integers(0, len(images), len(images))
        g, dn = _resample(gt, new, images, pick)
        _, do = _resample(gt, old, images, pick)
        deltas[s] = (evaluate(g, dn, iou_threshold=iou_threshold).map
                     - evaluate(g, do, iou_threshold=iou_threshold).map)
    lo, hi = np.quantile(deltas, [0.025, 0.975])
    return float(np.mean(deltas > 0)), (float(lo), float(hi))


def decide(new: EvalResult, old: EvalResult | None, config: CompareConfig, *,
           bootstrap: tuple[float, tuple[float, float]] | None = None,
           names: dict[int, str] | None = None) -> Decision:
    """The decision from two evaluations on the same test set (``old`` None: the new
    model is the first one and wins). ``bootstrap``: (confidence, interval); ``names``:
    class id -> name, for the reason sentence."""
    if old is None:
        per_class = [ClassComparison(c, r.ap, None, True) for c, r in new.per_class.items()]
        return Decision("update_model", "first model: there is no previous model to compare "
                        "against", per_class, new.map)
    if set(new.per_class) != set(old.per_class):
        raise ValueError("the two evaluations cover different classes; evaluate both on the "
                         "same test set first")
    per_class = [ClassComparison(c, new.per_class[c].ap, old.per_class[c].ap,
                                 new.per_class[c].ap - old.per_class[c].ap > config.min_delta)
                 for c in sorted(new.per_class)]
    won, total = sum(c.won for c in per_class), len(per_class)
    delta = new.map - old.map
    confidence, interval = bootstrap if bootstrap else (None, None)
    if config.wins == "any":
        ok, rule = won >= 1, "at least one class"
    elif config.wins == "all":
        ok, rule = total > 0 and won == total, "every class"
    else:
        ok, rule = total > 0 and won / total >= config.wins, f"at least {config.wins:.0%} of classes"
    reason = (f"won {won} of {total} classes (AP up by more than {config.min_delta:g}); "
              f"the rule needs {rule}")
    if ok and config.min_map_gain is not None:
        if delta > config.min_map_gain:
            reason += f"; mAP rose from {old.map:.3f} to {new.map:.3f}"
        else:
            ok = False
            reason += (f"; but mAP went from {old.map:.3f} to {new.map:.3f}, not up by more "
                       f"than min_map_gain {config.min_map_gain:g}")
    if ok and config.max_class_drop is not None:
        worst = min(per_class, key=lambda c: c.new_ap - c.old_ap)
        if worst.old_ap - worst.new_ap > config.max_class_drop:
            ok = False
            name = (names or {}).get(worst.class_id, worst.class_id)
            reason += (f"; but class {name} dropped {worst.old_ap - worst.new_ap:.3f} AP, "
                       f"more than max_class_drop {config.max_class_drop:g}")
        else:
            reason += f"; no class dropped more than {config.max_class_drop:g} AP"
    if ok and config.min_confidence is not None and confidence is not None \
            and confidence < config.min_confidence:
        ok = False
        reason += (f"; but the bootstrap gives only {confidence:.1%} confidence that mAP "
                   f"improved (min_confidence {config.min_confidence:.0%})")
    return Decision("update_model" if ok else "discard", reason, per_class, delta,
                    confidence, interval)


def describe_rule(config: CompareConfig) -> str:
    """One sentence a person reads before running the comparison: when it will promote."""
    wins = {"any": "wins at least one class", "all": "wins every class"}.get(
        config.wins, f"wins at least {config.wins:.0%} of the classes" if not
        isinstance(config.wins, str) else "")
    parts = [f"{wins} (AP up by more than {config.min_delta:g})"]
    if config.min_map_gain is not None:
        parts.append("its mAP is higher" + (f" by more than {config.min_map_gain:g}"
                                            if config.min_map_gain else ""))
    if config.max_class_drop is not None:
        parts.append(f"no class loses more than {config.max_class_drop:g} AP")
    if config.min_confidence is not None:
        parts.append(f"the bootstrap is at least {config.min_confidence:.0%} sure mAP rose")
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    warn = "" if config.min_map_gain is not None or config.max_class_drop is not None or \
        config.min_confidence is not None else (" Nothing stops a model that loses the other "
                                                 "classes: add min_map_gain or max_class_drop.")
    return (f"Promotes the new model only if it {text}, at IoU {config.iou_threshold:g}; "
            f"otherwise discards it.{warn}")

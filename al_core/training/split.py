"""The data-split node (after Dataloop's Model Data Split): assign labeled items to
train / val / test by a distribution, seeded, stratified by class where possible.

The test split is frozen once it exists: later splits only deal new items into train
and val, so every model is evaluated on the same test set. ``resplit=True`` is the one
explicit way to redraw it.

An image whose labels include auto-accepted boxes (box-level review,
``al_core.review.auto_accept``) never joins test, whatever the distribution: it is dealt
to train and val only, and the store refuses it too (``Store.set_splits``). So is a gold
image (team mode's workflow: gold images are shown to annotators, test images never). Pseudo-labels
never reach the labels at all (``al_core.training.pseudo_labels``).
"""
from __future__ import annotations

import ast
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from al_core.store import Store
from al_core.types import SPLITS

DEFAULT_DISTRIBUTION = {"train": 0.8, "val": 0.1, "test": 0.1}
EMPTY_STRATUM = -1


@dataclass(frozen=True)
class SplitReport:
    assigned: dict[str, int]  # newly assigned items per split
    totals: dict[str, int]  # items per split after the split
    resplit: bool


def parse_distribution(text: str) -> dict[str, float]:
    """``"80/10/10"`` (train/val/test), ``"equal"``, or ``"train=0.7,val=0.2,test=0.1"``.
    Weights are normalised to sum to 1."""
    text = text.strip().lower()
    if text == "equal":
        weights = {s: 1.0 for s in SPLITS}
    elif "=" in text:
        weights = {s: 0.0 for s in SPLITS}
        given: set[str] = set()
        for part in text.split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in SPLITS:
                raise ValueError(f"unknown split {name!r} in distribution {text!r}; "
                                 f"use {', '.join(SPLITS)}")
            if name in given:
                raise ValueError(f"split {name!r} is given twice in distribution {text!r}")
            given.add(name)
            weights[name] = _weight(value, text)
    else:
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError(f"distribution {text!r} must be train/val/test such as 80/10/10, "
                             "'equal', or train=..,val=..,test=..")
        weights = {s: _weight(p, text) for s, p in zip(SPLITS, parts)}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"distribution {text!r} has no positive weight")
    return {s: w / total for s, w in weights.items()}


def _weight(value: str, text: str) -> float:
    try:
        w = float(value)
    except ValueError:
        raise ValueError(f"weight {value.strip()!r} in distribution {text!r} is not a number")
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"weight {value.strip()!r} in distribution {text!r} must be a finite "
                         "number >= 0")
    return w


def plan_split(item_classes: dict[int, list[int]], distribution: dict[str, float], *,
               seed: int, class_frequency: dict[int, int] | None = None) -> dict[int, str]:
    """Assign each item id to a split.

    Items are grouped by their rarest class (``class_frequency`` decides rarity; images
    without boxes form their own group), each group shuffled with ``seed``, and the
    groups dealt in turn to the split furthest below its target share. Any run of
    consecutive items, hence every group, gets its share to within one item.
    """
    freq = class_frequency or Counter(c for cs in item_classes.values() for c in cs)
    strata: dict[int, list[int]] = {}
    for item_id in sorted(item_classes):
        classes = item_classes[item_id]
        key = min(classes, key=lambda c: (freq.get(c, 0), c)) if classes else EMPTY_STRATUM
        strata.setdefault(key, []).append(item_id)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    for key in sorted(strata, key=lambda k: (freq.get(k, 0) if k != EMPTY_STRATUM else math.inf, k)):
        members = strata[key]
        order.extend(members[j] for j in rng.permutation(len(members)))
    names = [s for s in SPLITS if distribution.get(s, 0) > 0]
    target = np.array([distribution[s] for s in names])
    target = target / target.sum()
    assigned = np.zeros(len(names))
    plan: dict[int, str] = {}
    for position, item_id in enumerate(order, start=1):
        k = int(np.argmax(target * position - assigned))
        assigned[k] += 1
        plan[item_id] = names[k]
    return plan


def freeze_test(store: Store) -> None:
    store.set_meta("test_frozen", "1")


def split_project(store: Store, *, distribution: dict[str, float] | None = None,
                  seed: int = 0, resplit: bool = False) -> SplitReport:
    """Split the project's labeled items.

    Without ``resplit`` only labeled items that have no split yet are assigned, and if
    a frozen test split exists they go to train and val only (their shares renormalised).
    With ``resplit`` every labeled item, test included, is dealt again and the new test
    split is frozen. Team mode: a lead's work (``split``).
    """
    store.authorize("split")
    distribution = dict(distribution or DEFAULT_DISTRIBUTION)
    frozen = store.get_meta("test_frozen") == "1" and store.count_items(split="test") > 0
    if frozen and not resplit:
        distribution["test"] = 0.0
        if distribution.get("train", 0) + distribution.get("val", 0) <= 0:
            raise ValueError("the test split is frozen and the distribution gives no share to "
                             "train or val; pass resplit to redraw the test split")
    candidates = store.items(status="labeled") if resplit else store.items(
        status="labeled", unsplit=True)
    labels = store.annotations([item.id for item in candidates])
    item_classes = {i: [a.class_id for a in anns] for i, anns in labels.items()}
    frequency = Counter(a.class_id for anns in store.annotations().values() for a in anns)
    # never test: images with auto-accepted boxes, and gold images (shown to annotators)
    auto = store.items_with_auto_accepted(list(item_classes)) | (
        store.gold_ids() & set(item_classes))
    plan = plan_split({i: c for i, c in item_classes.items() if i not in auto}, distribution,
                      seed=seed, class_frequency=frequency)
    if auto:  # never test: train and val in their shares
        no_test = {**distribution, "test": 0.0}
        if no_test.get("train", 0) + no_test.get("val", 0) <= 0:
            no_test["train"] = 1.0
        plan.update(plan_split({i: item_classes[i] for i in auto}, no_test, seed=seed,
                               class_frequency=frequency))
    with store.write():
        before = {s: store.count_items(split=s) for s in SPLITS}
        store.set_splits(plan)
        if any(s == "test" for s in plan.values()):
            freeze_test(store)
        store.set_meta("last_split", repr({"distribution": distribution, "seed": seed,
                                           "resplit": resplit}))
        store.audit("split.resplit" if resplit else "split.assign", object_type="project",
                    summary=("redrew every labeled image's split" if resplit else
                             f"assigned {len(plan)} labeled images to splits")
                            + f" (seed {seed})",
                    before=before, after={s: store.count_items(split=s) for s in SPLITS})
    assigned = Counter(plan.values())
    return SplitReport(assigned={s: assigned.get(s, 0) for s in SPLITS},
                       totals={s: store.count_items(split=s) for s in SPLITS}, resplit=resplit)


def project_distribution(store: Store) -> dict[str, float]:
    """The distribution of the project's last split (the default when it has none)."""
    text = store.get_meta("last_split")
    try:
        last = ast.literal_eval(text) if text else {}
        distribution = {s: float(last["distribution"][s]) for s in SPLITS}
    except (ValueError, SyntaxError, KeyError, TypeError):
        distribution = dict(DEFAULT_DISTRIBUTION)
    return distribution


def split_for_new_label(store: Store, item_id: int) -> str | None:
    """The split a newly reviewed item joins at once (Dataloop runs its data-split node
    right after review): train or val, whichever is furthest below its share of the
    project's distribution given the items already there, so a stream of single reviews
    keeps the ratio (the frozen test split never grows this way). None when the item
    already has a split. Ties go to train."""
    if store.item(item_id).split is not None:
        return None
    distribution = project_distribution(store)
    names = [s for s in ("train", "val") if distribution.get(s, 0) > 0] or ["train"]
    total = sum(distribution.get(s, 0) for s in names) or 1.0
    counts = {s: store.count_items(split=s) for s in names}
    n = sum(counts.values()) + 1
    return max(names, key=lambda s: (distribution.get(s, 1) / total * n - counts[s],
                                     s == "train"))

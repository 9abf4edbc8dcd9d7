"""What a simulation runs: its settings (:class:`SimConfig`: strategies, rounds, seeds,
the training budget of every round) and where its base project comes from
(:class:`Source`: the built-in demo, or images + COCO labels as the oracle)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from al_core.training.config import TrainConfig

Say = Callable[[str], None]

# The training budget of every round: a number of epochs over the train split, raised
# so that each round sees at least ``min_train_images`` images (small early sets would
# otherwise get a few dozen steps). It depends only on the labeled count, so it is the
# same for every strategy at the same round; no wall-clock budget, which would make the
# curves depend on the machine's load. 128 px: the demo's digits stay legible and
# training is 1.5x faster than at the product's default 160. Each round fine-tunes the
# previous round's model (warm start), as a team would between rounds; from scratch,
# the same budget leaves the early models barely past learning where objects are.
# Pseudo-labels as in the product (recorded in settings.json, so a changed default
# refuses old folders), for every strategy, random included: the comparison is of
# selections under the same training.
DEFAULT_TRAIN = {"epochs": 10, "time_budget_s": None, "image_size": 128, "warm_start": True,
                 "pseudo_label_score": TrainConfig.pseudo_label_score}
DEFAULT_MIN_TRAIN_IMAGES = 4000
QUICK_TRAIN = {"epochs": 2, "time_budget_s": None, "image_size": 96, "width": 8}
FULL_DEFAULTS = {"strategies": ("random", "uncertainty", "coreset", "hybrid"), "initial": 100,
                 "add": 75, "rounds": 4, "seeds": 3}
PRELABEL_THRESHOLDS = ("fixed", "model")  # SimConfig.prelabel_threshold's values
QUICK_DEFAULTS = {"strategies": ("random", "uncertainty"), "initial": 20, "add": 20, "rounds": 2,
                  "seeds": 1}


@dataclass(frozen=True)
class SimConfig:
    strategies: tuple[str, ...]
    initial: int
    add: int
    rounds: int  # query rounds after the initial one
    seeds: int
    train: dict = field(default_factory=lambda: dict(DEFAULT_TRAIN))
    initial_strategy: str | None = None  # None: the registry's cold-start strategy
    min_train_images: int = DEFAULT_MIN_TRAIN_IMAGES
    query: dict = field(default_factory=dict)  # query options of rounds >= 1 (--config)
    # rounds >= 1 labeled by box-level review (al_core.simulation.box_level): pre-labels at
    # or above their class's threshold kept as predicted, the rest from the oracle
    box_level: bool = False
    # the pre-label threshold a round's corrections are counted at (and box-level review
    # shows pre-labels at): "fixed", the review screen's old default for every model
    # (al_core.types.DEFAULT_MIN_SCORE), or "model", the one chosen for the selecting
    # model on its validation images (al_core.review.prelabel_threshold); with "model"
    # each round records the corrections at the fixed one too, for comparison
    prelabel_threshold: str = "fixed"

    def __post_init__(self) -> None:
        from al_core.query.strategies import check_options, get_strategy
        from al_core.training.config import TrainConfig, merge_config

        if not self.strategies:
            raise ValueError("give at least one --strategy")
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"--strategy given twice: {', '.join(self.strategies)}")
        for name in self.strategies:
            get_strategy(name)
        if self.initial_strategy is not None:
            get_strategy(self.initial_strategy)
        for name in ("initial", "add", "seeds", "min_train_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag}: {value!r} is not a positive integer")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 0:
            raise ValueError(f"--rounds: {self.rounds!r} is not an integer >= 0")
        if self.prelabel_threshold not in PRELABEL_THRESHOLDS:
            raise ValueError(f"--prelabel-threshold: {self.prelabel_threshold!r} is not one "
                             f"of {', '.join(PRELABEL_THRESHOLDS)}")
        merge_config(TrainConfig(), self.train)  # names a bad training override now
        check_options(self.query)  # and a bad query option

    @property
    def labeled_counts(self) -> list[int]:
        return [self.initial + r * self.add for r in range(self.rounds + 1)]


@dataclass(frozen=True)
class Source:
    """Where the base project comes from: the built-in demo, or images + COCO labels
    (which become the oracle; ``test_size`` of them are labeled and frozen as test)."""

    demo: bool = True
    quick: bool = False
    images: Path | None = None
    coco: Path | None = None
    test_size: int = 300
    demo_seed: int = 0  # which draw of the demo's scenes (DemoConfig.seed)
    demo_kind: str = "digits"  # which demo (demo.DEMO_KINDS): digits or shapes

    def __post_init__(self) -> None:
        from al_core.simulation.demo import DEMO_KINDS

        if isinstance(self.demo_seed, bool) or not isinstance(self.demo_seed, int) \
                or self.demo_seed < 0:
            raise ValueError(f"--demo-seed: {self.demo_seed!r} is not an integer >= 0")
        if self.demo_kind not in DEMO_KINDS:
            raise ValueError(f"--demo-kind: {self.demo_kind!r} is not one of "
                             f"{', '.join(DEMO_KINDS)}")
        if not self.demo and (isinstance(self.test_size, bool) or self.test_size < 1):
            raise ValueError(f"--test-size: {self.test_size!r} must be at least 1 (every "
                             "strategy is measured on the same frozen test split)")

    def demo_config(self):
        """The demo's config: the kind's defaults, or with ``quick`` a small variant."""
        from al_core.simulation.demo import demo_config

        small = {"digits": {"max_digit_px": 32},
                 "shapes": {"min_object_px": 6, "max_object_px": 45}}[self.demo_kind]
        options = {"n_images": 300, "test_size": 80, "image_size": 96, **small} \
            if self.quick else {}
        return demo_config(self.demo_kind, seed=self.demo_seed, **options)

    def describe(self) -> dict:
        return {"demo": self.demo, "quick": self.quick, "test_size": self.test_size,
                "demo_seed": self.demo_seed,
                # the generator and its settings (the config's repr names its class, so the
                # kind): a folder made with another demo is not mixed in
                "demo_config": repr(self.demo_config()) if self.demo else None,
                "images": str(self.images) if self.images else None,
                "coco": str(self.coco) if self.coco else None}

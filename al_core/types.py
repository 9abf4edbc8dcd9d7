"""Frozen dataclasses passed between the store, the importers and the UI.

Boxes follow one contract everywhere: float ``[x1, y1, x2, y2]`` in absolute image
pixels, clipped to the image, with ``x2 > x1`` and ``y2 > y1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

SPLITS = ("train", "val", "test")
ITEM_STATUSES = ("unlabeled", "labeled")
ANNOTATION_SOURCES = ("human", "model", "import", "oracle")
# Pre-labels (a model's boxes shown for review) scoring below this are hidden: they cost
# more than they save. One threshold everywhere: the review screen's default, a
# selection's COCO export, the strategies' correction estimates, the simulation's oracle.
DEFAULT_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in absolute pixels, ``x2 > x1`` and ``y2 > y1``."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"box {list(values)} has a non-finite coordinate")
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(f"box {list(values)} has zero or negative area")

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    def as_xywh(self) -> list[float]:
        return [self.x1, self.y1, self.x2 - self.x1, self.y2 - self.y1]


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    color: str


@dataclass(frozen=True)
class Item:
    """One image of the project. ``file`` is a relative POSIX path under ``root``: the
    project's images folder when ``root`` is '', else a folder referenced in place."""

    id: int
    file: str
    width: int
    height: int
    sha256: str
    split: str | None
    status: str
    labeled_round: int | None
    labeled_by: str | None
    root: str
    label_version: int


@dataclass(frozen=True)
class Annotation:
    """A current (ground-truth) box on an item."""

    item_id: int
    class_id: int
    box: Box
    source: str
    author: str | None = None
    round: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class LabeledBox:
    """A box with its class, as produced by importers and the demo oracle."""

    class_id: int
    box: Box


@dataclass(frozen=True)
class SelectionItem:
    """One ranked item of a selection; ``score`` is the strategy's (None when it has
    none, e.g. random); ``is_control`` marks the uniformly random control slice."""

    item_id: int
    rank: int
    score: float | None
    is_control: bool


@dataclass(frozen=True)
class Selection:
    """A query round: which items a strategy picked, with what, from which model."""

    id: int
    tag: str
    round: int
    strategy: str
    config: dict
    seed: int
    model_id: int | None
    created: str
    items: tuple[SelectionItem, ...] = ()

    @property
    def control_ids(self) -> list[int]:
        return [i.item_id for i in self.items if i.is_control]


@dataclass(frozen=True)
class SelectionSummary:
    """A selection's counts, for status lines and tables."""

    tag: str
    round: int
    strategy: str
    model_id: int | None
    size: int
    control: int
    labeled: int  # how many of its items are labeled by now
    created: str


@dataclass(frozen=True)
class ProjectStatus:
    items: int
    labeled: int
    by_split_status: dict[str, dict[str, int]]
    boxes_by_class: dict[str, int]
    active_model: str | None
    models: int
    rounds: int
    selections: list[SelectionSummary] = field(default_factory=list)
    test_frozen: bool = False


class Cancelled(Exception):
    """Raised inside long work (a job, a bootstrap) when a cancel was requested."""


def brief(value, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters: a bad input of
    20 MB is named, not echoed back whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_int(name: str, value, low: int, high: int) -> None:
    """Raise ValueError naming ``name``, the value and the range unless ``value`` is an
    integer (not a bool) in ``[low, high]``."""
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"{name}: {brief(value)} is out of range (it must be an integer "
                         f"from {low:,} to {high:,})")


def check_number(name: str, value, low: float, high: float, *,
                 upper_open: bool = False) -> None:
    """Raise ValueError naming ``name``, the value and the range unless ``value`` is a
    finite number in ``[low, high]`` (``[low, high)`` with ``upper_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and low <= value and (
            value < high if upper_open else value <= high)
    if not ok:
        raise ValueError(f"{name}: {brief(value)} is out of range (it must be a number in "
                         f"[{low}, {high}{')' if upper_open else ']'})")


@dataclass(frozen=True)
class TeamUser:
    """A project user (team mode). ``role`` is one of :data:`al_core.permissions.ROLES`;
    the password hash never leaves the store."""

    id: int
    name: str
    role: str
    email: str | None
    disabled: bool
    created: str


@dataclass(frozen=True)
class Actor:
    """Who performs an operation. ``user`` is None in single-user mode (a project with
    no users), where ``name`` is whatever the person or command gave (or ``None``) and
    every action is allowed; in team mode it is the signed-in project user."""

    name: str | None
    role: str
    user: TeamUser | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One row of the append-only audit log. ``before`` and ``after`` are short JSON
    texts (or None)."""

    id: int
    at: str
    actor: str | None
    action: str
    object_type: str | None
    object_id: str | None
    summary: str
    before: str | None
    after: str | None

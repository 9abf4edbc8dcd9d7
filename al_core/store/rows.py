"""Helpers shared by the store's parts: timestamps, the class palette, row converters."""
from __future__ import annotations

from datetime import datetime, timezone

from al_core.types import Box, Item

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3",
           "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#ffe119", "#000000")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _item(row: dict) -> Item:
    return Item(id=row["id"], file=row["file"], width=row["width"], height=row["height"],
                sha256=row["sha256"], split=row["split"], status=row["status"],
                labeled_round=row["labeled_round"], labeled_by=row["labeled_by"],
                root=row["root"], label_version=row["label_version"])


def _box(row: dict) -> Box:
    return Box(row["x1"], row["y1"], row["x2"], row["y2"])


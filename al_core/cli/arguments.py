"""The CLI's argparse types: numbers in a range (ids, seeds, counts), id lists and
shares, each refused in one line naming the value and the range (a value past SQLite's
integer range or a negative seed failed deep inside, or left files)."""
from __future__ import annotations

import argparse


def int_in(low: int, high: int, what: str):
    """An argparse type: an integer in [low, high], refused with the range named (a value
    past SQLite's integer range or a negative seed failed deep inside, or left files)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text[:40]} is outside {what} [{low:,}, "
                                             f"{high:,}]")
        return value
    parse.__name__ = what  # argparse names the type in its own messages
    return parse


ID = int_in(1, 2 ** 63 - 1, "the id range")
SEED = int_in(0, 2 ** 32 - 1, "the seed range")
COUNT = int_in(0, 10 ** 9, "the count range")


def ids(text: str) -> list[int]:
    """An argparse type: image ids separated by commas (``3,5,8``), each refused with
    the id range named as :data:`ID` refuses it."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} names no image id (e.g. 3,5,8)")
    return [ID(part) for part in parts if part]


def share(text: str) -> float:
    """An argparse type: a number from 0 to 1 (a share, a rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text[:40]} is not a number from 0 to 1")
    return value


ids.__name__ = "the image ids"  # argparse names the type in its own messages
share.__name__ = "a share"

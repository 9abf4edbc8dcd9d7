"""Every JSON the product takes from outside, read by one bounded reader: files (COCO
instances and results, ground truth and detections, a simulation's ``settings.json``,
the YOLO export's manifest), inline configs (the CLI's ``--config``, the Models and
Compare pages' JSON) and uploads (a corrected batch).

Each is refused with one line naming it and the problem when it is too large, nests
arrays and objects deeper than :data:`MAX_DEPTH` (measured on the text before parsing,
without recursion: a 100,000-deep ``[[[...]]]`` gave a ``RecursionError`` traceback),
is not valid JSON or UTF-8, or is not the expected kind of value (a ``settings.json``
holding a list gave an ``AttributeError``). Imports nothing of the product's.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from al_core.names import printable

MAX_DEPTH = 64  # a COCO file nests 5 deep, a config 3
MAX_FILE_BYTES = 4 * 2 ** 30  # COCO train2017 is 448 MB, LVIS train 1.1 GB
MAX_TEXT_CHARS = 1_000_000  # an inline config, or a config file: a few hundred bytes

_KINDS = {dict: "a JSON object", list: "a JSON array", str: "a string", bool: "true or false",
          int: "a number", float: "a number", type(None): "null"}
_NOT_MARKS = bytes(range(256)).translate(None, b'"[]{}')  # every byte but these five
_CHUNK = 1 << 24


class JsonInputError(ValueError):
    """A JSON input cannot be used; the message names it and says why, on one line."""


def nesting_depth(text: bytes) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets inside strings do not
    count), found without recursion and without parsing. On malformed text, the depth
    its brackets reach, which bounds how deep a parser goes before it fails."""
    if b"\\" in text:  # escapes only occur inside strings: drop \\ then \" (left to right,
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")  # as a parser reads them)
    marks = text.translate(None, _NOT_MARKS)  # quotes and brackets only; UTF-8 safe
    deepest = depth = 0
    in_string = 0
    for start in range(0, len(marks), _CHUNK):
        chunk = np.frombuffer(marks, np.uint8, count=min(_CHUNK, len(marks) - start),
                              offset=start)
        quotes = np.cumsum(chunk == ord('"'), dtype=np.int64) + in_string
        outside = quotes % 2 == 0  # a bracket after an even number of quotes
        step = ((chunk == ord("[")) | (chunk == ord("{"))).astype(np.int64) \
            - ((chunk == ord("]")) | (chunk == ord("}")))
        running = depth + np.cumsum(np.where(outside, step, 0))
        deepest = max(deepest, int(running.max()))
        depth, in_string = int(running[-1]), int(quotes[-1] % 2)
    return deepest


def parse_json(text: str, what: str, *, expect: type | None = None,
               max_size: int = MAX_TEXT_CHARS):
    """The value of JSON ``text`` (a config typed or passed inline; ``what`` names it in
    messages). ``expect`` (``dict`` or ``list``) is the top-level kind it must be.
    Raises JsonInputError for text over ``max_size`` characters, nested deeper than
    :data:`MAX_DEPTH`, invalid JSON, or another kind of value than ``expect``."""
    if len(text) > max_size:
        raise JsonInputError(f"{what}: {len(text):,} characters is over the limit of "
                             f"{max_size:,}")
    _check_depth(text.encode("utf-8", "surrogatepass"), what)
    return _loads(text, what, expect)


def read_json_file(path: str | Path, what: str, *, expect: type | None = None,
                   max_bytes: int = MAX_FILE_BYTES):
    """The value of the JSON file at ``path`` (UTF-8, a byte-order mark allowed);
    ``what`` names it in messages, with the path. Raises JsonInputError for a file that
    cannot be read or is over ``max_bytes``, not UTF-8, nested deeper than
    :data:`MAX_DEPTH`, not valid JSON, or another kind of value than ``expect``."""
    path = Path(path)
    where = f"{what} {printable(str(path), 160)}"
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = b"" if size > max_bytes else f.read(max_bytes + 1)  # a device stops too
    except OSError as exc:
        raise JsonInputError(f"{where}: cannot be read ({exc.strerror})") from None
    if size > max_bytes or len(data) > max_bytes:
        raise JsonInputError(f"{where}: {max(size, len(data)):,} bytes is over the limit "
                             f"of {max_bytes:,}")
    data = data.removeprefix(b"\xef\xbb\xbf")
    _check_depth(data, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"{where}: not UTF-8 text ({exc.reason})") from None
    del data
    return _loads(text, where, expect)


def _check_depth(raw: bytes, what: str) -> None:
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise JsonInputError(f"{what}: arrays and objects nested {depth:,} deep, over the "
                             f"limit of {MAX_DEPTH}")


def _loads(text: str, what: str, expect: type | None):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{what}: not valid JSON at line {exc.lineno} column "
                             f"{exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number; never too deep here
        raise JsonInputError(f"{what}: cannot be read ({printable(str(exc))})") from None
    if expect is not None and not isinstance(value, expect):
        raise JsonInputError(f"{what}: expected {_KINDS[expect]}, got "
                             f"{_KINDS.get(type(value), type(value).__name__)}")
    return value

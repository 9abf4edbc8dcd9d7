"""Names are data: one rule for every name a person or a file gives the product (class
names, selection tags, annotator and reviewer names, model names), applied where the
name comes in (import, CLI, pages, query parameters), and one way to show a name that
is already stored, whatever it holds.

The rule (:func:`normalize_name`):

- Unicode NFC, so ``"é"`` typed and ``"e" + U+0301`` from a file are one name;
- no control characters (newlines, tabs, escape codes: Unicode category Cc), no
  invisible format characters (category Cf: zero-width spaces, soft hyphens, byte-order
  marks, bidirectional overrides and isolates, which reorder what a reader sees; the
  zero-width joiner and non-joiner that emoji and some scripts need are kept), no line
  or paragraph separators and no lone surrogates;
- at least one visible character (a letter, digit, punctuation mark or symbol), so
  ``car`` and ``car`` + U+200B can never be two classes that look the same;
- whitespace (any Unicode space) trimmed at both ends and each inner run of it made one
  plain space: ``"traffic  light"`` is ``"traffic light"``;
- not empty, and at most ``MAX_NAME[kind]`` characters.

A name that breaks the rule is refused with a :class:`ValueError` naming the kind and
the value (shortened, control characters shown as escapes). Names stored before the rule
existed are shown through :func:`printable`, which never lets a character act as a
control code on a terminal or in a page.
"""
from __future__ import annotations

import re
import unicodedata

MAX_NAME = {"class": 100, "tag": 100, "person": 60, "model": 100}
_JOINERS = {0x200C, 0x200D}  # ZWNJ and ZWJ: parts of emoji and of some scripts' words
_SPACE = re.compile(r"\s+")


def _bad_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cs", "Zl", "Zp") or (cat == "Cf" and ord(ch) not in _JOINERS)


def _visible(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNPS"


def printable(value, limit: int | None = 80) -> str:
    """``value`` as text that is safe to print or show: control characters, invisible
    format characters (bidi overrides, zero-width spaces) and separators become escapes (``\\n``, ``\\x1b``, ``\\u202e``), anything
    else is kept (accents, CJK, emoji). Cut to ``limit`` characters (None: whole) with
    ``...``. For any stored or supplied string, valid or not."""
    text = str(value)
    if any(_bad_char(ch) for ch in text):
        text = "".join(ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                       if _bad_char(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    return text


def normalize_name(value, *, kind: str) -> str:
    """The name as the product stores it: NFC, inner whitespace runs as one space, ends
    trimmed. ``kind`` is one of :data:`MAX_NAME` (``class``, ``tag``, ``person``,
    ``model``). Raises ValueError naming the kind and the value when it is not a string,
    has no visible character, holds a control or invisible format character, separator
    or lone surrogate, or is longer than ``MAX_NAME[kind]`` characters."""
    if kind not in MAX_NAME:
        raise ValueError(f"unknown kind of name {kind!r} (one of {', '.join(MAX_NAME)})")
    label = {"class": "class name", "tag": "tag", "person": "name",
             "model": "model name"}[kind]
    if not isinstance(value, str):
        raise ValueError(f"{label} {printable(repr(value), 60)} is not text")
    bad = next((ch for ch in value if _bad_char(ch)), None)
    if bad is not None:
        what = "a control" if unicodedata.category(bad) == "Cc" else "an invisible"
        raise ValueError(f"{label} '{printable(value, 60)}' holds {what} character "
                         f"({printable(bad)}); names are one line of visible text")
    name = _SPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if not name:
        raise ValueError(f"{label} {value!r} is empty" if len(value) < 20 else
                         f"{label} is only whitespace")
    if not any(_visible(ch) for ch in name):
        raise ValueError(f"{label} '{printable(name, 60)}' has no visible character")
    if len(name) > MAX_NAME[kind]:
        raise ValueError(f"{label} '{printable(name, 60)}' is {len(name):,} characters "
                         f"long; at most {MAX_NAME[kind]} are allowed")
    return name


def name_or_none(value, *, kind: str) -> str | None:
    """:func:`normalize_name`, or None where the value breaks the rule (for a query
    parameter that is then ignored with a warning by the caller)."""
    try:
        return normalize_name(value, kind=kind)
    except ValueError:
        return None

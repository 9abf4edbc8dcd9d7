"""Every value a link (query parameter) or a page form gives the app, checked here, in
one place per kind: ids (:func:`id_param`, :func:`parse_id`: ASCII digits within
SQLite's integer range), selection tags (:func:`tag_param`, :func:`tag_value`) and
people's names (:func:`person_name`), the last two by the project's name rule
(:mod:`al_core.names`). A bad value raises ValueError naming it, as Markdown (the value
escaped by :func:`ui.text.md`): the page shows it.

A link value that is not valid never crashes a page and never sends the user somewhere
else in silence: the page says so and what it shows instead in a *notice*
(:func:`notice`). Notices are kept in the session (a rerun does not wipe them, whatever
triggers it) and drawn by :func:`show_notices` on every run of their page, until the
user leaves that page (:func:`keep_notices_of`, called by the frame) or picks something
else on it (:func:`forget`).
"""
from __future__ import annotations

import re

import streamlit as st

from al_core.names import normalize_name
from ui.text import md

INT64_MAX = 2 ** 63 - 1  # SQLite's integer range: a larger id can never exist
_DIGITS = re.compile(r"[0-9]+")  # ASCII digits only: "①".isdigit() is true
_NOTICES = "_link_notices"  # {param name: (page, text)}


def parse_id(value, what: str) -> int:
    """``value`` (text) as an id of a ``what`` (1 to SQLite's largest integer). Raises
    ValueError naming the value (shortened, as Markdown)."""
    text = str(value).strip()
    if not _DIGITS.fullmatch(text) or len(text) > 19 or not 1 <= int(text) <= INT64_MAX:
        raise ValueError(f"'{md(value, limit=40)}' is not an id ({what} ids are whole numbers "
                         f"from 1 to {INT64_MAX:,})")
    return int(text)


def id_param(name: str, what: str) -> int | None:
    """The query parameter ``name`` as a ``what`` id; None when it is absent. ValueError
    (naming the value and the range) when it is there but not an id: the page says what
    it shows instead, in a :func:`notice`."""
    raw = st.query_params.get(name)
    return None if raw is None else parse_id(raw, what)


def tag_value(text: str) -> str:
    """A selection name typed on a page or given by a link, as the project stores names
    (:func:`al_core.names.normalize_name`, kind ``tag``); ValueError naming it."""
    return normalize_name(text, kind="tag")


def tag_param(name: str, known=()) -> str | None:
    """The query parameter ``name`` as a selection tag: itself when it is one of
    ``known`` (tags stored before the name rule keep working in links), else by the
    name rule; None when it is absent. ValueError naming it when it is not a name (as
    :func:`id_param`)."""
    raw = st.query_params.get(name)
    if raw is None or raw in known:
        return raw
    try:
        return tag_value(raw)
    except ValueError:
        raise ValueError(f"'{md(raw, limit=40)}' is not a selection name") from None


def person_name(text) -> str:
    """A person's name typed on a page or given by a link (annotator, who overrides a
    decision): trimmed, inner spaces as one, NFC; ValueError naming a name that is empty,
    too long or holds control characters."""
    return normalize_name(text, kind="person")


# -- notices --------------------------------------------------------------------------
def notice(name: str, page: str, text: str) -> None:
    """Keep ``text`` about query parameter ``name`` on ``page`` until the user leaves
    the page or :func:`forget` drops it (one notice per parameter: the newest)."""
    st.session_state.setdefault(_NOTICES, {})[name] = (page, text)


def forget(*names: str) -> None:
    """Drop the notices about ``names`` (the user chose something else on the page)."""
    notices = st.session_state.get(_NOTICES, {})
    for name in names:
        notices.pop(name, None)


def keep_notices_of(page: str) -> None:
    """Drop the notices of every page but ``page`` (the frame calls this on each run)."""
    notices = st.session_state.get(_NOTICES, {})
    for name in [n for n, (p, _) in notices.items() if p != page]:
        del notices[name]


def show_notices(page: str) -> None:
    """Draw the notices kept for ``page``."""
    for where, text in list(st.session_state.get(_NOTICES, {}).values()):
        if where == page:
            st.warning(text, icon=":material/link_off:")


def notices(page: str) -> list[str]:
    """The texts of the notices kept for ``page`` (for tests and captions)."""
    return [t for p, t in st.session_state.get(_NOTICES, {}).values() if p == page]

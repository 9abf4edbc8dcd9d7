"""Text that a person or a file supplied, shown as text (and a stored colour, used in a
style only when it is one).

Streamlit renders Markdown (react-markdown with GitHub's extensions, KaTeX math, its own
``:color[...]`` and ``:material/icon:`` directives, emoji shortcodes) in ``st.markdown``,
``st.caption``, ``st.write`` of a string, the bodies of ``st.info`` / ``warning`` /
``error`` / ``success``, progress texts, ``help=`` tooltips, and every widget, tab,
expander and metric label (and a metric's value and delta). A reason reading
``![x](http://host/x.png)`` there makes every viewer's browser fetch that address, and a
newline followed by ``- **#99**`` forges a list row. Every string a user or a file gave
the product (names, tags, reasons, file names, paths, job messages and the library's
sentences that quote them) goes through :func:`md` (or :func:`md_code` for a file name or
path shown as code) wherever Streamlit would read it as Markdown.

What does not need it: ``st.dataframe`` cells, ``st.code``, ``st.text``, ``st.json``,
``st.selectbox`` options (its ``format_func`` output is plain text: escaping it would
show the backslashes), Altair titles and tooltips, text drawn into images.
"""
from __future__ import annotations

import re

from al_core.names import printable

# CommonMark shows any backslash-escaped ASCII punctuation character as itself
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Three things act on the text after escapes are resolved, so escaping cannot stop them:
# GitHub's autolinks (``http://``, ``www.``, ``a@b.c``), emoji shortcodes (``:smile:``)
# and Streamlit's ``:material/icon:`` (replaced in the source). A word joiner (U+2060:
# zero width, no line break) after the colon, the at sign or ``www`` breaks each pattern
# and shows nothing.
ZERO_WIDTH = "\u2060"
_PATTERN_STARTS = re.compile(r"(?<=:)(?=[\w/+-])|(?<=@)(?=\w)|(?<=www)(?=\.)", re.IGNORECASE)


def md(value, *, limit: int | None = None) -> str:
    """``value`` (any object, as ``str``) as Markdown that shows exactly its text: control
    characters and bidi overrides as escapes (``\\n``: one line, never a new row or
    block), every ASCII punctuation character backslash-escaped (no emphasis, link,
    image, list, heading, table, HTML, math or ``:color[...]``), a zero-width word
    joiner breaking autolinks, emoji shortcodes and icons. ``limit`` cuts it (with ``...``)."""
    text = _PATTERN_STARTS.sub(ZERO_WIDTH, printable(value, limit))
    return _PUNCTUATION.sub(r"\\\1", text)


def md_code(value, *, limit: int | None = None) -> str:
    """``value`` as a Markdown code span (a file name, a path): shown whole in monospace,
    backticks and all. The fence is longer than any run of backticks inside."""
    text = printable(value, limit).replace(":material/", ":" + ZERO_WIDTH + "material/")
    if not text.strip():
        return md(text)
    fence = "`" * (1 + max((len(run) for run in re.findall("`+", text)), default=0))
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") \
        else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_CSS_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def css_color(value, default: str = "#888888") -> str:
    """A class's stored colour for an inline style: a hex colour as it is, anything else
    (a value written around the product, which could close the attribute) ``default``."""
    return value if isinstance(value, str) and _CSS_COLOR.fullmatch(value) else default

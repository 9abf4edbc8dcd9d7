"""ui.text: a string a person or a file supplied, shown as text wherever Streamlit reads
Markdown. Known answers here; tests/test_escape_browser.py checks what a browser draws."""
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.apptest import read
from ui.text import ZERO_WIDTH, css_color, md, md_code

HOSTILE = ("x`y ![x](http://203.0.113.9/x.png) <img src=http://203.0.113.9/y.png> \n"
           "- **#99 fake row** [link](http://203.0.113.9/)")


def test_every_markdown_and_html_special_is_escaped():
    assert md("**b** _i_ `c` [l](u) ![i](u) <b> # - + . ! | ~ $ { } & \\") == (
        r"\*\*b\*\* \_i\_ \`c\` \[l\]\(u\) \!\[i\]\(u\) \<b\> \# \- \+ \. \! \| \~ \$ \{ \} "
        r"\& \\")
    assert all(md(ch) == "\\" + ch for ch in string.punctuation if ch not in ":@")


def test_a_newline_never_starts_a_row_and_control_characters_show_as_escapes():
    assert md("a\n- **#99**") == r"a\\n\- \*\*\#99\*\*"
    assert "\n" not in md("a\r\nb\u2028c") and "\u202e" not in md("evil\u202e")
    assert read(md("a\n- b")) == "a\\n- b"  # the reader sees the two characters \ n


def test_autolinks_icons_and_emoji_are_broken_by_a_word_joiner():
    # they act on the text after escapes are resolved: only a character in between helps
    assert md("http://h/x") == f"http\\:{ZERO_WIDTH}\\/\\/h\\/x"
    assert md("www.h.org") == f"www{ZERO_WIDTH}\\.h\\.org"
    assert md("WWW.h") == f"WWW{ZERO_WIDTH}\\.h"
    assert md("a@b.c") == f"a\\@{ZERO_WIDTH}b\\.c"
    assert md(":material/home:") == f"\\:{ZERO_WIDTH}material\\/home\\:"
    assert md(":smile:") == f"\\:{ZERO_WIDTH}smile\\:"
    assert md("ratio 3: 1") == r"ratio 3\: 1"  # a colon before a space needs nothing


def test_plain_words_are_unchanged_and_the_reader_sees_the_value():
    assert md("traffic light") == "traffic light"
    assert md(42) == "42"
    assert read(md(HOSTILE)) == HOSTILE.replace("\n", "\\n")


@given(st.text())
def test_the_reader_always_sees_exactly_the_printable_value(value):
    from al_core.names import printable

    shown = md(value)
    assert "\n" not in shown and "\r" not in shown
    assert read(shown) == printable(value, None)


def test_limit_shortens_before_escaping():
    assert md("a*" * 50, limit=10) == r"a\*a\*a\*a\.\.\."


@pytest.mark.parametrize("value, expected", [
    ("img.png", "`img.png`"),
    ("a`b.png", "``a`b.png``"),
    ("`x``", "``` `x`` ```"),
    ("/data/c:material/x", f"`/data/c:{ZERO_WIDTH}material/x`"),
    ("a\nb", "`a\\nb`"),
])
def test_md_code_is_a_code_span_no_backtick_closes(value, expected):
    assert md_code(value) == expected


def test_css_color_passes_only_hex_colours():
    assert css_color("#e6194b") == "#e6194b"
    assert css_color("#abc") == "#abc"
    assert css_color("red'><img src=x>") == "#888888"
    assert css_color(None) == "#888888"

"""Open one of the app's pages headless with Streamlit's AppTest (the project comes from
``$ALS_PROJECT``, which the tests set with monkeypatch)."""
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.text import ZERO_WIDTH

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, *, annotator: str | None = None) -> AppTest:
    """The app run once, then switched to ``page`` (e.g. "pages/compare.py")."""
    at = AppTest.from_file(APP, default_timeout=60)
    if annotator:
        at.session_state["annotator"] = annotator
    at.run()
    return at.switch_page(page).run()


def read(markdown: str) -> str:
    """What a reader sees of Markdown that quotes values through :func:`ui.text.md`: its
    backslash escapes resolved and its zero-width word joiners gone (AppTest gives an
    element's Markdown source)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(ZERO_WIDTH, "")

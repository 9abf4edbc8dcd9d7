"""Open one of the app's pages headless with Streamlit's AppTest (the project comes from
``$ALS_PROJECT``, which the tests set with monkeypatch)."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, *, annotator: str | None = None) -> AppTest:
    """The app run once, then switched to ``page`` (e.g. "pages/compare.py")."""
    at = AppTest.from_file(APP, default_timeout=60)
    if annotator:
        at.session_state["annotator"] = annotator
    at.run()
    return at.switch_page(page).run()

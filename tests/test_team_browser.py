"""Team mode as a browser meets it, served by ``./dev.sh app`` (serve.py: the app plus
the sign-in routes) and driven in Debian's headless Chromium: sign in through the real
form, stay signed in across a reload with a cookie no script can read, an annotator's
navigation and the Models page's refusal, sign out, and a replayed cookie that opens
nothing. Screenshots go to /tmp/team-shots/ (1280x800 and 1920x1080)."""
import re
from pathlib import Path

import pytest

from al_core.permissions import PermissionDenied
from al_core.store import Store
from al_core.team.accounts import add_user
from al_core.team.signin import COOKIE_NAME
from tests.test_browser import chromium_browser, serve_app, settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp/team-shots")
LEAD_PW = "lead-password-1"
ANN_PW = "annotator-pw-1"
SIZES = [(1280, 800), (1920, 1080)]


@pytest.fixture
def team(demo_store):
    add_user(demo_store, "lena", LEAD_PW, "lead")
    demo_store.act_as("lena")
    add_user(demo_store, "ann", ANN_PW, "annotator")
    return demo_store.root


@pytest.fixture
def served_team(team):
    yield from serve_app(team)


@pytest.fixture
def browser():
    yield from chromium_browser()


def _settled(page) -> None:
    settled(page, timeout=30_000)


def _shots(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)
        page.screenshot(path=SHOTS / f"{name}-{width}x{height}.png")
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})


def test_an_annotator_signs_in_works_and_signs_out_for_good(team, served_team, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{served_team}/review")
    page.get_by_role("heading", name="Sign in").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no page list
    page.get_by_role("link", name=re.compile("Sign in with your name")).click()
    page.wait_for_url(re.compile(r"/auth/signin\?next=/review"))
    _shots(page, "signin-page")

    page.fill("#name", "ann")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    page.get_by_role("alert").filter(has_text="wrong name or password").wait_for()
    assert page.input_value("#name") == "ann" and page.input_value("#password") == ""

    page.fill("#password", ANN_PW)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served_team}/review")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Signed in as").wait_for(timeout=30_000)
    assert "ann (annotator)" in sidebar.inner_text()
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Review", exact=True).is_visible()
    assert nav.get_by_text("Progress", exact=True).is_visible()
    for hidden in ("Project", "Models", "Query", "Compare", "Team"):
        assert nav.get_by_text(hidden, exact=True).count() == 0, hidden
    _settled(page)
    _shots(page, "signed-in-review")

    page.reload()  # the cookie, not the tab's session, keeps the user signed in
    sidebar.get_by_text("Signed in as").wait_for(timeout=30_000)
    assert COOKIE_NAME not in page.evaluate("document.cookie")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"

    # the Models page is not listed for an annotator; reached by its address, it says
    # so, its actions are disabled for her, and al_core refuses training anyway
    page.goto(f"{served_team}/models")
    page.get_by_text("This page is for").wait_for(timeout=30_000)
    _settled(page)
    assert page.get_by_role("button", name="Retrain").is_disabled()
    assert page.locator('[data-testid="stException"]').count() == 0
    _shots(page, "annotator-models-refused")
    with Store(team, actor="ann") as store:
        with pytest.raises(PermissionDenied, match="only a lead may train"):
            store.authorize("train")
        assert not store.models() and not store.jobs()  # the click made nothing

    page.goto(f"{served_team}/review")
    sidebar.get_by_text("Signed in as").wait_for(timeout=30_000)
    page.locator("form.als-signout button").click()
    page.wait_for_url(re.compile(r"/auth/signin\?signed_out=1"))
    assert "You signed out." in page.inner_text("body")
    assert COOKIE_NAME not in {c["name"] for c in page.context.cookies()}

    # a copy of the old cookie, replayed in a fresh browser context, opens nothing
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    other.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path",
                                               "httpOnly", "sameSite")}])
    replay = other.new_page()
    replay.goto(f"{served_team}/review")
    replay.get_by_role("heading", name="Sign in").wait_for(timeout=30_000)
    # the note may draw after the heading on a loaded machine: wait for it, not a snapshot
    replay.locator('[data-testid="stMain"]').get_by_text("You signed out.").wait_for(
        timeout=30_000)
    assert replay.locator('[data-testid="stSidebarNav"]').count() == 0
    _shots(replay, "replayed-cookie")
    other.close()


def test_a_lead_sees_every_page_and_the_team_page(team, served_team, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{served_team}/auth/signin")
    page.fill("#name", "lena")
    page.fill("#password", LEAD_PW)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served_team}/")
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title in ("Project", "Images", "Models", "Compare", "Query", "Review", "Progress",
                  "Team"):
        assert nav.get_by_text(title, exact=True).count() == 1, title
    _settled(page)
    _shots(page, "signed-in-lead")

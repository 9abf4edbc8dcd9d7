"""Links and typed names the pages take (ui/params.py), headless with AppTest: a value
that is not valid never gives a traceback and never sends the user elsewhere in
silence; the warning naming it stays through reruns; people's names and selection
names typed on a page follow the project's name rule."""
from pathlib import Path

import pytest

from ui.review_editor import HEADER_PX  # the canvas height the editor leaves
from streamlit.testing.v1 import AppTest

from al_core.jobs import runner as jobs
from ui.text import md
from tests.test_compare_page import compared  # noqa: F401 - fixture
from tests.test_review_page import TAG, make_selection, project  # noqa: F401 - fixture

APP = str(Path(__file__).resolve().parent.parent / "app.py")
RANGE = "ids are whole numbers from 1 to 9,223,372,036,854,775,807"
TWENTY = "12345678901234567890"


def _warnings(at):
    return [w.value for w in at.warning]


def _review(query, user="ana"):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["annotator"] = user
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("value, shown", [
    (TWENTY, f"'{TWENTY}' is not an id (image {RANGE})"),  # was an OverflowError
    ("abc", f"'abc' is not an id (image {RANGE})"),
    ("①", f"'①' is not an id (image {RANGE})"),
    ("-3", f"'\\-3' is not an id (image {RANGE})")])
def test_a_bad_item_link_says_so_opens_nothing_else_and_stays_said(project, value, shown):
    make_selection(project)
    at = _review({"item": value})
    expected = (f"The link's image is not valid: {shown}. No image is open: open one from "
                "the Images page, or review a selection.")
    assert _warnings(at) == [expected]
    # no other selection's image in silence (it used to open the newest selection's first)
    assert at.session_state["rv_item"] is None and at.session_state["rv_sel"] is None
    assert at.query_params.get("selection") is None
    assert [b.label for b in at.button if b.key == "rv-to-batch"] == ["Review a selection instead"]
    at.run()  # any rerun (a sidebar change, a fragment's page rerun) keeps it
    assert not at.exception and _warnings(at) == [expected]
    assert at.session_state["rv_item"] is None
    at.button(key="rv-to-batch").click().run()  # the explicit way out
    assert not at.exception and _warnings(at) == []
    assert at.session_state["rv_item"] is not None and at.session_state["rv_sel"] == TAG


def test_an_item_link_to_no_image_of_the_project_says_so(project):
    make_selection(project)
    at = _review({"item": "999999"})
    assert _warnings(at) == ["The link's image #999999 is not in this project. No image is "
                             "open: open one from the Images page, or review a selection."]
    assert at.session_state["rv_item"] is None


def test_a_bad_item_in_a_selection_link_says_what_opens_instead(project):
    pool = make_selection(project)
    at = _review({"selection": TAG, "item": "abc"})
    expected = (f"The link's image is not valid: 'abc' is not an id (image {RANGE}). Showing "
                f"selection al\\-iteration\\-1 from its next image instead.")
    assert _warnings(at) == [expected]
    assert at.session_state["rv_item"] == pool[0]
    assert at.query_params["item"] == str(pool[0])  # the URL now names what is shown
    # the image stays whole below it: the canvas leaves the notice's height out
    assert at.session_state["rv_canvas"]["view"].canvas_h == 800 - HEADER_PX - 96
    at.run()  # a rerun that is no action of the annotator's keeps it
    assert not at.exception and _warnings(at) == [expected]
    assert at.session_state["rv_item"] == pool[0]
    at.button(key="rv-accept").click().run()  # acted on: it goes, as the editor's messages
    assert not at.exception and _warnings(at) == []
    assert at.session_state["rv_item"] == pool[1]


@pytest.mark.parametrize("value, said", [
    ("nope", "There is no selection 'nope' in this project."),
    ("a\nb", "The link's selection is not valid: 'a\\\\nb' is not a selection name.")])
def test_a_bad_selection_link_says_which_selection_is_shown(project, value, said):
    make_selection(project)
    at = _review({"selection": value})
    assert _warnings(at) == [f"{said} Showing selection al\\-iteration\\-1 instead."]
    assert at.session_state["rv_sel"] == TAG
    at.run()
    assert _warnings(at) == [f"{said} Showing selection al\\-iteration\\-1 instead."]


@pytest.mark.parametrize("value, said", [
    ("①", f"'①' is not an id (comparison {RANGE})"),  # "①".isdigit() is True: ValueError
    (TWENTY, f"'{TWENTY}' is not an id (comparison {RANGE})"),
    ("999", "there is no comparison #999 in this project")])
def test_a_bad_comparison_link_says_the_newest_is_shown(compared, value, said):  # noqa: F811
    store = compared[0]
    newest = store.comparisons(limit=1)[0]["id"]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["comparison"] = value
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    expected = (f"The link's comparison is not valid: {said}. Showing the newest, #{newest}, "
                "instead.")
    assert _warnings(at) == [expected]
    picker = next(s for s in at.selectbox if s.label == "Comparison")
    assert picker.value == newest
    at.run()
    assert _warnings(at) == [expected]


def test_the_annotator_from_a_link_is_normalised_so_the_save_releases_its_lease(project):
    pool = make_selection(project)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["annotator"] = " ana  lee "
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    assert at.session_state["annotator"] == "ana lee"
    assert at.query_params["annotator"] == "ana lee"
    assert project.claim(pool[0], "bob", seconds=300) == "ana lee"  # held under the name
    at.button(key="rv-accept").click().run()
    assert project.claim(pool[0], "bob", seconds=300) is None  # the save released it


def test_a_bad_annotator_name_is_refused_by_name(project):
    make_selection(project)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["annotator"] = "ana\nrow"
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    refused = md("name 'ana\\nrow' holds a control character (\\n); names are one line of "
                 "visible text")
    assert _warnings(at) == [f"The link's annotator is refused: {refused}. Type your name "
                             "below."]
    assert "annotator" not in at.session_state and at.text_input[0].label == "Your name"
    at.text_input[0].input("ana\u202elee")  # a form: typed and submitted in one run
    at.button[0].click().run()
    assert "annotator" not in at.session_state
    assert len(_warnings(at)) == 1 and "holds an invisible character" in _warnings(at)[0]
    at.text_input[0].input("  ana   lee ")
    at.button[0].click().run()
    assert not at.exception and at.session_state["annotator"] == "ana lee"


def test_the_override_name_follows_the_name_rule(compared):  # noqa: F811
    store, old, new, _ = compared
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/compare.py").run()
    cid = store.comparisons(limit=1)[0]["id"]
    at.text_input(key=f"ov-who-{cid}").input("lead\x1b[31m").run()
    at.text_input(key=f"ov-why-{cid}").input("worse on the class we care about").run()
    next(b for b in at.button if b.label.startswith("Override")).click().run()
    assert not at.exception
    assert any("holds a control character" in e.value for e in at.error)
    assert store.model(new)["status"] == "trained"
    at.text_input(key=f"ov-who-{cid}").input("  the   lead ").run()
    next(b for b in at.button if b.label.startswith("Override")).click().run()
    assert store.model_decisions(new)[0]["decided_by"] == "the lead"


def test_the_query_pages_selection_name_follows_the_name_rule(project):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/query.py").run()
    at.text_input[0].input("round\tone")  # a form: typed and submitted in one run
    at.button[0].click().run()
    assert not at.exception
    assert any("holds a control character" in e.value for e in at.error)
    assert project.jobs(limit=5) == []
    at.text_input[0].input("  round   one ")
    at.button[0].click().run()
    assert not at.exception
    job = project.jobs(limit=1)[0]
    assert job["params"]["tag"] == "round one"
    assert jobs.wait_for(project, job["id"])["status"] == "succeeded"
    assert [s.tag for s in project.selections()] == ["round one"]


def test_a_link_to_a_selection_stored_before_the_name_rule_opens_it(project):
    """The Images page links a selection by its stored tag: one with two spaces (allowed
    before the name rule) still opens, not another selection with a notice."""
    make_selection(project, n=2, tag="round one")
    with project.write():  # stored as it was before the rule
        project.db.execute("UPDATE selections SET tag = 'round  one'")
        project.db.execute("UPDATE tags SET tag = 'round  one' WHERE tag = 'round one'")
    at = _review({"selection": "round  one"})
    assert _warnings(at) == [] and at.session_state["rv_sel"] == "round  one"

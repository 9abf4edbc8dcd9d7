"""Team mode in the app's frame (ui/chrome.py, ui/auth.py), headless with AppTest: the
sign-in screen and why the session ended, the session checked on every rerun, the
signed-in user as the annotator and the acting user, and al_core's refusal shown as one
message. AppTest cannot send a cookie: the one function that reads it
(``ui.auth.session_cookie``) is given a real session's token from
:func:`al_core.team.signin.sign_in`; everything after it is the app's own path."""
import pytest

import ui.auth
from al_core.team.accounts import add_user, set_disabled, set_role
from al_core.team.signin import sign_in, sign_out
from tests.apptest import open_page, read

ANN_PW = "annotator-pw-1"


@pytest.fixture
def team(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")  # as when served through serve.py
    add_user(demo_store, "lena", "lead-password-1", "lead")
    demo_store.act_as("lena")
    add_user(demo_store, "ann", ANN_PW, "annotator")
    return demo_store


def cookie(monkeypatch, token):
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)


def signed_in_as_ann(monkeypatch, store) -> str:
    token = sign_in(store, "ann", ANN_PW, address="127.0.0.1").token
    cookie(monkeypatch, token)
    return token


def screen(at) -> str:
    return "\n".join(read(e.value) for kind in ("title", "markdown", "info", "caption")
                     for e in getattr(at, kind))


def sign_in_link(at) -> str:
    return next(e.proto.body for e in at.get("html") if "als-link" in e.proto.body)


def test_nobody_signed_in_sees_the_sign_in_screen_and_nothing_of_the_page(team, monkeypatch):
    cookie(monkeypatch, None)
    at = open_page("pages/models.py")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert 'href="/auth/signin?next=/models"' in sign_in_link(at)
    assert not at.button and not at.text_area and not at.dataframe  # no Models page
    assert "Signed in as" not in screen(at)


@pytest.mark.parametrize("end, says", [
    (lambda s, token: sign_out(s, token), "You signed out."),
    (lambda s, token: set_role(s, "ann", "reviewer"), "changed your role to reviewer"),
    (lambda s, token: set_disabled(s, "ann"), "disabled by a lead"),
])
def test_a_session_ended_elsewhere_stops_at_the_next_rerun_and_says_why(team, monkeypatch,
                                                                         end, says):
    token = signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py")
    assert "Signed in as **ann** (annotator)" in [c.value for c in at.sidebar.caption]
    end(team, token)
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert says in screen(at)


def test_the_annotator_is_the_signed_in_user_whatever_the_link_or_session_says(
        team, monkeypatch):
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py", annotator="mallory")
    at.query_params["annotator"] = "mallory"
    at.run()
    assert not at.exception, at.exception
    assert not at.text_input  # never asked for a name
    assert at.session_state["annotator"] == "ann"


def test_an_annotator_is_refused_training_with_one_message(team, monkeypatch):
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/models.py")
    assert "This page is for reviewers and leads" in screen(at)
    retrain = next(b for b in at.button if b.label == "Retrain")
    assert retrain.disabled and "Only a lead may do this" in retrain.help
    # a forged or stale page whose button is enabled anyway: al_core still refuses
    monkeypatch.setattr(ui.auth, "may", lambda action: True)
    # nor is the button off for want of labeled train images (refused before it since)
    monkeypatch.setattr("al_core.decide.retrain.retrain_refusal", lambda store: None)
    at.run()
    before_headers = [h.value for h in at.subheader]
    next(b for b in at.button if b.label == "Retrain").click().run()
    assert not at.exception, at.exception
    errors = [read(e.value) for e in at.error]
    assert any(e.startswith("Not allowed: ann is an annotator: only a lead may train")
               for e in errors), errors
    assert not team.models() and not team.jobs()  # nothing was made or started
    # the refusal sits beside its button: the rest of the page is still drawn
    headers = [h.value for h in at.subheader]
    assert headers == before_headers, (headers, before_headers)


def test_the_lead_acts_as_themself_and_sees_every_page(team, monkeypatch):
    token = sign_in(team, "lena", "lead-password-1", address="127.0.0.1").token
    cookie(monkeypatch, token)
    at = open_page("pages/project.py")
    assert not at.exception, at.exception
    assert "Signed in as **lena** (lead)" in [c.value for c in at.sidebar.caption]
    assert "This page is for" not in screen(at)


@pytest.mark.parametrize("email, verified, says", [
    ("ann@lab.example", True, None),
    ("ann@lab.example", False, "has not verified ann@lab.example"),
    ("eve@elsewhere.example", True, "is not mapped to a user of this project"),
])
def test_single_sign_on_maps_a_verified_email_to_a_project_user(team, monkeypatch, email,
                                                                verified, says):
    """``st.login`` itself needs an identity provider: what it hands the app
    (``st.user``) is given here."""
    from al_core.team.accounts import set_email

    set_email(team, "ann", "ann@lab.example")
    cookie(monkeypatch, None)
    monkeypatch.setattr(ui.auth, "sso_configured", lambda: True)
    monkeypatch.setattr(ui.auth.st, "user", {"is_logged_in": True, "email": email,
                                             "email_verified": verified})
    at = open_page("pages/review.py")
    assert not at.exception, at.exception
    at.run()  # the log has one row per tab and identity, not one per rerun
    logged = team.audit_entries(action="signin.sso" if says is None else
                                "signin.sso_refused")
    assert len(logged) == 1 and email in logged[0].summary + (logged[0].actor or "")
    if says is None:
        assert "Signed in as **ann** (annotator)" in [c.value for c in at.sidebar.caption]
        assert [b.label for b in at.sidebar.button] == ["Sign out"]  # st.logout
        assert logged[0].actor == "ann"
    else:
        assert [t.value for t in at.title] == ["Sign in"]
        assert says in screen(at)
        assert "Sign out of single sign-on" in [b.label for b in at.button]
        # the reason is said once: an unverified address is still a user's
        assert "not a user of this project" not in screen(at)


def test_a_signed_in_annotator_reviews_a_whole_batch_in_team_mode(team, monkeypatch):
    """The Review page's saves, skip and previous run in callbacks that open their own
    store: each must act as the signed-in annotator (a store opened as nobody is refused
    in team mode)."""
    from tests.test_review_page import make_selection
    pool = make_selection(team)
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py")
    assert not at.exception, at.exception
    first = at.session_state["rv_item"]
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert "Not allowed" not in screen(at) + "".join(e.value for e in at.error)
    assert [a.author for a in team.annotations([first])[first]] == ["ann"]
    assert team.reviews(item_id=first)[0]["author"] == "ann"
    second = at.session_state["rv_item"]
    at.button(key="rv-skip").click().run()
    assert not at.exception and at.session_state["rv_item"] not in (first, second)
    assert team.audit_entries(actor="ann", action="review.save")
    assert len(pool) >= 3


def test_an_annotator_gets_no_project_setting_controls_on_the_review_page(team, monkeypatch):
    """The project's default threshold is a lead's (al_core: 'query'): an annotator who
    moves their own slider keeps it as their setting and is not offered the project's."""
    from tests.test_review_page import make_selection
    make_selection(team)
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py")
    at.sidebar.slider[0].set_value(0.05).run()
    assert not at.exception, at.exception
    assert team.user_setting("ann", "min_score") == "0.05"
    assert not [b for b in at.button if b.key == "rv-default-score"]


def test_started_without_serve_py_the_sign_in_screen_says_so(team, monkeypatch):
    """``streamlit run app.py`` has no /auth routes: the link would be a 404."""
    cookie(monkeypatch, None)
    monkeypatch.delenv("ALS_SIGNIN_ROUTES")
    at = open_page("pages/review.py")
    assert any("started without its sign-in page" in e.value and "./dev.sh app" in e.value
               for e in at.error)


def test_a_session_ended_under_an_open_editor_says_so_at_the_save_and_keeps_the_boxes(
        team, monkeypatch):
    from tests.test_review_page import draw, make_selection
    make_selection(team)
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py")
    item = at.session_state["rv_item"]
    draw(at, [(team.classes()[1].name, 10, 10, 40, 40)])
    set_role(team, "ann", "reviewer")  # a lead, elsewhere, while the box is unsaved
    at.button(key="rv-save").click().run()
    assert not at.exception, at.exception
    kind, said = at.session_state["rv_msg"]  # shown beside the image
    assert kind == "error" and "new tab" in said
    assert said.startswith("Not saved: A lead changed your role to reviewer")
    assert "--as" not in said and "ALS_USER" not in said  # the CLI's wording, not here
    assert len(at.session_state["rv_work"][item].boxes) == 1  # still on screen
    assert team.annotations([item])[item] == [] or all(
        a.author != "ann" for a in team.annotations([item])[item])


def test_a_reviewer_labeling_from_the_oracle_changes_nothing_when_the_split_is_refused(
        team, monkeypatch):
    add_user(team, "rob", "reviewer-pw-1", "reviewer")
    cookie(monkeypatch, sign_in(team, "rob", "reviewer-pw-1", address="a").token)
    labeled = team.count_items(status="labeled")
    at = open_page("pages/project.py")
    at.button(key="oracle_label").click().run()
    assert not at.exception, at.exception
    assert any("only a lead may split" in e.value for e in at.error)
    assert team.count_items(status="labeled") == labeled  # neither step happened
    assert not team.audit_entries(actor="rob", action="label.oracle")


def test_an_annotator_is_not_offered_to_cancel_a_lead_s_job(team, monkeypatch):
    from al_core.jobs.runner import job_kind  # noqa: F401 - the registry
    team.act_as("lena")
    job = team.add_job("train", {})
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/models.py")
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label == "Cancel"]
    assert any("a lead may cancel it" in c.value for c in at.caption)
    assert team.job(job)["status"] == "queued"


def test_an_annotator_with_no_selection_is_told_a_lead_makes_one(team, monkeypatch):
    signed_in_as_ann(monkeypatch, team)
    at = open_page("pages/review.py")
    assert any("No selection yet" in i.value for i in at.info)
    assert any("A lead makes one on the Query page" in c.value for c in at.caption)
    assert not at.get("page_link") or all(
        "Make one" not in str(p.proto) for p in at.get("page_link"))

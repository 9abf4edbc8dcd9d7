"""The Dashboard page headless (AppTest), signed in through the app's own session path
(``ui.auth.session_cookie`` given a real session's token): a reviewer sees the annotator
table, agreement, selections, queue and throughput with their CSV downloads, whose cells
cannot run as a formula; an annotator at the page's address sees al_core's refusal and
no figure."""
import csv
import io

import pytest

import ui.auth
from al_core.team import accounts
from al_core.team.signin import sign_in
from tests.apptest import open_page, read
from tests.test_team_stats import team, team_template  # noqa: F401 - the known project
from al_core.review.team_stats import Throughput
from ui.dashboard_charts import csv_bytes, duration, throughput_window


@pytest.fixture
def served(team, monkeypatch):  # noqa: F811 - the fixture imported above
    monkeypatch.setenv("ALS_PROJECT", str(team.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")  # as when served through serve.py
    return team


def signed_in(monkeypatch, store, name: str) -> None:
    token = sign_in(store, name, f"{name}-password", address="127.0.0.1").token
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)


def dashboard():
    at = open_page("pages/dashboard.py")
    assert not at.exception, at.exception
    return at


def frames(at) -> dict[str, object]:
    """The page's tables by their first column's name."""
    return {df.value.columns[0]: df.value for df in at.dataframe}


def test_a_reviewer_sees_every_table_and_downloads_them(served, monkeypatch):
    signed_in(monkeypatch, served, "rita")
    at = dashboard()
    assert [t.value for t in at.title] == ["Dashboard"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Waiting for review"] == "1" and metrics["Gold images"] == "1"
    tables = frames(at)
    people = tables["annotator"]
    assert people["annotator"].tolist() == ["ana", "bo", "cy"]
    ana = people.set_index("annotator").loc["ana"]
    assert (ana["images"], ana["first reviews"]) == (3, 3)
    assert ana["returned %"] == pytest.approx(100 / 3)
    assert ana["s per image"] == 6.0
    assert tables["where"]["first"].tolist() == ["ana", "ana"]
    batch = tables["selection"].set_index("selection").loc["batch"]
    assert (batch["approved"], batch["submitted"], batch["assigned"], batch["images"]) == \
        (5, 1, 4, 10)
    day = tables["day"]
    assert day["submitted"].sum() == 7 and day["returned"].sum() == 1
    assert len(at.get("vega_lite_chart")) == 4  # annotators, states, queue, work
    assert {b.proto.label for b in at.get("download_button")} == {"Download CSV"}
    assert len(at.get("download_button")) == 4
    assert not at.warning

    at.selectbox(key="dash_measure").set_value("Gold F1").run()
    assert not at.exception, at.exception


def test_an_annotator_is_kept_off(served, monkeypatch):
    signed_in(monkeypatch, served, "ana")
    at = dashboard()
    said = " ".join(read(w.value) for w in at.warning)
    assert "Not allowed: ana is an annotator: only a reviewer or a lead may read the team's figures" \
        in said
    assert not at.dataframe and not at.metric and not at.get("download_button")
    assert not at.get("vega_lite_chart")


def test_a_user_name_is_a_cell_and_cannot_run_as_a_formula(served, monkeypatch):
    accounts.add_user(served, "=HYPERLINK(1)", "formula-password", "annotator")
    signed_in(monkeypatch, served, "lea")
    at = dashboard()
    assert "=HYPERLINK(1)" in frames(at)["annotator"]["annotator"].tolist()
    rows = list(csv.reader(io.StringIO(csv_bytes(frames(at)["annotator"]).decode(
        "utf-8-sig"), newline="")))
    assert rows[0][:3] == ["annotator", "images", "submissions"]
    assert ["'=HYPERLINK(1)", "0", "0"] == rows[1][:3]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (None, 45, 720, 3 * 3600 + 1800, 2.1 * 86400)] == [
        "—", "45 s", "12 min", "3.5 h", "2.1 days"]


def test_the_throughput_chart_shows_quiet_days_as_zeros():
    from datetime import datetime, timedelta, timezone
    zone = timezone(timedelta(hours=2))
    day = datetime(2026, 12, 7, tzinfo=zone)
    rows = [Throughput(day - timedelta(days=3), submitted=4, approved=1),
            Throughput(day, submitted=2, returned=1)]
    window = throughput_window(rows, "day", day + timedelta(hours=15), periods=5)
    assert [t.isoformat() for t in window["start"]] == [
        f"2026-12-0{d}T00:00:00" for d in range(3, 8)]  # the zone's wall clock
    assert window["submitted"].tolist() == [0, 4, 0, 0, 2]
    assert window["returned"].tolist() == [0, 0, 0, 0, 1]
    hours = throughput_window(rows, "hour", day + timedelta(hours=1, minutes=5), periods=3)
    assert [t.hour for t in hours["start"]] == [23, 0, 1]
    assert hours["submitted"].tolist() == [0, 2, 0]

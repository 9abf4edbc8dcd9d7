"""The command line of team mode: ``users`` (add, list, set-role, disable, enable,
reset-password, set-email), ``--as`` / ``$ALS_USER``, and ``audit``. Passwords come from
``$ALS_PASSWORD`` (or a prompt asked twice) and are found in no table, no output."""
from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from al_core.cli import main
from al_core.cli import users as cli_users
from al_core.store import Store

LEA_PW = "lea-first-Pa55word"
ANA_PW = "ana-first-Pa55word"
ANA_NEW_PW = "ana-second-Pa55word"


def all_text(project: Path) -> str:
    """Every value of every table, as text."""
    conn = sqlite3.connect(project / "project.db")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables
                         for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


@pytest.fixture
def project(store) -> Path:
    store.close()
    return store.root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_users_from_the_command_line(project, capsys, monkeypatch):
    monkeypatch.delenv("ALS_USER", raising=False)
    P = ("--project", project)
    monkeypatch.setenv("ALS_PASSWORD", LEA_PW)
    said = []

    def ok(*argv) -> str:
        code, out, err = run(capsys, *argv)
        said.append(out + err)
        assert code == 0, err
        return out

    def refused(*argv) -> str:
        code, out, err = run(capsys, *argv)
        said.append(out + err)
        assert code == 2 and "Traceback" not in err, (code, err)
        return err

    assert "first user of a project must be a lead" in refused("users", "add", "ana",
                                                               "--role", "annotator", *P)
    assert "added lea as lead" in ok("users", "add", "lea", "--role", "lead", *P)
    # team mode now: a second user needs a lead acting
    assert "--as NAME" in refused("users", "add", "ana", "--role", "annotator", *P)
    monkeypatch.setenv("ALS_PASSWORD", ANA_PW)
    assert "added ana as annotator" in ok("users", "add", "ana", "--role", "annotator",
                                          "--email", "ana@example.org", *P, "--as", "lea")
    listed = json.loads(ok("users", "list", "--json", *P))
    assert [(u["name"], u["role"], u["email"]) for u in listed] == [
        ("lea", "lead", None), ("ana", "annotator", "ana@example.org")]
    assert "annotator" in ok("users", "list", *P)
    assert "ana is an annotator" in refused("users", "set-role", "lea", "reviewer", *P,
                                            "--as", "ana")
    monkeypatch.setenv("ALS_USER", "lea")  # --as by default
    assert "ana: annotator -> reviewer" in ok("users", "set-role", "ana", "reviewer", *P)
    assert "ana disabled" in ok("users", "disable", "ana", *P)
    assert "is disabled" in refused("export", "--format", "coco", "--out",
                                    project.parent / "x.json", *P, "--as", "ana")
    assert "ana enabled" in ok("users", "enable", "ana", *P)
    monkeypatch.setenv("ALS_PASSWORD", ANA_NEW_PW)
    assert "new password set for ana" in ok("users", "reset-password", "ana", *P)
    assert "removed" in ok("users", "set-email", "ana", "", *P)
    assert "last lead" in refused("users", "set-role", "lea", "annotator", *P)

    with Store(project) as store:
        hashes = store.db.execute("SELECT name, password_hash FROM users").fetchall()
        users = {u.name: u for u in store.users()}
        audit = {e.action: e for e in store.audit_entries(limit=None)}
    assert all(h.startswith("$argon2id$") for _, h in hashes) and len(hashes) == 2
    assert users["ana"].role == "reviewer" and not users["ana"].disabled
    text, output = all_text(project), "\n".join(said)
    for password in (LEA_PW, ANA_PW, ANA_NEW_PW):
        assert password not in text and password not in output
    assert audit["user.add"].actor == "lea"  # --as lea
    assert {audit[a].actor for a in ("user.role", "user.disable", "user.enable",
                                     "user.password", "user.email")} == {"lea"}


def test_a_password_is_asked_twice_and_never_taken_from_an_argument(project, capsys,
                                                                    monkeypatch):
    monkeypatch.delenv("ALS_PASSWORD", raising=False)
    with pytest.raises(SystemExit):  # no --password option exists
        main(["users", "add", "lea", "--role", "lead", "--password", LEA_PW,
              "--project", str(project)])
    capsys.readouterr()
    assert "ALS_PASSWORD" in run(capsys, "users", "add", "lea", "--role", "lead",
                                 "--project", project)[2]  # no terminal to ask on

    class Terminal:
        def isatty(self) -> bool:
            return True
    answers = iter([LEA_PW, LEA_PW + "x", LEA_PW, LEA_PW])
    monkeypatch.setattr(cli_users.sys, "stdin", Terminal())
    monkeypatch.setattr(cli_users.getpass, "getpass", lambda prompt: next(answers))
    code, out, err = run(capsys, "users", "add", "lea", "--role", "lead", "--project",
                         project)
    assert code == 2 and "differ" in err
    assert run(capsys, "users", "add", "lea", "--role", "lead", "--project", project)[0] == 0
    with Store(project) as store:
        assert [u.name for u in store.users()] == ["lea"]
    assert LEA_PW not in all_text(project)


@pytest.fixture
def team(project, monkeypatch) -> Path:
    """One lead (lea), acting through $ALS_USER... not set: each test says who acts."""
    monkeypatch.delenv("ALS_USER", raising=False)
    monkeypatch.setenv("ALS_PASSWORD", LEA_PW)
    assert main(["users", "add", "lea", "--role", "lead", "--project", str(project)]) == 0
    return project


def test_the_audit_command_reads_filters_and_writes_csv(team, capsys, tmp_path):
    P = ("--project", team)
    with Store(team, actor="lea") as store:
        store.audit("review.save", summary="=HYPERLINK(\"http://x\")")
    assert "--as NAME" in run(capsys, "audit", *P)[2]
    code, out, _ = run(capsys, "audit", *P, "--as", "lea", "--action", "user.add")
    assert code == 0 and "added lea as lead" in out and "review.save" not in out
    assert "no audit rows match" in run(capsys, "audit", *P, "--as", "lea", "--since",
                                        "2999-01-01")[1]
    assert "not an ISO 8601" in run(capsys, "audit", *P, "--as", "lea", "--since",
                                    "yesterday")[2]
    out_file = tmp_path / "audit.csv"
    assert run(capsys, "audit", *P, "--as", "lea", "--csv", out_file)[0] == 0
    rows = list(csv.DictReader(out_file.open(encoding="utf-8")))
    assert {r["action"] for r in rows} == {"user.add", "review.save"}
    assert all(r["actor"] == "lea" for r in rows)
    # a formula a spreadsheet would run is written as text
    assert next(r for r in rows if r["action"] == "review.save")["summary"].startswith("'=")
    with Store(team) as store:  # the download itself is on record
        assert store.audit_entries(limit=1)[0].action == "audit.export"


def test_the_audit_log_refuses_updates_and_deletes(team):
    conn = sqlite3.connect(team / "project.db")
    try:
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises((sqlite3.IntegrityError, sqlite3.OperationalError),
                               match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor FROM audit_log").fetchall() == [("lea",)]
    finally:
        conn.close()


def test_as_is_recorded_as_the_actor_of_a_change(team, capsys):
    code, _, err = run(capsys, "split", "--project", team, "--as", "lea")
    assert code == 0, err
    with Store(team) as store:
        entry = store.audit_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("split.assign", "lea")
    code, _, err = run(capsys, "split", "--project", team, "--as", "nobody-here")
    assert code == 2 and "'nobody-here' is not a user of this project" in err

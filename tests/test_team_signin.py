"""Team mode's accounts, passwords, throttled sign-in and server-side sessions
(al_core.team), called directly."""
from __future__ import annotations

import sqlite3

import pytest
from argon2 import PasswordHasher

from al_core.permissions import ACTIONS, PermissionDenied, permission_table_markdown
from al_core.store import Store
from al_core.team import accounts, passwords, signin
from al_core.team.accounts import AccountError
from al_core.team.signin import SignInRefused, session_user, sign_in, sign_out
from al_core.team.sso import sso_user

PW_LEAD = "lead-secret-Ωmega"
PW_ANA = "ana-Pa55word-xyz"
T0 = 1_900_000_000.0  # a fixed wall clock for the throttling and expiry tests


@pytest.fixture
def team(tmp_path) -> Store:
    """A project with a lead (lea) and an annotator (ana); the store acts as lea."""
    store = Store(tmp_path / "p", create=True)
    accounts.add_user(store, "lea", PW_LEAD, "lead")
    store.act_as("lea")
    accounts.add_user(store, "ana", PW_ANA, "annotator", email="ana@example.org")
    yield store
    store.close()


def _all_text(store: Store) -> str:
    """Every value of every table, as one text (to look for a password in it)."""
    parts = []
    for (table,) in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for row in store.db.execute(f"SELECT * FROM [{table}]"):
            parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_the_first_user_turns_team_mode_on_and_must_be_a_lead(tmp_path):
    store = Store(tmp_path / "p", create=True)
    assert not store.team_mode() and store.authorize("train").role == "lead"
    with pytest.raises(AccountError, match="first user .* must be a lead"):
        accounts.add_user(store, "ana", PW_ANA, "annotator")
    assert not store.team_mode()
    accounts.add_user(store, "lea", PW_LEAD, "lead")
    assert store.team_mode()
    with pytest.raises(PermissionDenied, match="needs a project user"):
        store.authorize("label")  # nobody acting in team mode: refused
    with pytest.raises(PermissionDenied):
        accounts.add_user(store, "eve", "eve-password", "lead")  # nobody may add now


def test_passwords_are_argon2id_hashes_and_appear_nowhere(team, caplog):
    caplog.set_level("DEBUG")
    sign_in(team, "ana", PW_ANA, address="10.0.0.1")
    with pytest.raises(SignInRefused) as refused:
        sign_in(team, "ana", PW_LEAD, address="10.0.0.1")
    accounts.reset_password(team, "ana", "a-new-password-1")
    hashes = [r[0] for r in team.db.execute("SELECT password_hash FROM users")]
    assert all(h.startswith("$argon2id$v=19$") for h in hashes)
    # at least OWASP's Argon2id minimum (19 MiB, t=2, p=1)
    params = PasswordHasher.from_parameters(
        __import__("argon2").extract_parameters(hashes[0]))
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    text = _all_text(team) + caplog.text + str(refused.value)
    for secret in (PW_LEAD, PW_ANA, "a-new-password-1"):
        assert secret not in text


@pytest.mark.parametrize("bad, why", [("Qz7!k", "too short"), ("Qz7!" * 300, "too long"),
                                      (" Qz7!kpadded ", "space"), (None, "text")])
def test_bad_new_passwords_are_refused_without_being_repeated(team, bad, why):
    with pytest.raises(ValueError, match=why) as exc:
        accounts.add_user(team, "bob", bad, "reviewer")
    assert bad is None or bad.strip() not in str(exc.value)
    assert team.user("bob") is None


def test_a_hash_made_with_other_parameters_is_replaced_at_the_next_sign_in(team,
                                                                          monkeypatch):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    ana = team.user("ana")
    team.update_user(ana.id, password_hash=weak.hash(PW_ANA))
    assert passwords.needs_rehash(team.password_hash(ana.id))
    sign_in(team, "ana", PW_ANA, address="10.0.0.1")
    stored = team.password_hash(ana.id)
    assert not passwords.needs_rehash(stored) and "m=65536,t=3,p=4" in stored
    assert passwords.verify_password(stored, PW_ANA)


def test_sign_in_gives_a_new_session_id_each_time_stored_only_as_a_hash(team):
    first = sign_in(team, "ana", PW_ANA, address="10.0.0.1")
    second = sign_in(team, "ana", PW_ANA, address="10.0.0.1")
    assert first.token != second.token and len(first.token) >= 43  # 256 bits, base64
    stored = [r[0] for r in team.db.execute("SELECT token_hash FROM sessions")]
    assert signin.token_hash(first.token) in stored and first.token not in _all_text(team)
    assert session_user(team, first.token)[0].name == "ana"


def test_wrong_name_and_wrong_password_get_the_same_answer_and_are_audited(team):
    for name, password in (("ana", "wrong-password"), ("nobody", PW_ANA)):
        with pytest.raises(SignInRefused, match="^wrong name or password$"):
            sign_in(team, name, password, address="10.0.0.9")
    failed = team.audit_entries(action="signin.failed")
    assert [e.actor for e in failed] == [None, None]  # the one failing is not known
    assert [e.summary for e in failed] == [
        "sign-in with a name that is no user from 10.0.0.9 failed: unknown name",
        "sign-in as ana from 10.0.0.9 failed: wrong password"]


def test_the_sixth_wrong_password_in_a_minute_waits_and_the_wait_grows(team):
    for k in range(5):
        with pytest.raises(SignInRefused, match="wrong name"):
            sign_in(team, "ana", "wrong-password", address="10.0.0.2", now_s=T0 + k)
    # the 6th try, a few seconds later, waits; the right password does not help
    with pytest.raises(SignInRefused, match="try again in 1[0-9]\u00a0s") as sixth:
        sign_in(team, "ana", PW_ANA, address="10.0.0.2", now_s=T0 + 6)
    assert 0 < sixth.value.retry_after_s <= signin.FIRST_WAIT_S
    # ... in any case: "ANA" is the same account (each case is no new 5 tries)
    with pytest.raises(SignInRefused, match="try again"):
        sign_in(team, "ANA", PW_ANA, address="10.0.0.2", now_s=T0 + 6)
    # from another address ana is not held up by this one's failures (a stranger's
    # failures do not lock the real user out) ...
    assert sign_in(team, "ana", PW_ANA, address="10.0.0.3", now_s=T0 + 6).user.name == "ana"
    # after the wait one more try is checked; failing it doubles the next wait
    with pytest.raises(SignInRefused, match="wrong name"):
        sign_in(team, "ana", "wrong-again", address="10.0.0.2", now_s=T0 + 20)
    assert signin.throttle_wait(team, "ana", "10.0.0.2", now_s=T0 + 20) == pytest.approx(30)
    # ... until the account fails 20 times in the window from anywhere (a guesser with
    # many addresses): then every address waits, capped, never locked out for good
    for k in range(14):
        team.record_signin_failure("ana", f"10.9.0.{k}", T0 + 21 + k)
    assert 0 < signin.throttle_wait(team, "ana", "10.0.0.4", now_s=T0 + 35) \
        <= signin.MAX_ACCOUNT_WAIT_S
    assert sign_in(team, "ana", PW_ANA, address="10.0.0.4",
                   now_s=T0 + 35 + signin.MAX_ACCOUNT_WAIT_S).user.name == "ana"
    # refused tries during a wait are not counted as failures
    assert len(team.signin_failures(account="ana", since_s=0)) == 20


def test_a_clock_set_back_never_makes_a_wait_longer_than_its_cap(team):
    for k in range(9):
        team.record_signin_failure("ana", "10.0.0.2", T0 + k)
    # the clock jumps back a day: the recorded failures are "in the future"
    wait = signin.throttle_wait(team, "ana", "10.0.0.2", now_s=T0 - 86400)
    assert 0 < wait <= signin.MAX_ACCOUNT_WAIT_S


def test_a_lead_resetting_the_password_clears_the_throttle(team):
    for k in range(8):
        team.record_signin_failure("ana", "10.0.0.5", T0 + k)
    assert signin.throttle_wait(team, "ana", "10.0.0.5", now_s=T0 + 9) > 0
    accounts.reset_password(team, "ana", "fresh-password-2")
    assert signin.throttle_wait(team, "ana", "10.0.0.5", now_s=T0 + 9) == 0
    assert sign_in(team, "ana", "fresh-password-2", address="10.0.0.5",
                   now_s=T0 + 9).user.name == "ana"


def test_an_address_trying_many_accounts_is_throttled(team):
    for k in range(signin.FREE_ADDRESS_FAILURES):
        team.record_signin_failure(f"guess{k}", "6.6.6.6", T0 + k)
    assert signin.throttle_wait(team, "ana", "6.6.6.6", now_s=T0 + 30) > 0
    assert signin.throttle_wait(team, "ana", "10.0.0.1", now_s=T0 + 30) == 0


def test_sessions_end_when_idle_at_their_absolute_expiry_and_at_sign_out(team):
    new = sign_in(team, "ana", PW_ANA, address="a", now_s=T0)
    assert session_user(team, new.token, now_s=T0 + 10)[0] is not None
    assert session_user(team, new.token, now_s=T0 + signin.IDLE_S + 1) == (None, "expired")
    # use keeps it alive past one idle period, not past the absolute expiry
    kept = sign_in(team, "ana", PW_ANA, address="a", now_s=T0)
    step = signin.IDLE_S - 60
    at = T0
    while at + step < T0 + signin.ABSOLUTE_S:
        at += step
        assert session_user(team, kept.token, now_s=at)[0] is not None
    assert session_user(team, kept.token, now_s=T0 + signin.ABSOLUTE_S)[1] == "expired"
    out = sign_in(team, "ana", PW_ANA, address="a")
    assert sign_out(team, out.token) and session_user(team, out.token) == (None, "signed out")
    assert not sign_out(team, out.token)  # a replay of the sign-out does nothing
    assert session_user(team, "forged-token") == (None, "no session")
    assert session_user(team, "x" * 10_000) == (None, "no session")


@pytest.mark.parametrize("change, reason", [
    (lambda s: accounts.set_role(s, "ana", "reviewer"), "role changed to reviewer"),
    (lambda s: accounts.set_disabled(s, "ana"), "user disabled"),
    (lambda s: accounts.reset_password(s, "ana", "another-password"), "password reset"),
])
def test_role_change_disable_and_reset_end_the_users_sessions_at_once(team, change, reason):
    new = sign_in(team, "ana", PW_ANA, address="a")
    change(team)
    assert session_user(team, new.token) == (None, reason)


def test_the_last_lead_cannot_be_demoted_or_disabled_nor_disable_themselves(team):
    with pytest.raises(AccountError, match="last lead"):
        accounts.set_role(team, "lea", "annotator")
    with pytest.raises(AccountError, match="last enabled lead"):
        accounts.set_disabled(team, "lea")
    accounts.add_user(team, "leo", "leo-password", "lead")
    with pytest.raises(AccountError, match="yourself"):
        accounts.set_disabled(team, "lea")
    accounts.set_role(team, "lea", "reviewer")  # another lead exists now
    with pytest.raises(PermissionDenied, match="lea is a reviewer"):
        accounts.add_user(team, "bob", "bob-password", "annotator")


def test_duplicate_names_and_emails_are_refused(team):
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user(team, " ana ", "another-password", "reviewer")
    with pytest.raises(ValueError, match="e-mail"):
        accounts.add_user(team, "bob", "bob-password", "reviewer", email="ANA@example.org")
    with pytest.raises(AccountError, match="not an e-mail"):
        accounts.set_email(team, "ana", "no-at-sign")


def test_sso_maps_a_verified_email_to_an_enabled_user(team):
    assert sso_user(team, "Ana@Example.org", verified=True)[0].name == "ana"
    assert sso_user(team, "ana@example.org", verified="true")[0].name == "ana"
    for claim in (False, None, "false", 0, 1, "yes"):  # only a clear true counts
        assert sso_user(team, "ana@example.org", verified=claim)[0] is None, claim
    assert "ALS_SSO_TRUST_EMAIL" in sso_user(team, "ana@example.org")[1]
    assert sso_user(team, "ana@example.org", trust_unverified=True)[0].name == "ana"
    assert "not mapped" in sso_user(team, "eve@example.org", verified=True)[1]
    accounts.set_disabled(team, "ana")
    assert sso_user(team, "ana@example.org", verified=True) == (None,
                                                                "user ana is disabled")


def test_user_changes_and_sign_ins_are_in_the_audit_log(team):
    sign_in(team, "ana", PW_ANA, address="10.1.1.1")
    accounts.set_role(team, "ana", "reviewer")
    actions = [e.action for e in team.audit_entries()]
    assert actions[:4] == ["user.role", "signin", "user.add", "user.add"]
    role = team.audit_entries(action="user.role")[0]
    assert role.actor == "lea" and '"annotator"' in role.before and '"reviewer"' in role.after


def test_the_audit_log_refuses_updates_and_deletes(team):
    team.audit("export", summary="x")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        team.db.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        team.db.execute("DELETE FROM audit_log")
    assert team.audit_entries(action="export")[0].actor == "lea"


def test_refusals_name_the_user_the_role_and_who_may(team):
    team.act_as("ana")
    with pytest.raises(PermissionDenied, match="ana is an annotator: only a lead may train"):
        team.authorize("train")
    assert team.authorize("label").name == "ana"
    with pytest.raises(ValueError, match="unknown action"):
        team.authorize("trian")
    team.act_as("ghost")
    with pytest.raises(PermissionDenied, match="not a user"):
        team.authorize("label")


def test_the_permission_table_covers_every_action_once():
    table = permission_table_markdown()
    assert all(f"| `{a}` |" in table for a in ACTIONS)
    assert table.count("\n") == len(ACTIONS) + 1


def test_a_password_is_one_password_in_any_unicode_form_and_names_in_any_case(team):
    composed, decomposed = "p\u00e4ssw\u00f6rd-\u65e5\u672c", "pa\u0308sswo\u0308rd-\u65e5\u672c"
    accounts.add_user(team, "Zoë", composed, "annotator")
    assert sign_in(team, "zoë", decomposed, address="a").user.name == "Zoë"
    with pytest.raises(AccountError, match="differ only in case"):
        accounts.add_user(team, "ZOË", "another-password", "annotator")


def test_a_disabled_user_with_the_right_password_is_told_the_account_is_disabled(team):
    accounts.set_disabled(team, "ana")
    with pytest.raises(SignInRefused, match="account is disabled"):
        sign_in(team, "ana", PW_ANA, address="a")
    with pytest.raises(SignInRefused, match="^wrong name or password$"):
        sign_in(team, "ana", "not-her-password", address="a")  # no probing for names


def test_throttling_keys_never_store_what_was_typed_and_ipv6_counts_by_network(team):
    """A password typed into the name field must not land in the database; an IPv6
    client picks any address of its /64, which counts as one."""
    secret = "my-Secret-Passw0rd"
    for k in range(3):
        with pytest.raises(SignInRefused):
            sign_in(team, secret, PW_ANA, address=f"2001:db8::{k + 1}", now_s=T0 + k)
    assert secret not in _all_text(team) and secret.casefold() not in _all_text(team)
    assert len(team.signin_failures(address="2001:db8::/64", since_s=0)) == 3
    assert signin.address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert signin.address_key("<script>") == "<script>"  # shown as text, not parsed


def test_a_storm_of_throttled_tries_writes_one_audit_row_a_minute(team):
    for k in range(6):
        team.record_signin_failure("ana", "10.0.0.2", T0 + k)
    for k in range(30):
        with pytest.raises(SignInRefused, match="try again"):
            sign_in(team, "ana", "x", address="10.0.0.2", now_s=T0 + 7 + k / 10)
    assert len(team.audit_entries(action="signin.throttled")) == 1
    # and failures past the window are dropped at the next failure
    with pytest.raises(SignInRefused, match="wrong name"):
        sign_in(team, "ana", "x", address="10.0.0.9", now_s=T0 + signin.WINDOW_S + 100)
    assert len(team.signin_failures(account="ana", since_s=0)) == 1


def test_a_rehash_never_applies_the_rules_for_new_passwords(team):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    ana = team.user("ana")
    team.update_user(ana.id, password_hash=weak.hash("short"))  # set under older rules
    assert sign_in(team, "ana", "short", address="a").user.name == "ana"
    assert not passwords.needs_rehash(team.password_hash(ana.id))


def test_acting_as_a_name_in_another_case_is_that_user(team):
    team.act_as("ANA")
    assert team.authorize("label").name == "ana"
    assert team.own_name("Ana") == "ana"  # recorded under the stored name
    assert accounts.set_role(Store(team.root, actor="LEA"), "Ana", "reviewer").role == \
        "reviewer"

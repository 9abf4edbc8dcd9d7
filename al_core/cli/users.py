"""CLI commands of team mode: ``users`` (add, list, set-role, disable, enable,
reset-password, set-email) and ``audit``.

A password is read from ``$ALS_PASSWORD`` or asked for twice on the terminal, never
taken from an argument (it would stay in the shell's history and in ``ps``), and never
printed. Who may do what is :mod:`al_core.permissions`; the checks are the library's
(:mod:`al_core.team.accounts`, :meth:`al_core.store.Store.authorize`).
"""
from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import datetime, timezone

from al_core.cli.console import open_store
from al_core.names import normalize_name, printable
from al_core.permissions import a_role
from al_core.team import accounts
from al_core.team.audit_csv import audit_csv

PASSWORD_ENV = "ALS_PASSWORD"


def new_password(name: str) -> str:
    """``$ALS_PASSWORD``, else asked twice without echo (they must match)."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    if not sys.stdin.isatty():
        raise ValueError(f"no password: set {PASSWORD_ENV} or run this in a terminal to be "
                         "asked for one")
    first = getpass.getpass(f"new password for {printable(name, 60)}: ")
    second = getpass.getpass("the same again: ")
    if first != second:
        raise ValueError("the two passwords differ; nothing was changed")
    return first


def _user_line(user) -> str:
    return (f"{printable(user.name, 60):<24} {user.role:<10} "
            f"{printable(user.email or '-', 60):<32} "
            f"{'disabled' if user.disabled else 'enabled':<9} {user.created}")


def cmd_add(args) -> int:
    store = open_store(args)
    first = not store.team_mode()
    password = new_password(args.name)
    user = accounts.add_user(store, args.name, password, args.role, email=args.email)
    print(f"added {printable(user.name, 60)} as {user.role}"
          + (f" <{printable(user.email, 60)}>" if user.email else ""))
    if first:
        print("team mode is on: from now on every change to this project names its user "
              "(--as NAME or $ALS_USER on the command line, signing in in the app)")
    return 0


def cmd_list(args) -> int:
    """A read, open to anyone who can run the command (as ``status`` is)."""
    store = open_store(args)
    users = store.users()
    if args.json:
        print(json.dumps([{"name": u.name, "role": u.role, "email": u.email,
                           "disabled": u.disabled, "created": u.created} for u in users]))
        return 0
    if not users:
        print("no users: the project is in single-user mode (`users add NAME --role lead` "
              "turns team mode on)")
        return 0
    print(f"{'name':<24} {'role':<10} {'e-mail':<32} {'state':<9} created")
    for user in users:
        print(_user_line(user))
    return 0


def _current(store, name: str):
    """The user as they are before a change (None: unknown, which the change names)."""
    try:
        return store.user(normalize_name(name, kind="person"))
    except ValueError:
        return None


def cmd_set_role(args) -> int:
    store = open_store(args)
    before = _current(store, args.name)
    user = accounts.set_role(store, args.name, args.role)
    if before is not None and before.role == user.role:
        print(f"{printable(user.name, 60)} is already {a_role(user.role)}; nothing changed")
    else:
        print(f"{printable(user.name, 60)}: {before.role if before else '?'} -> {user.role} "
              "(their open sessions ended)")
    return 0


def _set_disabled(args, disabled: bool) -> int:
    store = open_store(args)
    before = _current(store, args.name)
    user = accounts.set_disabled(store, args.name, disabled)
    state = "disabled" if disabled else "enabled"
    if before is not None and before.disabled == disabled:
        print(f"{printable(user.name, 60)} is already {state}; nothing changed")
    else:
        print(f"{printable(user.name, 60)} {state}"
              + (" (their open sessions ended)" if disabled else ""))
    return 0


def cmd_disable(args) -> int:
    return _set_disabled(args, True)


def cmd_enable(args) -> int:
    return _set_disabled(args, False)


def cmd_reset_password(args) -> int:
    store = open_store(args)
    store.authorize("manage_users")  # before asking for a password
    user = accounts.reset_password(store, args.name, new_password(args.name))
    print(f"new password set for {printable(user.name, 60)} (their open sessions ended)")
    return 0


def cmd_set_email(args) -> int:
    store = open_store(args)
    user = accounts.set_email(store, args.name, args.email or None)
    print(f"{printable(user.name, 60)}: e-mail "
          + (f"set to {printable(user.email, 60)}" if user.email else "removed"))
    return 0


def since_utc(text: str | None) -> str | None:
    """``--since`` as the log's timestamps are written (UTC, ISO 8601, seconds); a time
    without a zone is read as UTC. ValueError naming it when it is not a date."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {printable(text, 40)!r} is not an ISO 8601 date or time "
                         "(e.g. 2026-12-01 or 2026-12-01T09:00:00)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def cmd_audit(args) -> int:
    store = open_store(args)
    store.authorize("read_audit")
    filters = {"actor": args.actor, "action": args.action, "since": since_utc(args.since)}
    if args.csv is not None:
        rows = store.audit_entries(**filters, limit=None)
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        args.csv.write_bytes(audit_csv(rows))  # the Team page's format
        store.audit("audit.export", object_type="audit_log",
                    summary=f"downloaded {len(rows)} audit rows as CSV",
                    after={k: v for k, v in filters.items() if v is not None} or None)
        print(f"wrote {len(rows)} audit rows to {printable(args.csv, None)}")
        return 0
    rows = store.audit_entries(**filters, limit=args.limit)
    if not rows:
        print("no audit rows" + (" match" if any(filters.values()) else " yet"))
    for r in rows:
        obj = f"{r.object_type or ''}{' #' + r.object_id if r.object_id else ''}"
        print(f"{r.at}  {printable(r.actor or '-', 40):<16} {r.action:<22} {obj:<16} "
              f"{printable(r.summary, None)}")
    return 0

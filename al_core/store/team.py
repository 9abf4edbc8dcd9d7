"""Team mode's tables: users, sign-in sessions, failed sign-ins and the audit log; and
the acting user of this :class:`~al_core.store.Store` with the one permission check
(:meth:`TeamMixin.authorize`) every operation that changes the project calls.

The rules (who may do what) are in :mod:`al_core.permissions`; password hashing,
throttling and sessions' lifetimes in :mod:`al_core.team`. This module only stores.
"""
from __future__ import annotations

import json
import sqlite3

from al_core.names import normalize_name, printable
from al_core.permissions import ACTIONS, PermissionDenied, a_role, allowed, as_verb, who_may
from al_core.store.rows import now
from al_core.types import Actor, AuditEntry, TeamUser

SUMMARY_CHARS = 500
ACTING = object()  # audit()'s default actor: the store's acting user
DETAIL_CHARS = 2000
_USER_COLUMNS = "id, name, role, email, disabled, created"


def _user(row) -> TeamUser:
    return TeamUser(id=row[0], name=row[1], role=row[2], email=row[3],
                    disabled=bool(row[4]), created=row[5])


def _detail(value) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           default=str)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 3] + "..."


class TeamMixin:
    """Users, sessions, sign-in failures, the audit log, and the acting user."""

    actor_name: str | None = None

    # -- the acting user ----------------------------------------------------------------
    def act_as(self, name: str | None) -> "TeamMixin":
        """Set who performs this store's operations (a project user's name; None: nobody,
        which team mode refuses for every change). Checked at each operation, not here:
        a role changed or a user disabled meanwhile counts at once."""
        self.actor_name = name
        return self

    def team_mode(self) -> bool:
        """True once the project has a user (enabled or not)."""
        return self.db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def actor(self) -> Actor:
        """The acting user as the permission check sees them now: in single-user mode a
        lead named by :meth:`act_as` (or None); in team mode the project user, or
        PermissionDenied when nobody or an unknown or disabled user is acting."""
        if not self.team_mode():
            return Actor(name=self.actor_name, role="lead")
        if self.actor_name is None:
            raise PermissionDenied(
                "this project has users (team mode): a change needs a project user, "
                "signed in to the app, or named on the command line with --as NAME (or "
                "ALS_USER)")
        user = self.user(self.actor_name) or next(  # --as Ana is ana, as at sign-in
            (u for u in self.users() if u.name.casefold() == self.actor_name.casefold()),
            None)
        if user is None:
            raise PermissionDenied(f"{printable(self.actor_name, 60)!r} is not a user of "
                                   "this project")
        if user.disabled:
            raise PermissionDenied(f"user {printable(user.name, 60)!r} is disabled")
        return Actor(name=user.name, role=user.role, user=user)

    def authorize(self, action: str) -> Actor:
        """The acting user, if their role may perform ``action`` (a key of
        :data:`al_core.permissions.ACTIONS`); else PermissionDenied naming the user, the
        role and who may. Always allowed in single-user mode."""
        actor = self.actor()
        if not allowed(actor.role, action):
            raise PermissionDenied(
                f"{printable(actor.name, 60)} is {a_role(actor.role)}: only "
                f"{who_may(action)} may {as_verb(action)} "
                f"({ACTIONS[action][1]})")
        return actor

    def own_name(self, given: str | None, *, what: str = "the name") -> str | None:
        """The person a change is recorded under (a review's author, a decision's
        ``decided_by``, a lease's holder). Single-user mode: ``given`` as the caller gave
        it. Team mode: the acting user's name; ``given`` may only repeat it (None stands
        for it), another name is PermissionDenied: nobody acts in another's name."""
        if not self.team_mode():
            return given
        actor = self.actor()
        if given is None:
            return actor.name
        try:
            same = normalize_name(given, kind="person").casefold() == actor.name.casefold()
        except ValueError:
            same = False
        if not same:
            raise PermissionDenied(
                f"{printable(actor.name, 60)} is acting: {what} cannot be "
                f"{printable(str(given), 60)!r} (in team mode a change is recorded under "
                "the acting user's name)")
        return actor.name

    # -- users --------------------------------------------------------------------------
    def users(self) -> list[TeamUser]:
        return [_user(r) for r in self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")]

    def user(self, name: str) -> TeamUser | None:
        row = self.db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?",
                              [name]).fetchone()
        return _user(row) if row else None

    def user_by_id(self, user_id: int) -> TeamUser | None:
        row = self.db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?",
                              [user_id]).fetchone()
        return _user(row) if row else None

    def user_by_email(self, email: str) -> TeamUser | None:
        row = self.db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = "
                              "lower(?)", [email]).fetchone()
        return _user(row) if row else None

    def count_leads(self, *, enabled: bool = True) -> int:
        sql = "SELECT count(*) FROM users WHERE role = 'lead'"
        return self.db.execute(sql + (" AND disabled = 0" if enabled else "")).fetchone()[0]

    def insert_user(self, name: str, role: str, password_hash: str,
                    email: str | None = None) -> TeamUser:
        stamp = now()
        try:
            cur = self.db.execute(
                "INSERT INTO users (name, role, password_hash, email, created, changed) "
                "VALUES (?, ?, ?, ?, ?, ?)", [name, role, password_hash, email, stamp, stamp])
        except sqlite3.IntegrityError as exc:
            what = "e-mail" if "email" in str(exc) else "name"
            raise ValueError(f"a user with this {what} already exists") from None
        return self.user_by_id(cur.lastrowid)

    def update_user(self, user_id: int, **fields) -> None:
        """Set ``role``, ``disabled``, ``email`` or ``password_hash``."""
        bad = set(fields) - {"role", "disabled", "email", "password_hash"}
        if bad:
            raise ValueError(f"not a user field: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        try:
            self.db.execute(f"UPDATE users SET {sets}, changed = ? WHERE id = ?",
                            [*fields.values(), now(), user_id])
        except sqlite3.IntegrityError as exc:
            raise ValueError("another user has this e-mail" if "email" in str(exc) else
                             f"the change breaks a rule of the users table ({exc})") from None

    def password_hash(self, user_id: int) -> str | None:
        row = self.db.execute("SELECT password_hash FROM users WHERE id = ?",
                              [user_id]).fetchone()
        return row[0] if row else None

    # -- sessions -----------------------------------------------------------------------
    def insert_session(self, token_hash: str, user_id: int, *, created: str,
                       idle_expires: str, absolute_expires: str, address: str | None) -> int:
        stamp = created
        return self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, created, last_seen, idle_expires, "
            "absolute_expires, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [token_hash, user_id, stamp, stamp, idle_expires, absolute_expires,
             address]).lastrowid

    def session_row(self, token_hash: str) -> dict | None:
        cur = self.db.execute("SELECT * FROM sessions WHERE token_hash = ?", [token_hash])
        row = cur.fetchone()
        return dict(zip([c[0] for c in cur.description], row)) if row else None

    def touch_session(self, session_id: int, *, last_seen: str, idle_expires: str) -> None:
        self.db.execute("UPDATE sessions SET last_seen = ?, idle_expires = ? WHERE id = ? "
                        "AND revoked IS NULL", [last_seen, idle_expires, session_id])

    def revoke_session(self, token_hash: str, why: str) -> bool:
        cur = self.db.execute("UPDATE sessions SET revoked = ?, revoked_why = ? WHERE "
                              "token_hash = ? AND revoked IS NULL", [now(), why, token_hash])
        return cur.rowcount > 0

    def revoke_user_sessions(self, user_id: int, why: str) -> int:
        """End every open session of the user at once; how many were open."""
        cur = self.db.execute("UPDATE sessions SET revoked = ?, revoked_why = ? WHERE "
                              "user_id = ? AND revoked IS NULL", [now(), why, user_id])
        return cur.rowcount

    def open_sessions(self, user_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM sessions WHERE user_id = ? AND "
                               "revoked IS NULL AND idle_expires > ? AND absolute_expires "
                               "> ?", [user_id, now(), now()]).fetchone()[0]

    # -- failed sign-ins ----------------------------------------------------------------
    def record_signin_failure(self, account: str, address: str, at_s: float) -> None:
        self.db.execute("INSERT INTO signin_failures (account, address, at, at_s) VALUES "
                        "(?, ?, ?, ?)", [account, address, now(), at_s])

    def signin_failures(self, *, account: str | None = None, address: str | None = None,
                        since_s: float) -> list[float]:
        """The wall-clock seconds of the failures since ``since_s`` for the account, the
        client address, or (both given) the pair, oldest first."""
        where = [f"{c} = ?" for c, v in (("account", account), ("address", address))
                 if v is not None]
        args = [v for v in (account, address) if v is not None]
        return [r[0] for r in self.db.execute(
            f"SELECT at_s FROM signin_failures WHERE {' AND '.join(where)} AND at_s >= ? "
            "ORDER BY at_s", [*args, since_s])]

    def forget_signin_failures_before(self, before_s: float) -> None:
        """Drop failures older than the throttle's window (they count for nothing)."""
        self.db.execute("DELETE FROM signin_failures WHERE at_s < ?", [before_s])

    def clear_signin_failures(self, account: str) -> None:
        self.db.execute("DELETE FROM signin_failures WHERE account = ?", [account])

    # -- audit log ----------------------------------------------------------------------
    def audit(self, action: str, *, object_type: str | None = None, object_id=None,
              summary: str = "", before=None, after=None, actor=ACTING) -> None:
        """Append one row to the audit log: now, the acting user (or ``actor``; None:
        nobody known, e.g. a failed sign-in), what was done to which object, a short
        summary and short before/after texts (dicts are stored as JSON). Rows are never
        changed or deleted (the triggers refuse)."""
        self.db.execute(
            "INSERT INTO audit_log (at, actor, action, object_type, object_id, summary, "
            "before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [now(), self.actor_name if actor is ACTING else actor, action, object_type,
             None if object_id is None else str(object_id),
             str(summary)[:SUMMARY_CHARS], _detail(before), _detail(after)])

    def audit_entries(self, *, actor: str | None = None, action: str | None = None,
                      since: str | None = None, until: str | None = None,
                      object_id: str | None = None,
                      limit: int | None = 500, offset: int = 0) -> list[AuditEntry]:
        """Audit rows, newest first, filtered by actor, action and an ISO time range
        (``since`` inclusive, ``until`` exclusive); ``limit`` None for all."""
        where, args = [], []
        for column, op, value in (("actor", "=", actor), ("action", "=", action),
                                  ("at", ">=", since), ("at", "<", until),
                                  ("object_id", "=", object_id)):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = ("SELECT id, at, actor, action, object_type, object_id, summary, before, "
               "after FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY id DESC")
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        return [AuditEntry(*r) for r in self.db.execute(sql, args)]

    def audit_facets(self) -> tuple[list[str], list[str]]:
        """The actors and the actions the log holds (for filters)."""
        actors = [r[0] for r in self.db.execute(
            "SELECT DISTINCT actor FROM audit_log WHERE actor IS NOT NULL ORDER BY 1")]
        actions = [r[0] for r in self.db.execute(
            "SELECT DISTINCT action FROM audit_log ORDER BY 1")]
        return actors, actions

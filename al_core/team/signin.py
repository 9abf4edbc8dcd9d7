"""Signing in with a name and password, throttled, into a session kept on the server.

- **Sessions** are rows of the ``sessions`` table. Their id is 256 random bits
  (:func:`secrets.token_urlsafe`), handed to the browser once (as an HttpOnly cookie,
  :data:`COOKIE_NAME`) and stored only as its SHA-256, so a copy of the database does not
  let anyone in. Each sign-in makes a new id. A session ends when it is idle for
  :data:`IDLE_S`, at :data:`ABSOLUTE_S` after sign-in whatever its use, at sign-out, and
  when its user is disabled, changes role or gets a new password
  (:mod:`al_core.team.accounts`).
- **Throttling** (OWASP Authentication Cheat Sheet: a growing delay, not a lock-out):
  each failed sign-in is recorded with its account name and client address. After
  :data:`FREE_FAILURES` failures of an account within :data:`WINDOW_S` the next try must
  wait, 15 s, then 30 s, doubling up to :data:`MAX_ACCOUNT_WAIT_S`; an address gets more
  free tries (a shared office address) and waits up to :data:`MAX_ADDRESS_WAIT_S`. A
  try during the wait is refused without checking the password and is not counted, so a
  stranger can slow an account down to one try a minute but never lock it for good, and
  a lead's password reset clears its failures.
- Failures are answered with the same message whether the name exists or not, after
  the same hashing work (:func:`al_core.team.passwords.verify_password`).

Wall-clock jumps: waits are computed from recorded wall-clock seconds and capped, so a
clock set back makes a wait at most its cap, never endless.
"""
from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from al_core.clock import wall_time
from al_core.names import normalize_name, printable
from al_core.store import Store
from al_core.team.passwords import needs_rehash, rehash_password, verify_password
from al_core.types import TeamUser

COOKIE_NAME = "als_session"
IDLE_S = 8 * 3600        # a working day without a click ends the session
ABSOLUTE_S = 7 * 86400   # and a week ends it whatever its use
TOUCH_EVERY_S = 60       # last_seen is written at most once a minute per session
WINDOW_S = 15 * 60
FREE_FAILURES = 5        # per account and address in the window: the 6th try waits
FREE_ACCOUNT_FAILURES = 20  # per account from all addresses (a guesser with many)
FREE_ADDRESS_FAILURES = 20  # per address over all accounts (one guesser, many names)
FIRST_WAIT_S = 15.0
MAX_ACCOUNT_WAIT_S = 60.0
MAX_ADDRESS_WAIT_S = 600.0
MAX_ADDRESS_CHARS = 100
WRONG = "wrong name or password"


class SignInRefused(Exception):
    """A sign-in that did not succeed: wrong name or password, or throttled
    (``retry_after_s`` set: how long to wait)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class NewSession:
    """A session just made. ``token`` is the only copy of its id: give it to the browser
    (the cookie) and drop it."""

    token: str
    user: TeamUser
    idle_expires: str
    absolute_expires: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _iso(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, timezone.utc).isoformat(timespec="seconds")


def _parse(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _wait(failures: list[float], free: int, cap: float, now_s: float) -> float:
    """Seconds still to wait after ``failures`` (wall-clock seconds, oldest first)."""
    over = len(failures) - free
    if over < 0 or not failures:
        return 0.0
    delay = min(cap, FIRST_WAIT_S * 2 ** over)
    return max(0.0, min(cap, failures[-1] + delay - now_s))


def throttle_wait(store: Store, account: str, address: str, *,
                  now_s: float | None = None) -> float:
    """Seconds before ``account`` (:func:`account_key`) may try again from ``address``
    (:func:`address_key`; 0: now). Three counts in the window, the longest wait wins:
    this account from this address (the 6th try waits), this account from anywhere (a
    guesser spread over many addresses; so a stranger makes the real user wait only by
    failing 20 times in 15 minutes, and then 60 s at most), and this address over every
    name (one guesser trying many names)."""
    now_s = wall_time() if now_s is None else now_s
    since = now_s - WINDOW_S
    return max(
        _wait(store.signin_failures(account=account, address=address, since_s=since),
              FREE_FAILURES, MAX_ACCOUNT_WAIT_S, now_s),
        _wait(store.signin_failures(account=account, since_s=since), FREE_ACCOUNT_FAILURES,
              MAX_ACCOUNT_WAIT_S, now_s),
        _wait(store.signin_failures(address=address, since_s=since), FREE_ADDRESS_FAILURES,
              MAX_ADDRESS_WAIT_S, now_s))


def address_key(address: str | None) -> str:
    """The client address failures are counted under: an IPv4 address as it is, an IPv6
    one as its /64 network (one machine is given a whole /64 and picks any address in
    it), anything else shown as text."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return printable(address or "unknown", MAX_ADDRESS_CHARS)
    if ip.version == 6:
        if ip.ipv4_mapped:  # ::ffff:10.0.0.1 is the IPv4 client 10.0.0.1
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def find_user(store: Store, name) -> TeamUser | None:
    """The user ``name`` means: its exact (normalised) name, else the one name equal to
    it ignoring case ("Ana" is ana; names differing only in case cannot be added)."""
    try:
        name = normalize_name(name, kind="person")
    except (ValueError, TypeError):
        return None
    return store.user(name) or next(
        (u for u in store.users() if u.name.casefold() == name.casefold()), None)


def account_key(user: TeamUser | None, name) -> str:
    """What failures are counted under: the user's name, whatever case was typed; for a
    name that is no user, a digest of it, so a password typed into the name field is
    never stored."""
    if user is not None:
        return user.name
    text = name.casefold() if isinstance(name, str) else repr(name)
    return "unknown:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def sign_in(store: Store, name: str, password: str, *, address: str | None,
            now_s: float | None = None) -> NewSession:
    """Check ``name`` and ``password`` and open a session; SignInRefused otherwise (a
    wrong pair, a disabled user, or a wait still running). Every outcome is in the audit
    log; the password is in none of them."""
    now_s = wall_time() if now_s is None else now_s
    address = address_key(address)
    user = find_user(store, name)
    account = account_key(user, name)
    target = f"as {user.name}" if user else "with a name that is no user"
    wait = throttle_wait(store, account, address, now_s=now_s)
    if wait > 0:
        with store.write():  # one row per account and minute, however many tries
            if not store.audit_entries(action="signin.throttled", object_id=account,
                                       since=_iso(wall_time() - 60), limit=1):
                store.audit("signin.throttled", object_type="account", object_id=account,
                            actor=None, summary=f"sign-in {target} from {address} refused: "
                                                f"{wait:.0f} s to wait")
        raise SignInRefused(f"too many failed sign-ins: try again in {wait:.0f}\u00a0s",
                            retry_after_s=wait)
    ok = verify_password(store.password_hash(user.id) if user else None, password)
    if not ok or user is None or user.disabled:
        with store.write():  # committed before the refusal is raised
            store.forget_signin_failures_before(now_s - WINDOW_S)
            store.record_signin_failure(account, address, now_s)
            why = ("disabled user" if user is not None and user.disabled and ok else
                   "wrong password" if user is not None else "unknown name")
            # the actor is nobody: the person failing is not known to be the user
            store.audit("signin.failed", object_type="user",
                        object_id=user.id if user else None, actor=None,
                        summary=f"sign-in {target} from {address} failed: {why}")
        if ok and user is not None and user.disabled:
            # said only to someone who knows the password: no way to probe for names
            raise SignInRefused("this account is disabled: ask a lead of the project")
        raise SignInRefused(WRONG)
    with store.write():
        stored = store.password_hash(user.id)
        if needs_rehash(stored):
            store.update_user(user.id, password_hash=rehash_password(password))
        token = secrets.token_urlsafe(32)
        idle, absolute = _iso(now_s + IDLE_S), _iso(now_s + ABSOLUTE_S)
        store.insert_session(token_hash(token), user.id, created=_iso(now_s),
                             idle_expires=idle, absolute_expires=absolute, address=address)
        store.audit("signin", object_type="user", object_id=user.id, actor=user.name,
                    summary=f"{user.name} signed in from {address}")
    return NewSession(token=token, user=user, idle_expires=idle, absolute_expires=absolute)


def session_user(store: Store, token: str | None, *,
                 now_s: float | None = None) -> tuple[TeamUser | None, str]:
    """The user a session cookie belongs to, and why not when it does not: ``(user,
    '')`` for a live session (its idle expiry is pushed on, at most once a minute), else
    ``(None, reason)`` with reason one of 'no session', 'signed out', 'expired', or the
    revocation's cause ('user disabled', 'role changed to reviewer', ...)."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None, "no session"
    row = store.session_row(token_hash(token))
    if row is None:
        return None, "no session"
    if row["revoked"]:
        return None, row["revoked_why"] or "signed out"
    now_s = wall_time() if now_s is None else now_s
    if now_s >= _parse(row["idle_expires"]) or now_s >= _parse(row["absolute_expires"]):
        return None, "expired"
    user = store.user_by_id(row["user_id"])
    if user is None or user.disabled:
        return None, "user disabled"
    if now_s - _parse(row["last_seen"]) >= TOUCH_EVERY_S or now_s < _parse(row["last_seen"]):
        store.touch_session(row["id"], last_seen=_iso(now_s),
                            idle_expires=_iso(min(now_s + IDLE_S,
                                                  _parse(row["absolute_expires"]))))
    return user, ""


def sign_out(store: Store, token: str | None) -> bool:
    """End the session; True when one was open."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return False
    row = store.session_row(token_hash(token))
    with store.write():
        ended = store.revoke_session(token_hash(token), "signed out")
        if ended and row is not None:
            user = store.user_by_id(row["user_id"])
            store.audit("signout", object_type="user", object_id=row["user_id"],
                        actor=user.name if user else None,
                        summary=f"{user.name if user else '?'} signed out")
    return ended

"""Project users: add, list, change role, disable or enable, reset a password, set the
e-mail single sign-on maps to a user. Each change is made by the acting user of the
store (a lead, :data:`al_core.permissions.ACTIONS` ``manage_users``), written to the
audit log, and ends the changed user's open sessions at once (a role change or a
disabled account takes effect on their next click, not at their next sign-in).

The project's first user must be a lead and needs no acting user: adding them is what
turns team mode on. The last enabled lead cannot be demoted or disabled (nobody could
manage the team any more).
"""
from __future__ import annotations

from al_core.names import normalize_name, printable
from al_core.permissions import check_role
from al_core.store import Store
from al_core.team.passwords import hash_password
from al_core.team.signin import find_user
from al_core.types import TeamUser

MAX_EMAIL = 254  # RFC 5321's limit on a forward path


class AccountError(ValueError):
    """A user change that cannot be made (unknown user, last lead, duplicate name)."""


def _email(email: str | None) -> str | None:
    if email is None or not str(email).strip():
        return None
    email = str(email).strip()
    if len(email) > MAX_EMAIL or "@" not in email.strip("@") or any(c.isspace() or
                                                                   ord(c) < 32 for c in email):
        raise AccountError(f"{printable(email, 60)!r} is not an e-mail address")
    return email.lower()  # identity providers differ in case; one user per address


def _existing(store: Store, name: str) -> TeamUser:
    normalize_name(name, kind="person")  # a bad name is named as such
    user = find_user(store, name)  # "Ana" is ana, as at sign-in
    if user is None:
        raise AccountError(f"no user named {printable(name, 60)!r} in this project")
    return user


def add_user(store: Store, name: str, password: str, role: str, *,
             email: str | None = None) -> TeamUser:
    """Add a user; the first one turns team mode on and must be a lead. ValueError for a
    bad name, role, password or e-mail, or a name already taken; PermissionDenied when
    the acting user may not manage users."""
    name = normalize_name(name, kind="person")
    check_role(role)
    email = _email(email)
    with store.write():
        first = not store.team_mode()
        if first:
            if role != "lead":
                raise AccountError("the first user of a project must be a lead: they add "
                                   "the others (add a lead first, then this user)")
        else:
            store.authorize("manage_users")
        same = [u for u in store.users() if u.name.casefold() == name.casefold()]
        if same:
            raise AccountError(f"a user named {printable(same[0].name, 60)!r} already exists"
                               + ("" if same[0].name == name else
                                  " (names that differ only in case are one person)"))
        user = store.insert_user(name, role, hash_password(password), email)
        store.audit("user.add", object_type="user", object_id=user.id,
                    summary=f"added {user.name} as {role}" + (" (team mode on)" if first
                                                               else ""),
                    after={"name": user.name, "role": role, "email": email},
                    actor=store.actor_name if not first else (store.actor_name or name))
    return user


def set_role(store: Store, name: str, role: str) -> TeamUser:
    check_role(role)
    with store.write():
        store.authorize("manage_users")
        user = _existing(store, name)
        if user.role == role:
            return user
        if user.role == "lead" and not user.disabled and store.count_leads() <= 1:
            raise AccountError(f"{printable(user.name, 60)} is the last lead: make another "
                               "user a lead first")
        store.update_user(user.id, role=role)
        ended = store.revoke_user_sessions(user.id, f"role changed to {role}")
        store.audit("user.role", object_type="user", object_id=user.id,
                    summary=f"{user.name}: {user.role} -> {role}"
                            + (f", {ended} session(s) ended" if ended else ""),
                    before={"role": user.role}, after={"role": role})
    return store.user_by_id(user.id)


def set_disabled(store: Store, name: str, disabled: bool = True) -> TeamUser:
    """Disable (or enable again) a user; disabling ends their sessions at once. Their
    labels and history stay."""
    with store.write():
        actor = store.authorize("manage_users")
        user = _existing(store, name)
        if user.disabled == disabled:
            return user
        if disabled and user.role == "lead" and store.count_leads() <= 1:
            raise AccountError(f"{printable(user.name, 60)} is the last enabled lead: "
                               "make another user a lead first")
        if disabled and actor.user is not None and actor.user.id == user.id:
            raise AccountError("you cannot disable yourself: ask another lead")
        store.update_user(user.id, disabled=int(disabled))
        ended = store.revoke_user_sessions(user.id, "user disabled") if disabled else 0
        store.audit("user.disable" if disabled else "user.enable", object_type="user",
                    object_id=user.id,
                    summary=f"{'disabled' if disabled else 'enabled'} {user.name}"
                            + (f", {ended} session(s) ended" if ended else ""),
                    before={"disabled": user.disabled}, after={"disabled": disabled})
    return store.user_by_id(user.id)


def reset_password(store: Store, name: str, password: str) -> TeamUser:
    """Give a user a new password (a lead's job). Their sessions end and their failed
    sign-ins are forgotten, so throttling never keeps them out after a reset."""
    with store.write():
        store.authorize("manage_users")
        user = _existing(store, name)
        store.update_user(user.id, password_hash=hash_password(password))
        ended = store.revoke_user_sessions(user.id, "password reset")
        store.clear_signin_failures(user.name)
        store.audit("user.password", object_type="user", object_id=user.id,
                    summary=f"reset the password of {user.name}"
                            + (f", {ended} session(s) ended" if ended else ""))
    return user


def set_email(store: Store, name: str, email: str | None) -> TeamUser:
    """The e-mail single sign-on (``st.login``) maps to this user; None removes it."""
    email = _email(email)
    with store.write():
        store.authorize("manage_users")
        user = _existing(store, name)
        if email is not None and (other := store.user_by_email(email)) and other.id != user.id:
            raise AccountError(f"{printable(other.name, 60)} already has this e-mail")
        store.update_user(user.id, email=email)
        store.audit("user.email", object_type="user", object_id=user.id,
                    summary=f"e-mail of {user.name} set" if email else
                            f"e-mail of {user.name} removed",
                    before={"email": user.email}, after={"email": email})
    return store.user_by_id(user.id)

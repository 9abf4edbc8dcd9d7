"""The Team page's users: their table and the forms a lead changes them with.

Each form draws its widgets and returns what was submitted (a small dataclass, or None
when nothing was); the page makes the change through :mod:`al_core.team.accounts`,
which checks the acting user's role. Every form clears itself on submit
(``clear_on_submit``) and a password typed into it leaves the session's widget state
in the submit's callback, so it is never shown, kept in the session or in a ``repr``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from al_core.names import MAX_NAME
from al_core.permissions import ROLES
from al_core.team.passwords import MAX_LENGTH, MIN_LENGTH
from al_core.types import TeamUser
from ui.timefmt import when

SIGNIN_URL = "/auth/signin"  # the sign-in page (ui/auth.py serves it)
_TAKEN = "_team_taken_passwords"
PASSWORD_HELP = (f"At least {MIN_LENGTH} characters, no space at either end. Nobody sees "
                 "it again: the project keeps only an Argon2id hash.")


@dataclass(frozen=True)
class NewUser:
    name: str
    role: str
    password: str = field(repr=False)
    again: str = field(repr=False)
    email: str


@dataclass(frozen=True)
class UserChange:
    """A change to one user: ``what`` is ``role``, ``disable``, ``enable``,
    ``password`` or ``email``; ``value`` the new role, password or e-mail."""
    name: str
    what: str
    value: str = field(default="", repr=False)
    again: str = field(default="", repr=False)


def same_twice(password: str, again: str) -> str:
    """``password`` when it was typed the same both times; ValueError otherwise (never
    quoting either)."""
    if password != again:
        raise ValueError("the two passwords differ: type the same password twice")
    return password


def users_table(users: list[TeamUser], sessions: dict[int, int]) -> None:
    """The users, one row each (``sessions``: user id -> open sign-in sessions). Shown
    as a dataframe: names and e-mails are cells, never Markdown."""
    st.dataframe(pd.DataFrame([{
        "name": u.name, "role": u.role, "e-mail": u.email or "", "enabled": not u.disabled,
        "open sessions": sessions.get(u.id, 0), "created": when(u.created)}
        for u in users]), hide_index=True, width="stretch")


def _password_pair(label: str, form: str) -> None:
    st.text_input(label, type="password", max_chars=MAX_LENGTH, autocomplete="new-password",
                  help=PASSWORD_HELP, key=f"{form}_password")
    st.text_input(f"{label} again", type="password", max_chars=MAX_LENGTH,
                  autocomplete="new-password", key=f"{form}_again")


def _take_passwords(form: str) -> None:
    """The submit button's callback (it runs before the page): move the two passwords
    out of the form's fields, which are blanked on the server too (``clear_on_submit``
    blanks them only in the browser), into a slot the page run empties at once."""
    typed = tuple(st.session_state.get(f"{form}_{f}") or "" for f in ("password", "again"))
    for f in ("password", "again"):
        st.session_state[f"{form}_{f}"] = ""
    st.session_state[_TAKEN] = (form, *typed)


def _taken_passwords(form: str) -> tuple[str, str]:
    """The passwords the submit moved out of ``form`` (see :func:`_take_passwords`)."""
    taken = st.session_state.pop(_TAKEN, None)
    return (taken[1], taken[2]) if taken and taken[0] == form else ("", "")


def new_user_form(*, first: bool) -> NewUser | None:
    """Name, role (the first user is a lead: no choice), password twice, e-mail."""
    key = "team_first_lead" if first else "team_add_user"
    with st.form(key, clear_on_submit=True):
        name = st.text_input("Name", max_chars=MAX_NAME["person"], key=f"{key}_name",
                             help="How the user signs in and how the project names them "
                                  "(labels, reviews, the audit log).")
        role = "lead" if first else st.selectbox("Role", ROLES, index=0, key=f"{key}_role")
        _password_pair("Password", key)
        email = st.text_input("E-mail (optional)", max_chars=254, key=f"{key}_email",
                              help="The address single sign-on maps to this user.")
        label = "Create the lead and turn team mode on" if first else "Add user"
        if st.form_submit_button(label, type="primary", icon=":material/person_add:",
                                 key=f"{key}_submit", on_click=_take_passwords,
                                 args=(key,)):
            password, again = _taken_passwords(key)
            return NewUser(name=name, role=role, password=password, again=again,
                           email=email)
    return None


def _user_select(users: list[TeamUser], form: str) -> str:
    by_name = {u.name: u for u in users}
    return st.selectbox("User", list(by_name), key=f"{form}_user", format_func=lambda n: (
        f"{n} ({by_name[n].role}{', disabled' if by_name[n].disabled else ''})"))


def role_form(users: list[TeamUser]) -> UserChange | None:
    with st.form("team_role", clear_on_submit=True):
        name = _user_select(users, "team_role")
        role = st.selectbox("New role", ROLES, index=0, key="team_role_role")
        if st.form_submit_button("Change role", icon=":material/badge:",
                                 key="team_role_submit"):
            return UserChange(name=name, what="role", value=role)
    return None


def enabled_form(users: list[TeamUser]) -> UserChange | None:
    with st.form("team_disable", clear_on_submit=True):
        name = _user_select(users, "team_disable")
        st.caption("A disabled user cannot sign in, and their open sessions end at once; "
                   "their labels and history stay.")
        c1, c2 = st.columns(2)
        disable = c1.form_submit_button("Disable", icon=":material/person_off:",
                                        key="team_disable_submit")
        enable = c2.form_submit_button("Enable", icon=":material/person_check:",
                                       key="team_enable_submit")
    if disable or enable:
        return UserChange(name=name, what="disable" if disable else "enable")
    return None


def password_form(users: list[TeamUser]) -> UserChange | None:
    with st.form("team_password", clear_on_submit=True):
        name = _user_select(users, "team_password")
        _password_pair("New password", "team_password")
        st.caption("Their open sessions end, and their failed sign-ins are forgotten.")
        if st.form_submit_button("Reset password", icon=":material/key:",
                                 key="team_password_submit", on_click=_take_passwords,
                                 args=("team_password",)):
            password, again = _taken_passwords("team_password")
            return UserChange(name=name, what="password", value=password, again=again)
    return None


def email_form(users: list[TeamUser]) -> UserChange | None:
    with st.form("team_email", clear_on_submit=True):
        name = _user_select(users, "team_email")
        email = st.text_input("E-mail", max_chars=254, key="team_email_email",
                              help="Leave empty to remove the user's e-mail.")
        if st.form_submit_button("Set e-mail", icon=":material/mail:",
                                 key="team_email_submit"):
            return UserChange(name=name, what="email", value=email)
    return None

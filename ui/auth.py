"""Who is using the app, checked on every rerun before any page runs (team mode).

A project without users is in single-user mode: everyone may do everything and nothing
here asks for anything. Once it has users, the visitor is the user of a live session:

- **password**: the HttpOnly cookie :data:`~al_core.team.signin.COOKIE_NAME` that the
  server's own sign-in page sets (:mod:`ui.auth_routes`; a script cannot set cookies),
  looked up with :func:`~al_core.team.signin.session_user` on every rerun, so a session
  ended by signing out elsewhere, a role change or a disabled account stops at the next
  click;
- **single sign-on**, when ``[auth]`` is configured in ``.streamlit/secrets.toml``:
  ``st.login()``'s verified e-mail, mapped to a project user by
  :func:`~al_core.team.sso.sso_user` (the role stays the project's).

Nobody signed in: :func:`sign_in_screen` says why (signed out, expired, role changed,
disabled) and links to the sign-in page. The signed-in user is the acting user of every
store the pages open (:func:`ui.state.store` asks :func:`acting_name` each time); hiding
pages a role cannot use is a convenience, the checks are :mod:`al_core`'s.

Streamlit reads cookies once per browser tab, from the WebSocket's handshake: a cookie
set or cleared later counts from the next page load, which the sign-in and sign-out
routes cause (each answers with a redirect).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from html import escape
from pathlib import Path

import streamlit as st

from al_core.permissions import a_role, allowed, who_may
from al_core.store import DB_NAME, Store
from al_core.team.signin import COOKIE_NAME, session_user
from al_core.team.sso import sso_user
from al_core.types import TeamUser
from ui.auth_routes import ROUTES_ENV, SIGNOUT_PATH, signin_url
from ui.flash import show_flash
from ui.text import md

SSO_TRUST_ENV = "ALS_SSO_TRUST_EMAIL"  # "1": the provider's addresses count unverified
_VISITOR = "_auth_visitor"  # this rerun's Visitor, set by the frame before any page


@dataclass(frozen=True)
class Visitor:
    """Who the app serves this rerun. ``team``: the project has users; ``user``: the
    signed-in project user (None in single-user mode, or nobody signed in); ``via``:
    ``"password"`` or ``"sso"``; ``reason``: why nobody is signed in."""

    team: bool
    user: TeamUser | None = None
    via: str = ""
    reason: str = ""

    @property
    def may_enter(self) -> bool:
        return not self.team or self.user is not None

    @property
    def role(self) -> str | None:
        """The role pages are shown for: the user's; everyone is a lead in single-user
        mode; None when nobody is signed in."""
        if not self.team:
            return "lead"
        return self.user.role if self.user else None


def visitor(root: Path) -> Visitor:
    """Who is signed in to the project at ``root`` (draws nothing). A project not
    created yet has no users."""
    if not (root / DB_NAME).exists():
        return Visitor(team=False)
    with Store(root) as store:
        if not store.team_mode():
            return Visitor(team=False)
        user, via, reason = _identify(store)
        _audit_sso(store, user, via, reason)
    return Visitor(team=True, user=user, via=via, reason=reason)


_SSO_SEEN = "_auth_sso_seen"  # the (user, e-mail) whose single sign-on is in the log


def _audit_sso(store: Store, user: TeamUser | None, via: str, reason: str) -> None:
    """Single sign-on has no sign-in request of ours to log (the identity provider's
    cookie comes with every page): record it, or its refusal, once per browser tab and
    identity instead of on every rerun."""
    if via != "sso" and not (reason and sso_configured() and _sso_logged_in()):
        return
    email = str(st.user.get("email") or "")
    seen = (user.name if user else None, email)
    if st.session_state.get(_SSO_SEEN) == seen:
        return
    st.session_state[_SSO_SEEN] = seen
    with store.write():
        if user is not None:
            store.audit("signin.sso", object_type="user", object_id=user.id, actor=user.name,
                        summary=f"{user.name} signed in with single sign-on ({email[:80]})")
        else:
            store.audit("signin.sso_refused", object_type="user", actor=None,
                        summary=f"single sign-on as {email[:80] or '?'} refused: "
                                f"{reason}"[:300])


def remember(who: Visitor) -> None:
    """Keep this rerun's visitor for the page (:func:`current`). In team mode the name
    pages record as the deciding person is the signed-in user's, whatever was typed."""
    st.session_state[_VISITOR] = who
    if who.team and who.user is not None:
        st.session_state["annotator"] = who.user.name


def current() -> Visitor | None:
    """This rerun's visitor (set by the frame before the page runs)."""
    return st.session_state.get(_VISITOR)


def may(action: str) -> bool:
    """Whether this rerun's visitor's role allows ``action`` (always, in single-user
    mode): for showing a control or a hint instead. al_core still checks when the control
    is used."""
    who = current()
    return who is None or not who.team or allowed(who.role, action)


def lacks(action: str) -> str | None:
    """A button's ``help`` when this visitor's role may not ``action`` (None when it
    may): shown on a disabled control, so the page says who may use it before a click."""
    if may(action):
        return None
    who = current()
    return f"Only {who_may(action)} may do this; you are signed in as {a_role(who.role)}."


def acting_name(store: Store) -> str | None:
    """Who acts in ``store``'s operations: in team mode the signed-in user, checked
    again now (a session ended since the page started acts as nobody, which team mode
    refuses); in single-user mode the typed annotator name, if any."""
    if not store.team_mode():
        return st.session_state.get("annotator") or None
    user, _, _ = _identify(store)
    return user.name if user else None


def _identify(store: Store) -> tuple[TeamUser | None, str, str]:
    """(user, via, reason) for this browser: its session cookie first, then single
    sign-on."""
    user, reason = session_user(store, session_cookie())
    if user is not None:
        return user, "password", ""
    if sso_configured() and _sso_logged_in():
        sso, why = sso_user(store, st.user.get("email"),
                            verified=st.user.get("email_verified"),
                            trust_unverified=os.environ.get(SSO_TRUST_ENV) == "1")
        if sso is not None:
            return sso, "sso", ""
        return None, "", why
    return None, "", reason


def session_cookie() -> str | None:
    """The session cookie this browser tab sent (with the WebSocket's handshake)."""
    return st.context.cookies.get(COOKIE_NAME)


def signin_routes_served() -> bool:
    """True when this process serves the sign-in routes (started through serve.py)."""
    return os.environ.get(ROUTES_ENV) == "1"


def sso_configured() -> bool:
    """True when ``[auth]`` is in the app's secrets (``st.login`` can work)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return False


def _sso_logged_in() -> bool:
    try:
        return bool(st.user.get("is_logged_in"))
    except Exception:  # noqa: BLE001
        return False


# -- drawing -------------------------------------------------------------------------------
def why_signed_out(reason: str) -> str | None:
    """The sentence for ``reason`` (from :func:`~al_core.team.signin.session_user` or
    :func:`~al_core.team.sso.sso_user`); None when there was simply no session."""
    if not reason or reason == "no session":
        return None
    if reason == "signed out":
        return "You signed out."
    if reason == "expired":
        return ("Your session expired (8 hours without a click, or a week after signing "
                "in). Sign in again.")
    if reason == "user disabled":
        return "Your account was disabled by a lead of this project."
    if reason == "password reset":
        return "A lead set a new password for you: sign in with it."
    if reason.startswith("role changed to "):
        return (f"A lead changed your role to {md(reason.removeprefix('role changed to '))}:"
                " sign in again to go on.")
    return f"You are not signed in: {md(reason, limit=200)}."


def sign_in_screen(who: Visitor, project: str, next_path: str) -> None:
    """The app's screen for a visitor nobody is signed in as; stops the run."""
    st.title("Sign in")
    show_flash()  # e.g. the Team page's "team mode is on", which led here
    note = why_signed_out(who.reason)
    if note:
        st.info(note, icon=":material/logout:")
    st.markdown(f"The project **{md(project)}** has users: sign in to label and run it.")
    if not signin_routes_served():
        st.error("This app was started without its sign-in page (`streamlit run app.py`), so "
                 "nobody can sign in with a password. Start it with `./dev.sh app` (which "
                 "runs `serve.py`).", icon=":material/error:")
    _link_button(signin_url(next_path), "Sign in with your name and password")
    if sso_configured():
        if _sso_logged_in():
            # the reason is in the note above: unmapped, unverified or disabled (an
            # unverified or disabled user's address is a user's, so no "not a user" here)
            st.caption("Your identity provider signed you in as "
                       f"{md(st.user.get('email') or '?')}. Sign out of single sign-on to "
                       "use another account.")
            st.button("Sign out of single sign-on", on_click=st.logout)
        else:
            st.button("Sign in with single sign-on", on_click=st.login)
    st.stop()


def sidebar(who: Visitor) -> None:
    """'Signed in as NAME (role)' and a sign-out control, in the sidebar (team mode)."""
    if not who.team or who.user is None:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{md(who.user.name)}** ({md(who.user.role)})")
        if who.via == "sso":
            st.button("Sign out", on_click=st.logout, key="auth-sso-signout")
        else:  # a form POST: the route ends the session and clears the cookie
            st.html(_STYLE + f'<form class="als-signout" method="post" '
                    f'action="{SIGNOUT_PATH}"><button type="submit">Sign out</button>'
                    "</form>")


_STYLE = """<style>
.als-link, .als-signout button {display:inline-block; padding:0.45rem 0.9rem;
 border-radius:0.5rem; font:inherit; font-weight:600; text-decoration:none; cursor:pointer}
.als-link {background:#ff4b4b; color:#fff !important; border:1px solid #ff4b4b}
.als-link:hover {background:#e03c3c}
.als-signout button {background:transparent; color:inherit;
 border:1px solid rgba(128,128,128,0.4); width:100%}
.als-signout button:hover {border-color:#ff4b4b; color:#ff4b4b}
</style>"""


def _link_button(url: str, label: str) -> None:
    """A link that opens in this tab (``st.link_button`` and Markdown links open a new
    one)."""
    st.html(_STYLE + f'<a class="als-link" href="{escape(url)}">{escape(label)}</a>')

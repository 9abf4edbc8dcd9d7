"""Single sign-on: Streamlit's ``st.login`` (OpenID Connect, configured under ``[auth]``
in ``.streamlit/secrets.toml``) says who the person is by e-mail; this maps the e-mail
to a project user, who must exist and be enabled (set with ``users add --email`` or the
Team page). The identity provider proves identity; the role stays the project's.
"""
from __future__ import annotations

from al_core.names import printable
from al_core.store import Store
from al_core.types import TeamUser


def sso_user(store: Store, email: str | None, *, verified=None,
             trust_unverified: bool = False) -> tuple[TeamUser | None, str]:
    """The enabled project user with this e-mail, or ``(None, why)``. ``verified`` is
    the provider's ``email_verified`` claim: only ``True`` (or the text ``"true"``, as
    some providers send it) counts; a missing, false or odd claim is refused, because at
    some providers anyone can type any address into their profile. A provider that
    vouches for its addresses without the claim (a company directory) can be trusted
    with ``trust_unverified`` (``ALS_SSO_TRUST_EMAIL=1`` in the app)."""
    if not email:
        return None, "the identity provider sent no e-mail address"
    ok = verified is True or (isinstance(verified, str) and verified.lower() == "true")
    if not ok and not trust_unverified:
        return None, (f"the identity provider has not verified {printable(email, 80)}"
                      + (" (it sent no email_verified claim; a lead can trust its "
                         "addresses with ALS_SSO_TRUST_EMAIL=1)" if verified is None else ""))
    user = store.user_by_email(str(email))
    if user is None:
        return None, (f"{printable(email, 80)} is not mapped to a user of this project: ask "
                      "a lead to set it on the Team page")
    if user.disabled:
        return None, f"user {printable(user.name, 60)} is disabled"
    return user, ""

"""Single sign-on: Streamlit's ``st.login`` (OpenID Connect, configured under ``[auth]``
in ``.streamlit/secrets.toml``) says who the person is by e-mail; this maps the e-mail
to a project user, who must exist and be enabled (set with ``users add --email`` or the
Team page). The identity provider proves identity; the role stays the project's.
"""
from __future__ import annotations

from al_core.names import printable
from al_core.store import Store
from al_core.types import TeamUser


def sso_user(store: Store, email: str | None, *, verified: bool | None = True
             ) -> tuple[TeamUser | None, str]:
    """The enabled project user with this e-mail, or ``(None, why)``. ``verified`` is
    the provider's ``email_verified`` claim when it sends one: False is refused (anyone
    can type an unverified address at some providers)."""
    if not email:
        return None, "the identity provider sent no e-mail address"
    if verified is False:
        return None, f"the identity provider has not verified {printable(email, 80)}"
    user = store.user_by_email(str(email))
    if user is None:
        return None, (f"{printable(email, 80)} is not mapped to a user of this project: ask "
                      "a lead to set it on the Team page")
    if user.disabled:
        return None, f"user {printable(user.name, 60)} is disabled"
    return user, ""

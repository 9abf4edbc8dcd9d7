"""Who is labeling. In team mode (a project with users) it is the signed-in user
(:mod:`ui.auth`), nobody else: a ``?annotator=`` link or a name kept in the session is
never read. In single-user mode it is asked once per browser tab (kept in the session
and in the URL, so a reload keeps it). The name, typed or from the link, follows the
project's rule for people's names (:func:`ui.params.person_name`): `` ana `` is ``ana``,
so the leases taken under it are the ones its saves release."""
from __future__ import annotations

import streamlit as st

from ui import auth
from ui.params import person_name
from ui.text import md

_KEY = "annotator"


def annotator() -> str:
    """The annotator's name; asks for it (and stops the page) when not known yet."""
    who = auth.current()
    if who is not None and who.team:
        if who.user is None:  # the frame shows the sign-in screen first: never here
            st.stop()
        return who.user.name
    given = st.session_state.get(_KEY) or st.query_params.get(_KEY)
    if given:
        try:
            name = person_name(given)
        except ValueError as exc:
            st.session_state.pop(_KEY, None)
            st.query_params.pop(_KEY, None)
            st.warning(f"The link's annotator is refused: {md(exc, limit=200)}. Type your name "
                       "below.", icon=":material/person_off:")
        else:
            st.session_state[_KEY] = name
            if st.query_params.get(_KEY) != name:
                st.query_params[_KEY] = name  # a reload of the page keeps it
            return name
    st.markdown("Your name goes with every box you save, so the team can see who labeled "
                "what and two people never get the same image.")
    with st.form("annotator-form"):
        typed = st.text_input("Your name", max_chars=60, placeholder="e.g. ana")
        if st.form_submit_button("Start reviewing", type="primary"):
            try:
                st.session_state[_KEY] = person_name(typed)
            except ValueError as exc:
                st.warning(f"Refused: {md(exc, limit=200)}." if typed.strip() else
                           "Enter a name first.")
            else:
                st.rerun()
    st.stop()


"""Images held by a Review page tab, given back the moment the tab goes away.

Each Review tab has a random token (:func:`token`, 256 bits, kept in its session). The
page records here, in the server's memory, which images the tab holds and for whom
(:func:`hold`); when the page goes away (``pagehide``: the tab closed or reloaded, the user
signed out) its watcher (:mod:`ui.activity`) sends the token to ``POST``
:data:`RELEASE_PATH` with ``navigator.sendBeacon``, and the route releases those images
at once. Without the notice (a crash, a lost network) the tab's short lease
(:data:`~al_core.review.save.TAB_LEASE_SECONDS`) runs out instead.

The route releases only the images recorded for that token, and only the leases their
holder still has (:meth:`~al_core.store.Store.release` leaves another's alone). In team
mode the request's session cookie must belong to the same user (a token alone never acts
for anyone else); it is refused like the sign-in routes' POSTs when it comes from
another site or host. The registry lives in the server process (``serve.py`` serves the
app and the route in one); ``streamlit run app.py`` has no route, and the lease runs out.
"""
from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from al_core.store import DB_NAME, Store
from al_core.team.signin import COOKIE_NAME, session_user

RELEASE_PATH = "/tab/release"
TOKEN_KEY = "_review_tab_token"  # session state: this tab's token (not an rv_ key: it
# outlives the Review page's resets)
MAX_BODY_BYTES = 512


@dataclass(frozen=True)
class TabHold:
    root: Path
    user: str
    item_ids: frozenset[int]


_lock = threading.Lock()
_tabs: dict[str, TabHold] = {}


def token() -> str:
    """This browser tab's release token (made on first use)."""
    if TOKEN_KEY not in st.session_state:
        st.session_state[TOKEN_KEY] = secrets.token_urlsafe(32)
    return st.session_state[TOKEN_KEY]


def hold(tab: str, root: Path, user: str, item_ids: Iterable[int]) -> None:
    """Record that tab ``tab`` holds ``item_ids`` for ``user`` in project ``root`` (none:
    the tab holds nothing)."""
    ids = frozenset(int(i) for i in item_ids)
    with _lock:
        if ids:
            _tabs[tab] = TabHold(Path(root), user, ids)
        else:
            _tabs.pop(tab, None)


def held(tab: str) -> TabHold | None:
    with _lock:
        return _tabs.get(tab)


def release_tab(tab: str, cookie: str | None) -> int:
    """Release the images tab ``tab`` holds; returns how many leases were given back.
    Team mode: only when ``cookie`` is a live session of the tab's user (0 otherwise,
    and the record stays)."""
    with _lock:
        entry = _tabs.get(tab)
    if entry is None or not (entry.root / DB_NAME).exists():
        return 0
    with Store(entry.root) as store:
        if store.team_mode():
            user, _ = session_user(store, cookie)
            if user is None or user.name.casefold() != entry.user.casefold():
                return 0
            store.act_as(user.name)
        else:
            store.act_as(entry.user)
        released = 0
        for item_id in sorted(entry.item_ids):
            if store.holder(item_id) == entry.user:
                released += 1
            store.release(item_id, entry.user)
    with _lock:
        if _tabs.get(tab) is entry:
            del _tabs[tab]
    return released


def routes_for(*, allowed_hosts: Callable[[], list[str]] | None = None) -> list[Route]:
    """The release route (``serve.py`` mounts it beside the sign-in routes)."""
    from ui.auth_routes import _cross_site, _streamlit_allowed_hosts

    hosts = allowed_hosts or _streamlit_allowed_hosts

    async def release(request: Request) -> Response:
        refusal = _cross_site(request, hosts())
        if refusal:
            return refusal
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return Response(status_code=413)
        try:
            tab = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4).get("tab", [""])[0]
        except ValueError:  # more fields than a notice has
            tab = ""
        if not tab:
            return Response(status_code=400)
        await run_in_threadpool(release_tab, tab, request.cookies.get(COOKIE_NAME))
        return Response(status_code=204)

    return [Route(RELEASE_PATH, release, methods=["POST"])]

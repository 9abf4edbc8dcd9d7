"""Images held by a Review page tab: kept while the tab is in use, given back the moment
the tab goes away.

Each Review tab has a random token (:func:`token`, 256 bits, kept in its session). The
page records here, in the server's memory, which images the tab holds and for whom
(:func:`hold`); when the page goes away (``pagehide``: the tab closed or reloaded, the user
signed out) its watcher (:mod:`ui.activity`) sends the token to ``POST``
:data:`RELEASE_PATH` with ``navigator.sendBeacon``, and the route releases those images
at once. Without the notice (a crash, a lost network) the tab's short lease
(:data:`~al_core.review.save.TAB_LEASE_SECONDS`) runs out instead. While the tab is in use
(not idle) its watcher sends the token to ``POST`` :data:`RENEW_PATH` every
:data:`~al_core.review.save.TAB_HEARTBEAT_SECONDS` (``fetch``), which renews the leases the
tab's user still holds on those images: the heartbeat never reruns the page.

The routes release or renew only the images recorded for that token, and only the leases
their holder still has (:meth:`~al_core.store.Store.release` leaves another's alone). In team
mode the request's session cookie must belong to the same user (a token alone never acts
for anyone else); a notice is refused like the sign-in routes' POSTs when it comes from
another site or host. The registry lives in the server process (``serve.py`` serves the
app and the routes in one); ``streamlit run app.py`` has no routes: the lease runs out, and
the page's heartbeat is a rerun of its watcher (:mod:`ui.review_tab`).
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

from al_core.review.save import TAB_LEASE_SECONDS
from al_core.store import DB_NAME, Store
from al_core.team.signin import COOKIE_NAME, session_user

RELEASE_PATH = "/tab/release"
RENEW_PATH = "/tab/renew"
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


def _acting(store: Store, entry: TabHold, cookie: str | None) -> bool:
    """Let ``store`` act for the tab's user: always in single-user mode; in team mode only
    when ``cookie`` is a live session of that user (False otherwise)."""
    if store.team_mode():
        user, _ = session_user(store, cookie)
        if user is None or user.name.casefold() != entry.user.casefold():
            return False
        store.act_as(user.name)
    else:
        store.act_as(entry.user)
    return True


def _holds(store: Store, item_id: int, user: str) -> bool:
    holder = store.holder(item_id)
    return holder is not None and holder.casefold() == user.casefold()


def release_tab(tab: str, cookie: str | None) -> int:
    """Release the images tab ``tab`` holds; returns how many leases were given back.
    Team mode: only when ``cookie`` is a live session of the tab's user (0 otherwise,
    and the record stays)."""
    with _lock:
        entry = _tabs.get(tab)
    if entry is None or not (entry.root / DB_NAME).exists():
        return 0
    with Store(entry.root) as store:
        if not _acting(store, entry, cookie):
            return 0
        released = 0
        for item_id in sorted(entry.item_ids):
            if _holds(store, item_id, entry.user):
                released += 1
            store.release(item_id, entry.user)
    with _lock:
        if _tabs.get(tab) is entry:
            del _tabs[tab]
    return released


def renew_tab(tab: str, cookie: str | None) -> list[int]:
    """Renew, for :data:`~al_core.review.save.TAB_LEASE_SECONDS` from now, the leases
    that tab ``tab``'s user still holds on the images recorded for it, in one write
    transaction; returns the renewed image ids. An image whose lease ran out or that
    another annotator holds is left alone (the page claims again when the user comes
    back). Team mode: only when ``cookie`` is a live session of the tab's user ([]
    otherwise)."""
    with _lock:
        entry = _tabs.get(tab)
    if entry is None or not (entry.root / DB_NAME).exists():
        return []
    with Store(entry.root) as store:
        if not _acting(store, entry, cookie):
            return []
        with store.write():
            mine = [i for i in sorted(entry.item_ids) if _holds(store, i, entry.user)]
            return store.claim_many(mine, entry.user, seconds=TAB_LEASE_SECONDS) if mine \
                else []


async def _tab_of(request: Request) -> str | Response:
    """The ``tab`` field of a notice's form body, or the response refusing it (413: too
    long; 400: no token)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return Response(status_code=413)
    try:
        tab = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4).get("tab", [""])[0]
    except ValueError:  # more fields than a notice has
        tab = ""
    return tab or Response(status_code=400)


def routes_for(*, allowed_hosts: Callable[[], list[str]] | None = None) -> list[Route]:
    """The release and renew routes (``serve.py`` mounts them beside the sign-in
    routes). Both answer 204 whatever they did (a token says nothing about a tab to
    whoever guesses it); 403 from another site or host, 413 for a body over
    :data:`MAX_BODY_BYTES`, 400 without a token."""
    from ui.auth_routes import _cross_site, _streamlit_allowed_hosts

    hosts = allowed_hosts or _streamlit_allowed_hosts

    def route(act: Callable[[str, str | None], object]):
        async def endpoint(request: Request) -> Response:
            refusal = _cross_site(request, hosts())
            if refusal:
                return refusal
            tab = await _tab_of(request)
            if isinstance(tab, Response):
                return tab
            await run_in_threadpool(act, tab, request.cookies.get(COOKIE_NAME))
            return Response(status_code=204)
        return endpoint

    return [Route(RELEASE_PATH, route(release_tab), methods=["POST"]),
            Route(RENEW_PATH, route(renew_tab), methods=["POST"])]

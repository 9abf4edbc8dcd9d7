"""The sign-in pages the server answers itself, beside the Streamlit app (``serve.py``
mounts them with ``st.App``): ``GET /auth/signin`` (a plain HTML form), ``POST
/auth/signin`` (check the password, set the session cookie), ``POST /auth/signout`` (end
the session, clear the cookie).

Why routes and not a Streamlit page: a Streamlit script cannot set a cookie (its
``st.context.cookies`` is read-only), and a cookie written by JavaScript cannot be
HttpOnly. Here the cookie :data:`~al_core.team.signin.COOKIE_NAME` holds the session's
random id (:mod:`al_core.team.signin` keeps only its hash) and is ``HttpOnly`` (no script
reads it), ``SameSite=Strict`` (no other site's page sends it), ``Path=/``, ``Secure``
when the request came over https, and lasts as long as the session's absolute expiry.
The app reads it from the WebSocket's handshake (:mod:`ui.auth`).

Both POSTs refuse a request whose ``Origin`` (or, lacking it, ``Referer``) is not this
server (login CSRF: another site signing the browser in as someone else) or whose
``Host`` is not in ``server.allowedHosts`` (DNS rebinding). The password is never
logged, echoed or kept. Every request opens its own :class:`~al_core.store.Store` in a
worker thread (sqlite connections stay in the thread that made them; hashing a password
takes a fraction of a second and must not stall the server's event loop).

Behind a reverse proxy that ends TLS, set ``ALS_TRUSTED_PROXY=1`` so its
``X-Forwarded-Proto: https`` makes the cookie ``Secure``; without that flag the header
is ignored (anyone can send it).
"""
from __future__ import annotations

import html
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from al_core.clock import wall_time
from al_core.store import DB_NAME, Store
from al_core.team.signin import COOKIE_NAME, SignInRefused, sign_in, sign_out

SIGNIN_PATH = "/auth/signin"
SIGNOUT_PATH = "/auth/signout"
TRUSTED_PROXY_ENV = "ALS_TRUSTED_PROXY"
ROUTES_ENV = "ALS_SIGNIN_ROUTES"  # set by serve.py: this server has the sign-in routes
MAX_FORM_BYTES = 8192  # a name and a password (at most 1,024 characters) fit many times
# the form page has no script, loads nothing, and may not be framed (clickjacking)
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def routes_for(project_dir: Callable[[], Path], *,
               allowed_hosts: Callable[[], list[str]] | None = None) -> list[Route]:
    """The sign-in routes for the project ``project_dir()`` names (called per request:
    the same function :mod:`ui.state` uses, so server and app agree). ``allowed_hosts``
    gives the Host names a POST may come to (default: Streamlit's
    ``server.allowedHosts``; empty: any)."""
    hosts = allowed_hosts or _streamlit_allowed_hosts

    async def signin_form(request: Request) -> Response:
        root = project_dir()
        team, name = await run_in_threadpool(_project, root)
        if not team:
            return _single_user_page(name)
        return _form(name, next_path=safe_next(request.query_params.get("next")),
                     message=_arrival_message(request.query_params),
                     exposed=exposed_password(request))

    async def signin(request: Request) -> Response:
        refusal = _cross_site(request, hosts())
        if refusal:
            return refusal
        form = await _read_form(request)
        if form is None:
            return _plain("The sign-in form was too large.", 413)
        root = project_dir()
        name, password = form.get("name", ""), form.get("password", "")
        next_path = safe_next(form.get("next"))
        address = request.client.host if request.client else None
        outcome = await run_in_threadpool(_sign_in, root, name, password, address,
                                          request.cookies.get(COOKIE_NAME))
        if isinstance(outcome, str):  # single-user mode: the project's name
            return _single_user_page(outcome, status=400)
        if isinstance(outcome, tuple):
            project, refused = outcome
            headers = {}
            if refused.retry_after_s is not None:
                headers["Retry-After"] = str(max(1, math.ceil(refused.retry_after_s)))
            return _form(project, next_path=next_path, message=str(refused), name=name,
                         status=429 if headers else 401, headers=headers,
                         exposed=exposed_password(request))
        response = RedirectResponse(next_path, status_code=303)
        max_age = max(0, int(datetime.fromisoformat(outcome.absolute_expires).timestamp()
                             - wall_time()))
        response.set_cookie(COOKIE_NAME, outcome.token, max_age=max_age, path="/",
                            secure=is_https(request), httponly=True, samesite="strict")
        return response

    async def signout(request: Request) -> Response:
        refusal = _cross_site(request, hosts())
        if refusal:
            return refusal
        token = request.cookies.get(COOKIE_NAME)
        await run_in_threadpool(_sign_out, project_dir(), token)
        response = RedirectResponse(f"{SIGNIN_PATH}?signed_out=1", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", secure=is_https(request),
                               httponly=True, samesite="strict")
        return response

    return [Route(SIGNIN_PATH, signin_form, methods=["GET"]),
            Route(SIGNIN_PATH, signin, methods=["POST"]),
            Route(SIGNOUT_PATH, signout, methods=["POST"])]


# -- checks ------------------------------------------------------------------------------
def safe_next(value) -> str:
    """Where to go after signing in: ``value`` when it is a path on this server
    (``/...``, not ``//host`` or ``/\\host``, which browsers read as another site), else
    ``/``."""
    if (not isinstance(value, str) or not value.startswith("/") or value.startswith("//")
            or "\\" in value or len(value) > 2000
            or any(ord(c) < 33 or ord(c) == 127 for c in value)):
        return "/"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc:
        return "/"
    return value


def is_https(request: Request) -> bool:
    """True when the browser's connection is https: Streamlit serves TLS itself
    (``server.sslCertFile``), or a trusted proxy says so (``ALS_TRUSTED_PROXY=1`` and
    ``X-Forwarded-Proto: https``). Not ``request.url.scheme``: uvicorn rewrites that from
    ``X-Forwarded-Proto`` for any client on this machine."""
    if _streamlit_option("server.sslCertFile"):
        return True
    trusted = os.environ.get(TRUSTED_PROXY_ENV, "").strip().lower() in ("1", "true", "yes")
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return trusted and forwarded == "https"


LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def exposed_password(request: Request) -> bool:
    """True when a password typed on this page would cross a network in clear text: the
    page came over plain HTTP to a name other than this machine's own."""
    try:
        hostname = (urlparse(f"//{request.headers.get('host', '')}").hostname or "")
    except ValueError:
        hostname = ""
    return not is_https(request) and hostname.rstrip(".").lower() not in LOCAL_NAMES


def _cross_site(request: Request, allowed_hosts: list[str]) -> Response | None:
    """A 403 response for a POST that did not come from this server's own page, else
    None."""
    host = request.headers.get("host", "")
    if not _host_allowed(host, allowed_hosts):
        return _plain("This server does not answer to that host name.", 403)
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null" or urlparse(source).netloc.lower() != host.lower():
        return _plain("Refused: the request did not come from this app's own sign-in page "
                      "(its Origin is another site). Open the sign-in page and try again.",
                      403)
    return None


def _host_allowed(host: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    try:
        hostname = (urlparse(f"//{host}").hostname or "").rstrip(".")
    except ValueError:
        return False
    for pattern in (a.strip().lower().rstrip(".") for a in allowed):
        if pattern == "*" or hostname == pattern or (
                pattern.startswith("*.") and hostname.endswith(pattern[1:])):
            return True
    return False


def _streamlit_option(name: str):
    from streamlit import config
    return config.get_option(name)


def _streamlit_allowed_hosts() -> list[str]:
    return list(_streamlit_option("server.allowedHosts") or [])


async def _read_form(request: Request) -> dict[str, str] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=10)
    except ValueError:  # more fields than a sign-in form has
        return None
    return {k: v[0] for k, v in fields.items()}


# -- the blocking work, in a worker thread ------------------------------------------------
def _project(root: Path) -> tuple[bool, str]:
    """(team mode?, the project's name). No project file yet: single-user (the app
    creates the demo on first start)."""
    if not (root / DB_NAME).exists():
        return False, root.name
    with Store(root) as store:
        return store.team_mode(), store.root.name


def _sign_in(root: Path, name: str, password: str, address: str | None,
             old_token: str | None = None):
    """The new session; or (project name, SignInRefused); or the project's name alone
    in single-user mode. A session this browser held before ends when the new one starts
    (signing in as someone else must not leave the first person signed in)."""
    if not (root / DB_NAME).exists():
        return root.name
    with Store(root) as store:
        if not store.team_mode():
            return store.root.name
        try:
            new = sign_in(store, name, password, address=address)
        except SignInRefused as refused:
            return store.root.name, refused
        sign_out(store, old_token)
        return new


def _sign_out(root: Path, token: str | None) -> None:
    if token and (root / DB_NAME).exists():
        with Store(root) as store:
            sign_out(store, token)


# -- pages --------------------------------------------------------------------------------
_STYLE = """
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f5f6f8;
 color:#1f2430}
main{width:100%;max-width:380px;margin:24px;padding:32px;background:#fff;
 border:1px solid #e1e4ea;border-radius:12px;box-shadow:0 2px 12px rgba(20,30,60,.06)}
.app{margin:0;font-size:13px;letter-spacing:.04em;text-transform:uppercase;color:#6b7280}
h1{margin:4px 0 4px;font-size:24px;font-weight:600;overflow-wrap:anywhere}
.lead{margin:0 0 20px;color:#4b5563;font-size:15px}
label{display:block;margin:14px 0 4px;font-size:14px;font-weight:500}
input{width:100%;padding:10px 12px;font:inherit;border:1px solid #c9ced8;border-radius:8px;
 background:#fff;color:inherit}
input:focus{outline:2px solid #ff4b4b33;border-color:#ff4b4b}
button{width:100%;margin-top:22px;padding:11px;font:inherit;font-weight:600;color:#fff;
 background:#ff4b4b;border:0;border-radius:8px;cursor:pointer}
button:hover{background:#e03c3c}
.msg{margin:0 0 8px;padding:10px 12px;border-radius:8px;font-size:14px}
.msg.error{background:#fdecec;color:#8a1c1c;border:1px solid #f5c2c2}
.msg.info{background:#eef4ff;color:#1e3a8a;border:1px solid #c9d8fb}
.msg.warn{background:#fff7e6;color:#7a4b00;border:1px solid #f3d69b}
a{color:#c42b2b}
.foot{margin:18px 0 0;font-size:13px;color:#6b7280}
"""


def _page(title: str, body: str, *, status: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")
    return HTMLResponse(text, status_code=status, headers={**_HEADERS, **(headers or {})})


def _form(project: str, *, next_path: str, message: tuple[str, str] | str | None = None,
          name: str = "", status: int = 200, headers: dict[str, str] | None = None,
          exposed: bool = False) -> HTMLResponse:
    kind, text = (("error", message) if isinstance(message, str) else message or ("", ""))
    note = (f'<p class="msg {kind}" role="alert">{html.escape(text)}</p>' if text else
            '<p class="msg" role="alert" hidden></p>')
    if exposed:
        note += ('<p class="msg warn">This page came over plain HTTP: a password typed here '
                 "crosses the network readable by anyone on the way. Ask a lead to put "
                 "TLS in front of the app (the docs' Team mode page).</p>")
    body = (f'<p class="app">Active Learning Studio</p><h1>{html.escape(project)}</h1>'
            '<p class="lead">Sign in to label and run this project.</p>'
            f"{note}"
            f'<form method="post" action="{SIGNIN_PATH}" autocomplete="on">'
            f'<input type="hidden" name="next" value="{html.escape(next_path)}">'
            '<label for="name">Name</label>'
            f'<input id="name" name="name" type="text" autocomplete="username" required '
            f'maxlength="60" autocapitalize="none" spellcheck="false" '
            f'value="{html.escape(name[:60])}"{"" if name else " autofocus"}>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" '
            f'autocomplete="current-password" required maxlength="1024"'
            f'{" autofocus" if name else ""}>'
            '<button type="submit">Sign in</button></form>'
            '<p class="foot">Forgot your password? A lead of this project can set a new '
            "one on the Team page.</p>")
    return _page(f"Sign in · {project}", body, status=status, headers=headers)


def _arrival_message(query) -> tuple[str, str] | None:
    if query.get("signed_out"):
        return "info", "You signed out."
    return None


def _single_user_page(project: str, *, status: int = 200) -> HTMLResponse:
    body = (f'<p class="app">Active Learning Studio</p><h1>{html.escape(project)}</h1>'
            '<p class="msg info">This project has no users yet (single-user mode): there '
            "is nothing to sign in to.</p>"
            '<p><a href="/">Open the app</a>. A lead is added on its Team page, which '
            "turns sign-in on.</p>")
    return _page(f"{project} · Active Learning Studio", body, status=status)


def _plain(text: str, status: int) -> HTMLResponse:
    return _page("Active Learning Studio",
                 f'<p class="msg error">{html.escape(text)}</p>'
                 f'<p><a href="{SIGNIN_PATH}">Sign-in page</a></p>', status=status)


def signin_url(next_path: str) -> str:
    """The sign-in page's address that returns to ``next_path`` afterwards."""
    return f"{SIGNIN_PATH}?next={quote(safe_next(next_path), safe='/')}"

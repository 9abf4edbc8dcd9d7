"""The server's sign-in routes (ui/auth_routes.py), called in process: the form, the
session cookie's attributes, login CSRF, the open redirect, throttling, sign-out.

Starlette's TestClient needs httpx, which the project does not install; these tests
drive the ASGI app with a few lines instead (:func:`call`)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette

from al_core.store import Store
from al_core.team.accounts import add_user
from al_core.team.signin import COOKIE_NAME, session_user
from ui.auth_routes import routes_for, safe_next

HOST = "localhost:8501"
SITE = f"http://{HOST}"
PASSWORD = "annotator-pw-1"


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: str
    cookies: dict[str, dict] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


def call(app, method: str, path: str, *, form: dict | None = None,
         headers: dict | None = None, client: str = "10.0.0.7") -> Reply:
    """One HTTP request to the ASGI ``app``, as a browser on ``client`` sends it."""
    body = urlencode(form).encode() if form is not None else b""
    path, _, query = path.partition("?")
    sent = {"host": HOST, **({"content-type": "application/x-www-form-urlencoded"}
                             if form is not None else {}), **(headers or {})}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "client": (client, 50000),
             "server": ("localhost", 8501),
             "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()]}
    out: dict = {"body": b""}
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = [(k.decode().lower(), v.decode()) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    reply = Reply(out["status"], out["headers"], out["body"].decode())
    for name, value in reply.headers:
        if name == "set-cookie":
            jar = SimpleCookie()
            jar.load(value)
            for key, morsel in jar.items():
                reply.cookies[key] = {"value": morsel.value, "raw": value,
                                      **{k: v for k, v in morsel.items() if v}}
    return reply


def post(app, path, form, *, origin: str | None = SITE, cookie: str | None = None,
         **kw) -> Reply:
    headers = {}
    if origin is not None:
        headers["origin"] = origin
    if cookie is not None:
        headers["cookie"] = f"{COOKIE_NAME}={cookie}"
    return call(app, "POST", path, form=form, headers=headers, **kw)


@pytest.fixture
def team(store) -> Path:
    add_user(store, "lena", "lead-password-1", "lead")
    store.act_as("lena")
    add_user(store, "ann", PASSWORD, "annotator")
    return store.root


def server(root: Path, hosts=("localhost", "127.0.0.1")) -> Starlette:
    return Starlette(routes=routes_for(lambda: root, allowed_hosts=lambda: list(hosts)))


def test_the_form_names_the_project_escaped_and_asks_for_name_and_password(tmp_path):
    root = tmp_path / "<b>lab & co"
    with Store(root, create=True) as s:
        add_user(s, "lena", "lead-password-1", "lead")
    reply = call(server(root), "GET", "/auth/signin?next=/review%3Fselection%3Dx")
    assert reply.status == 200
    assert "&lt;b&gt;lab &amp; co" in reply.body and "<b>lab" not in reply.body
    assert 'autocomplete="username"' in reply.body
    assert 'autocomplete="current-password"' in reply.body
    assert 'name="next" value="/review?selection=x"' in reply.body
    assert "frame-ancestors 'none'" in reply.header("content-security-policy")
    assert "<script" not in reply.body and "http" not in reply.body.split("<body>")[1]


def test_signing_in_sets_an_httponly_strict_cookie_and_goes_to_next(team):
    reply = post(server(team), "/auth/signin",
                 {"name": "ann", "password": PASSWORD, "next": "/review?selection=a"})
    assert reply.status == 303
    assert reply.header("location") == "/review?selection=a"
    cookie = reply.cookies[COOKIE_NAME]
    raw = cookie["raw"].lower()
    assert "httponly" in raw and "samesite=strict" in raw and "path=/" in raw
    assert "secure" not in raw  # plain http: a Secure cookie would never come back
    assert 7 * 86400 - 60 <= int(cookie["max-age"]) <= 7 * 86400
    with Store(team) as s:
        user, _ = session_user(s, cookie["value"])
        assert user.name == "ann"
        assert s.audit_entries(action="signin")[0].actor == "ann"


def test_a_wrong_password_is_401_with_the_message_and_an_audit_row(team):
    reply = post(server(team), "/auth/signin", {"name": "ann", "password": "not-it-at-all"})
    assert reply.status == 401
    assert "wrong name or password" in reply.body
    assert "not-it-at-all" not in reply.body  # never echoed
    assert 'value="ann"' in reply.body  # the name is kept for the next try
    assert COOKIE_NAME not in reply.cookies
    with Store(team) as s:
        row = s.audit_entries(action="signin.failed")[0]
        # nobody is the actor (the person failing is not known to be ann); the target is
        assert row.actor is None and "as ann from 10.0.0.7" in row.summary
        assert "not-it-at-all" not in str(s.audit_entries(limit=None))


def test_a_post_from_another_site_is_refused_before_the_password_is_checked(team):
    app = server(team)
    for origin in ("http://evil.example", "null", f"https://{HOST}.evil.example"):
        reply = post(app, "/auth/signin", {"name": "ann", "password": PASSWORD},
                     origin=origin)
        assert reply.status == 403 and COOKIE_NAME not in reply.cookies, origin
    # no Origin: the Referer decides; neither: refused
    reply = call(app, "POST", "/auth/signin", form={"name": "ann", "password": PASSWORD},
                 headers={"referer": "http://evil.example/login"})
    assert reply.status == 403
    reply = call(app, "POST", "/auth/signin", form={"name": "ann", "password": PASSWORD})
    assert reply.status == 403
    reply = call(app, "POST", "/auth/signin", form={"name": "ann", "password": PASSWORD},
                 headers={"referer": f"{SITE}/auth/signin?next=/"})
    assert reply.status == 303
    with Store(team) as s:
        assert len(s.audit_entries(action="signin")) == 1
        assert not s.audit_entries(action="signin.failed")


def test_a_host_outside_allowed_hosts_is_refused(team):
    """DNS rebinding: a page on rebind.example (pointed at this machine) posts to its own
    host name, so Origin and Host agree; the allow-list refuses it."""
    reply = call(server(team), "POST", "/auth/signin",
                 form={"name": "ann", "password": PASSWORD},
                 headers={"host": "rebind.example:8501",
                          "origin": "http://rebind.example:8501"})
    assert reply.status == 403


@pytest.mark.parametrize("given", ["//evil.com", "https://evil.com/x", "/\\evil.com",
                                   "evil.com", "", "/\t/evil.com", "javascript:alert(1)"])
def test_next_must_be_a_path_on_this_server(team, given):
    reply = post(server(team), "/auth/signin",
                 {"name": "ann", "password": PASSWORD, "next": given})
    assert reply.status == 303 and reply.header("location") == "/"
    assert safe_next(given) == "/"


def test_the_sixth_wrong_password_in_a_minute_waits_with_retry_after(team):
    app = server(team)
    for _ in range(5):
        assert post(app, "/auth/signin", {"name": "ann", "password": "wrong-pass"}).status == 401
    reply = post(app, "/auth/signin", {"name": "ann", "password": PASSWORD})
    assert reply.status == 429
    assert 1 <= int(reply.header("retry-after")) <= 60
    assert "try again in" in reply.body and COOKIE_NAME not in reply.cookies


def test_signing_out_revokes_the_session_and_the_old_cookie_opens_nothing(team):
    app = server(team)
    token = post(app, "/auth/signin", {"name": "ann", "password": PASSWORD}).cookies[
        COOKIE_NAME]["value"]
    refused = post(app, "/auth/signout", {}, cookie=token, origin="http://evil.example")
    assert refused.status == 403  # another site cannot sign anyone out
    with Store(team) as s:
        assert session_user(s, token)[0].name == "ann"
    reply = post(app, "/auth/signout", {}, cookie=token)
    assert reply.status == 303 and reply.header("location").startswith("/auth/signin")
    cleared = reply.cookies[COOKIE_NAME]
    assert cleared["value"] == "" and int(cleared["max-age"]) == 0
    with Store(team) as s:
        assert session_user(s, token) == (None, "signed out")  # a replayed copy is dead
    assert "You signed out." in call(app, "GET", reply.header("location")).body


def test_https_makes_the_cookie_secure_only_through_a_trusted_proxy(team, monkeypatch):
    app = server(team)
    form = {"name": "ann", "password": PASSWORD}
    forwarded = {"origin": SITE, "x-forwarded-proto": "https"}
    reply = call(app, "POST", "/auth/signin", form=form, headers=forwarded)
    assert "secure" not in reply.cookies[COOKIE_NAME]["raw"].lower()
    monkeypatch.setenv("ALS_TRUSTED_PROXY", "1")
    reply = call(app, "POST", "/auth/signin", form=form, headers=forwarded)
    assert "; secure" in reply.cookies[COOKIE_NAME]["raw"].lower()


def test_single_user_mode_says_there_is_nothing_to_sign_in_to(store):
    app = server(store.root)
    reply = call(app, "GET", "/auth/signin")
    assert reply.status == 200 and "no users yet" in reply.body and 'href="/"' in reply.body
    reply = post(app, "/auth/signin", {"name": "x", "password": "whatever-1"})
    assert reply.status == 400 and COOKIE_NAME not in reply.cookies


def test_the_form_warns_when_a_password_would_cross_the_network_in_clear(team, monkeypatch):
    app = server(team, hosts=("localhost", "labels.example.org"))
    warning = "came over plain HTTP"
    assert warning not in call(app, "GET", "/auth/signin").body  # this machine's own name
    remote = {"host": "labels.example.org"}
    assert warning in call(app, "GET", "/auth/signin", headers=remote).body
    monkeypatch.setenv("ALS_TRUSTED_PROXY", "1")  # TLS ends at the proxy in front
    behind_tls = {**remote, "x-forwarded-proto": "https"}
    assert warning not in call(app, "GET", "/auth/signin", headers=behind_tls).body


def test_signing_in_again_in_the_same_browser_ends_the_session_it_held(team):
    app = server(team)
    first = post(app, "/auth/signin", {"name": "ann", "password": PASSWORD}).cookies[
        COOKIE_NAME]["value"]
    again = post(app, "/auth/signin", {"name": "ann", "password": PASSWORD}, cookie=first)
    assert again.status == 303 and again.cookies[COOKIE_NAME]["value"] != first
    with Store(team) as s:
        assert session_user(s, first) == (None, "signed out")
        assert session_user(s, again.cookies[COOKIE_NAME]["value"])[0].name == "ann"


def test_a_form_with_too_many_fields_is_refused_not_an_error_page(team):
    form = {f"f{k}": "x" for k in range(20)}
    reply = post(server(team), "/auth/signin", form)
    assert reply.status == 413 and "too large" in reply.body

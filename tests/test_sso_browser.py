"""Single sign-on end to end, offline: a tiny OpenID Connect provider of the test's own
(Starlette + uvicorn in a thread, an RS256 id_token signed with a key made here by
joserfc, the JOSE library Authlib itself verifies id_tokens with; ``authlib.jose`` is
deprecated), the app served as ``./dev.sh app`` does (serve.py) with ``[auth]`` pointing
at it, and Debian's headless Chromium clicking "Sign in with single sign-on" through
Streamlit's real ``st.login`` flow (``/auth/login`` -> the provider's ``/authorize`` ->
``/oauth2callback`` -> token exchange with PKCE and client authentication -> id_token
checked against the provider's JWKS). The repository's files are not touched: the
secrets file lives in a temporary folder, named by ``STREAMLIT_SECRETS_FILES`` (the
``secrets.files`` option), and ``.streamlit/config.toml`` still applies. Screenshots go
to /tmp/sso-shots/ (1280x800)."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest

from al_core.team.accounts import add_user, set_email
from tests import test_browser
from tests.test_browser import chromium_browser, serve_app, settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp/sso-shots")
CLIENT_ID = "als-test-client"
CLIENT_SECRET = "als-test-client-secret"
ANN_EMAIL = "ann@example.org"
WAIT = 60_000  # ms: two shared, busy cores


# -- the identity provider -------------------------------------------------------------------
@dataclass
class Provider:
    """A minimal OpenID Connect provider: whoever asks is ``identity`` at once (no login
    page), and ``/token`` checks what a real provider checks (one-time code, client
    credentials, the same redirect_uri, the PKCE verifier)."""

    url: str
    identity: dict = field(default_factory=dict)  # the claims the next sign-in gets
    codes: dict = field(default_factory=dict)  # code -> what /authorize saw
    tokens: dict = field(default_factory=dict)  # access token -> claims
    log: list = field(default_factory=list)  # (endpoint, detail) for the assertions


def _provider_app(provider: Provider, redirect_uri_of: Callable[[], str]):
    from joserfc import jwt
    from joserfc.jwk import RSAKey
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig",
                                                "alg": "RS256"})
    public = key.as_dict(private=False)

    def metadata(request):
        base = provider.url
        provider.log.append(("metadata", ""))
        return JSONResponse({
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email",
                                 "email_verified", "name"],
        })

    def authorize(request):
        q = request.query_params
        provider.log.append(("authorize", dict(q)))
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != redirect_uri_of():
            return Response("unknown client or redirect_uri", status_code=400)
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return Response("unsupported request", status_code=400)
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {"nonce": q.get("nonce"), "redirect_uri": q["redirect_uri"],
                                "challenge": q.get("code_challenge"),
                                "method": q.get("code_challenge_method"),
                                "identity": dict(provider.identity)}
        back = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(back, status_code=302)

    async def token(request):
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        grant = provider.codes.pop(form.get("code", ""), None) or {}  # a code works once
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        checks = {
            "client": client_id == CLIENT_ID and client_secret == CLIENT_SECRET,
            "grant_type": form.get("grant_type") == "authorization_code",
            "code": bool(grant),
            "redirect_uri": bool(grant) and form.get("redirect_uri") == grant["redirect_uri"],
            "pkce": bool(grant) and grant["method"] == "S256"
                    and grant["challenge"] == challenge.decode(),
        }
        provider.log.append(("token", checks))
        if not all(checks.values()):
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": json.dumps(checks)}, status_code=400)
        now = int(time.time())
        claims = {"iss": provider.url, "sub": grant["identity"]["sub"], "aud": CLIENT_ID,
                  "iat": now, "exp": now + 600, "nonce": grant["nonce"],
                  **grant["identity"]}
        id_token = jwt.encode({"alg": "RS256", "kid": public["kid"], "typ": "JWT"}, claims,
                              key)
        access_token = secrets.token_urlsafe(24)
        provider.tokens[access_token] = grant["identity"]
        return JSONResponse({"access_token": access_token, "token_type": "Bearer",
                             "expires_in": 600, "scope": "openid email profile",
                             "id_token": id_token},
                            headers={"Cache-Control": "no-store"})

    def jwks(request):
        provider.log.append(("jwks", ""))
        return JSONResponse({"keys": [public]})

    def userinfo(request):
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        provider.log.append(("userinfo", ""))
        if bearer not in provider.tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(provider.tokens[bearer])

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", metadata),
        Route("/authorize", authorize),
        Route("/token", token, methods=["POST"]),
        Route("/jwks", jwks),
        Route("/userinfo", userinfo),
    ])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_port() -> int:
    return _free_port()


@pytest.fixture
def provider(app_port):
    import uvicorn

    port = _free_port()
    prov = Provider(url=f"http://localhost:{port}")
    app = _provider_app(prov, lambda: f"http://localhost:{app_port}/oauth2callback")
    server = uvicorn.Server(uvicorn.Config(app, host="localhost", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test's identity provider did not start")
        time.sleep(0.05)
    yield prov
    server.should_exit = True
    thread.join(timeout=10)


# -- the app ---------------------------------------------------------------------------------
@pytest.fixture
def team(demo_store):
    add_user(demo_store, "lena", "lead-password-1", "lead")
    demo_store.act_as("lena")
    add_user(demo_store, "ann", "annotator-pw-1", "annotator")
    set_email(demo_store, "ann", ANN_EMAIL)
    return demo_store.root


@pytest.fixture
def served_sso(team, provider, app_port, tmp_path, monkeypatch):
    """The app through serve.py (``./dev.sh app``) on ``app_port``, its ``[auth]`` in a
    secrets file outside the repository."""
    secrets_file = tmp_path / "sso-secrets" / "secrets.toml"
    secrets_file.parent.mkdir()
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{app_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n')
    monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets_file))
    monkeypatch.setattr(test_browser, "_free_port", lambda: app_port)
    yield from serve_app(team)


@pytest.fixture
def browser():
    yield from chromium_browser()


def _settled(page) -> None:
    settled(page, timeout=WAIT)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)
    page.screenshot(path=SHOTS / f"{name}-1280x800.png")


def _text(locator) -> str:
    return locator.inner_text().replace("\u2060", "")  # md()'s word joiners


def _sso_rows(root: Path, action: str) -> list:
    from al_core.store import Store

    with Store(root) as store:
        return store.audit_entries(action=action)


def _click_sso(page) -> None:
    page.get_by_role("heading", name="Sign in").wait_for(timeout=WAIT)
    _settled(page)
    page.get_by_role("button", name="Sign in with single sign-on").click()


def test_single_sign_on_signs_a_mapped_user_in(team, provider, served_sso, browser):
    provider.identity = {"sub": "idp-ann-1", "email": ANN_EMAIL, "email_verified": True,
                         "name": "Ann at the IdP"}
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(served_sso)
    page.get_by_role("heading", name="Sign in").wait_for(timeout=WAIT)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=WAIT)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    _settled(page)
    _shot(page, "sso-signin-screen")

    _click_sso(page)  # st.login: /auth/login -> /authorize -> /oauth2callback -> /
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Signed in as").wait_for(timeout=WAIT)
    assert page.url.startswith(served_sso + "/") and "oauth2callback" not in page.url
    assert "Signed in as ann (annotator)" in _text(sidebar)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Review", exact=True).is_visible()
    assert nav.get_by_text("Team", exact=True).count() == 0  # the project's role
    assert sidebar.get_by_role("button", name="Sign out").is_visible()  # st.logout
    assert page.locator('[data-testid="stException"]').count() == 0
    _settled(page)
    _shot(page, "sso-signed-in")

    steps = [name for name, _ in provider.log]
    assert "authorize" in steps and "jwks" in steps
    assert [c for name, c in provider.log if name == "token"] == [
        {"client": True, "grant_type": True, "code": True, "redirect_uri": True,
         "pkce": True}]
    authorize = next(d for name, d in provider.log if name == "authorize")
    assert authorize["nonce"] and authorize["state"]
    # Streamlit's identity cookie is HttpOnly: no page script reads it
    assert "_streamlit_user" not in page.evaluate("document.cookie")
    assert any(c["name"] == "_streamlit_user" and c["httpOnly"]
               for c in page.context.cookies())

    # another page is another rerun of the same tab: still one signin.sso row
    nav.get_by_text("Progress", exact=True).click()
    page.wait_for_url(f"{served_sso}/progress", timeout=WAIT)
    sidebar.get_by_text("Signed in as").wait_for(timeout=WAIT)
    _settled(page)
    assert "Signed in as ann (annotator)" in _text(sidebar)
    rows = _sso_rows(team, "signin.sso")
    assert len(rows) == 1, rows
    assert rows[0].actor == "ann" and ANN_EMAIL in rows[0].summary
    assert _sso_rows(team, "signin.sso_refused") == []

    # st.logout clears Streamlit's cookie: back to the sign-in screen
    sidebar.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for(timeout=WAIT)
    main.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=WAIT)
    assert not any(c["name"].startswith("_streamlit_user") for c in page.context.cookies())


def test_single_sign_on_refuses_an_unmapped_or_unverified_email(team, provider,
                                                                served_sso, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    main = page.locator('[data-testid="stMain"]')

    provider.identity = {"sub": "idp-eve-1", "email": "eve@example.org",
                         "email_verified": True}
    page.goto(served_sso)
    _click_sso(page)
    main.get_by_text("is not mapped to a user of this project").wait_for(timeout=WAIT)
    _settled(page)
    text = _text(main)
    assert "You are not signed in: eve@example.org is not mapped to a user of this " \
           "project: ask a lead to set it on the Team page." in text
    assert "Your identity provider signed you in as eve@example.org. Sign out of single " \
           "sign-on to use another account." in text
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert "Signed in as" not in _text(page.locator("body"))
    _shot(page, "sso-refused-unmapped")

    # out of single sign-on, then in again as ann's address, unverified by the provider
    main.get_by_role("button", name="Sign out of single sign-on").click()
    main.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=WAIT)
    provider.identity = {"sub": "idp-ann-2", "email": ANN_EMAIL, "email_verified": False}
    _click_sso(page)
    main.get_by_text("has not verified").wait_for(timeout=WAIT)
    _settled(page)
    text = _text(main)
    assert f"You are not signed in: the identity provider has not verified {ANN_EMAIL}." \
        in text
    assert "not a user of this project" not in text  # ann's address is a user's
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    _shot(page, "sso-refused-unverified")

    assert _sso_rows(team, "signin.sso") == []
    refused = _sso_rows(team, "signin.sso_refused")
    # nobody is the actor of a refusal (who tried is not known to be a user); the
    # address tried is in the summary, newest first
    assert [r.actor for r in refused] == [None, None]
    assert ANN_EMAIL in refused[0].summary and "eve@example.org" in refused[1].summary
    assert "has not verified" in refused[0].summary
    assert "is not mapped" in refused[1].summary

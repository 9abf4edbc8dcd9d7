"""The app's server is locked down for local use: a WebSocket from a foreign Host (a page
on another site that points its own name at 127.0.0.1: DNS rebinding) is refused."""
import base64
import os
import socket
from urllib.parse import urlparse

import pytest

from tests.test_browser import served  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


def _handshake(url: str, host: str) -> str:
    port = urlparse(url).port
    with socket.create_connection(("localhost", port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"Origin: http://{host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n\r\n"
                   ).encode())
        return s.recv(200).decode(errors="replace").splitlines()[0]


def test_a_foreign_host_cannot_open_the_apps_websocket(served):  # noqa: F811
    assert " 403 " in _handshake(served, "rebind.attacker.example")
    assert " 101 " in _handshake(served, "localhost")
    assert " 101 " in _handshake(served, "127.0.0.1")

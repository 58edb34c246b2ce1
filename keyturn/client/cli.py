"""`keyturn login` and `keyturn token`: the SDK for people and scripts.

`login` runs the code flow with PKCE for a public client through a loopback
redirect (RFC 8252 §7.3); `token` prints a valid access token, refreshing it
when needed. Tokens live under `$XDG_DATA_HOME/keyturn` (default
`~/.local/share/keyturn`), encrypted with a key kept beside them (mode 0600).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import secrets
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from keyturn.client import (
    ReauthorizationRequired,
    TokenManager,
    TokenRefreshError,
    reencrypt_store,
)

LOGIN_TIMEOUT = 300.0


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(base) / "keyturn"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _private_file(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def _encryption_key(folder: Path) -> str:
    path = folder / "key"
    if not path.exists():
        _private_file(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _logins(folder: Path) -> dict[str, object]:
    path = folder / "logins.json"
    return json.loads(path.read_text()) if path.exists() else {"default": None, "issuers": {}}


def _manager(folder: Path, issuer: str, client_id: str) -> TokenManager:
    return TokenManager(
        issuer=issuer,
        client_id=client_id,
        store=f"sqlite:///{folder / 'tokens.db'}",
        encryption_keys=[_encryption_key(folder)],
    )


def _account(issuer: str, client_id: str) -> str:
    return f"{issuer.rstrip('/')}#{client_id}"


def _wait_for_callback(timeout: float) -> tuple[HTTPServer, queue.Queue[dict[str, str]]]:
    answers: queue.Queue[dict[str, str]] = queue.Queue()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/callback":
                self.send_error(404)
                return
            answers.put(dict(parse_qsl(parts.query)))
            body = b"<!doctype html><title>keyturn</title><p>Signed in. You can close this tab."
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Callback)
    server.timeout = timeout
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, answers


def login(issuer: str, client_id: str, scope: str, timeout: float = LOGIN_TIMEOUT) -> int:
    folder = data_dir()
    server, answers = _wait_for_callback(timeout)
    port = server.server_address[1]
    with _manager(folder, issuer, client_id) as manager:
        try:  # the listener stops however this ends: an unreachable issuer included
            start = manager.authorization_url(f"http://127.0.0.1:{port}/callback", scope)
            print(f"Open this URL in a browser to sign in:\n{start.url}", flush=True)
            if os.environ.get("BROWSER"):
                webbrowser.open(start.url)
            params = answers.get(timeout=timeout)
        except TokenRefreshError as exc:  # discovery failed
            print(f"keyturn: login failed: {exc}", file=sys.stderr)
            return 1
        except queue.Empty:
            print("keyturn: no answer from the browser in time", file=sys.stderr)
            return 1
        finally:
            server.shutdown()
            server.server_close()
        try:
            manager.complete_authorization(_account(issuer, client_id), start, params)
        except (ReauthorizationRequired, TokenRefreshError, ValueError) as exc:
            print(f"keyturn: login failed: {exc}", file=sys.stderr)
            return 1
    logins = _logins(folder)
    issuers = logins["issuers"]
    assert isinstance(issuers, dict)
    issuers[issuer.rstrip("/")] = {"client_id": client_id}
    logins["default"] = issuer.rstrip("/")
    _private_file(folder / "logins.json", json.dumps(logins, indent=2))
    print(f"Logged in to {issuer}.", flush=True)
    return 0


def print_token(issuer: str | None) -> int:
    folder = data_dir()
    logins = _logins(folder)
    chosen = (issuer or str(logins.get("default") or "")).rstrip("/")
    issuers = logins["issuers"]
    assert isinstance(issuers, dict)
    entry = issuers.get(chosen)
    if not chosen or entry is None:
        print(
            "keyturn: not logged in; run `keyturn login --issuer URL --client-id ID`",
            file=sys.stderr,
        )
        return 1
    with _manager(folder, chosen, entry["client_id"]) as manager:
        try:
            print(manager.access_token(_account(chosen, entry["client_id"])))
        except ReauthorizationRequired as exc:
            print(
                f"keyturn: not logged in ({exc.reason}); run `keyturn login` again", file=sys.stderr
            )
            return 1
        except TokenRefreshError as exc:
            print(f"keyturn: could not refresh the token: {exc}", file=sys.stderr)
            return 1
    return 0


def reencrypt(store: str) -> int:
    """Re-seal every record of an SDK store under the newest key (rotation's last step)."""
    keys = [k for k in os.environ.get("KEYTURN_CLIENT_ENCRYPTION_KEYS", "").split(",") if k]
    if not keys:
        print("keyturn: set KEYTURN_CLIENT_ENCRYPTION_KEYS (newest first)", file=sys.stderr)
        return 2
    changed = asyncio.run(reencrypt_store(store, keys))
    print(f"re-encrypted {changed} records", flush=True)
    return 0

"""A tiny application that keeps one user's tokens fresh with keyturn.client.

    keyturn client create --name "SDK demo" --scope "openid offline_access" \
        --redirect-uri http://127.0.0.1/callback --access-ttl 60 --json
    ISSUER=http://127.0.0.1:8000 CLIENT_ID=… CLIENT_SECRET=… python examples/sdk_app.py

It sends you through sign-in once (open the printed URL), then calls the
server's UserInfo endpoint every few seconds through `httpx` with the SDK's
auth. With 60-second access tokens you can watch it refresh by itself about
every 54 seconds, and never twice at once however many copies you run.
"""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx

from keyturn.client import ReauthorizationRequired, TokenManager

ACCOUNT = "demo-user"


def sign_in(tm: TokenManager) -> None:
    """Run the code flow once, catching the redirect on a loopback port."""
    answer: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer.update(parse_qsl(urlsplit(self.path).query))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Signed in; back to the terminal.")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Callback)
    start = tm.authorization_url(f"http://127.0.0.1:{server.server_address[1]}/callback")
    print("Sign in here:", start.url)
    server.handle_request()
    server.server_close()
    tm.complete_authorization(ACCOUNT, start, answer)


def main() -> None:
    issuer = os.environ["ISSUER"]
    tm = TokenManager(
        issuer=issuer,
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ.get("CLIENT_SECRET"),
        store="sqlite:///sdk-demo-tokens.db",
        encryption_keys=[os.environ.get("TOKEN_KEY", "demo-only-key-change-me-0123456789abcd")],
        on_reauthorization_required=lambda account: print(f"{account} must sign in again"),
        on_token_update=lambda account, record: print(
            f"refreshed {account}: …{record.access_token[-8:]}"
        ),
    )
    try:
        tm.access_token(ACCOUNT)
    except ReauthorizationRequired:
        sign_in(tm)

    with httpx.Client(auth=tm.auth(ACCOUNT)) as api:
        while True:
            me = api.get(f"{issuer}/oauth/userinfo").json()
            print(
                time.strftime("%H:%M:%S"),
                "sub",
                me.get("sub"),
                "token …" + tm.access_token(ACCOUNT)[-8:],
            )
            time.sleep(5)


if __name__ == "__main__":
    main()

"""`keyturn login` and `keyturn token` as a person and a script use them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from keyturn import admin
from keyturn.oauth.context import Context
from tests.http.oidc_helpers import answer_consent, make_user, sign_in
from tests.support import ServerProcess


def keyturn(data: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BROWSER"}
    env["XDG_DATA_HOME"] = str(data)
    return subprocess.Popen(
        [sys.executable, "-m", "keyturn", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_login_then_token(server: ServerProcess, admin_ctx: Context, tmp_path: Path) -> None:
    client, _ = await admin.create_client(
        admin_ctx,
        admin.ClientSpec(
            name="CLI",
            public=True,
            scope="openid offline_access",
            redirect_uris=("http://127.0.0.1/callback",),
        ),
    )
    not_yet = keyturn(tmp_path, "token")
    _, complaint = await asyncio.to_thread(not_yet.communicate, timeout=60)
    assert not_yet.returncode == 1 and "not logged in" in complaint

    login = keyturn(tmp_path, "login", "--issuer", server.base_url, "--client-id", client.client_id)
    assert login.stdout is not None
    await asyncio.to_thread(login.stdout.readline)  # "Open this URL ..."
    url = (await asyncio.to_thread(login.stdout.readline)).strip()
    assert url.startswith(f"{server.base_url}/oauth/authorize?")

    email = await make_user(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await sign_in(browser, email, "correct horse battery")
        page = await browser.get(url)
        decided = await answer_consent(browser, page)
        callback = decided.headers["location"]
        assert callback.startswith("http://127.0.0.1:")
        landed = await browser.get(callback)  # the CLI's loopback listener
        assert landed.status_code == 200
    out, err = await asyncio.to_thread(login.communicate, timeout=60)
    assert login.returncode == 0, err
    assert "Logged in" in out
    assert oct((tmp_path / "keyturn" / "key").stat().st_mode)[-3:] == "600"

    printed = keyturn(tmp_path, "token")
    token, err = await asyncio.to_thread(printed.communicate, timeout=60)
    assert printed.returncode == 0, err
    token = token.strip()
    assert token.startswith("kta_")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        info = await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert info.status_code == 200
    assert b"kta_" not in (tmp_path / "keyturn" / "tokens.db").read_bytes()


async def test_token_store_reencrypt_command(
    server: ServerProcess, admin_ctx: Context, tmp_path: Path
) -> None:
    from keyturn.client import AsyncTokenManager
    from tests.client.conftest import KEYS, issue, make_app_client

    client, secret = await make_app_client(admin_ctx)
    store = f"sqlite:///{tmp_path / 'app.db'}"
    old = AsyncTokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=store,
        encryption_keys=[KEYS[1]],
    )
    await old.save("a", await issue(admin_ctx, client))
    await old.aclose()
    env = {**os.environ, "KEYTURN_CLIENT_ENCRYPTION_KEYS": ",".join(KEYS)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "keyturn", "token-store", "reencrypt", "--store", store],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1 records" in done.stdout
    new_only = AsyncTokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=store,
        encryption_keys=[KEYS[0]],
    )
    assert await new_only.access_token("a")
    await new_only.aclose()

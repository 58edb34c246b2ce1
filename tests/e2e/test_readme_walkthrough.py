"""The README's walkthrough, run as written, so that it cannot rot.

Every shell block of README.md that follows a `<!-- walkthrough -->` line (an
HTML comment, invisible on the rendered page) runs in order in one bash process
with `set -euo pipefail`, against a real `keyturn serve` started the way a reader
starts it: from the directory the commands run in, with the data directory
`./.keyturn` there and the secret generated into it. Only two things differ
from a reader's terminal: `ISSUER=http://127.0.0.1:8000` points at the test's
free port, and the browser step of the OpenID Connect section (sign in,
consent) is played with httpx; its code replaces the `CODE=…` the reader pastes.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from testkit.oidc import hidden
from tests.support import ServerProcess, running_server

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- walkthrough -->"
README_ISSUER = "ISSUER=http://127.0.0.1:8000"
BLOCK_TIMEOUT = 30.0  # seconds one block may take
TOTAL_TIMEOUT = 90.0  # and all of them together (about 20 s on a quiet machine)


def walkthrough_blocks(markdown: str) -> list[str]:
    """The ```sh blocks right after a walkthrough marker, in the README's order."""
    lines = markdown.splitlines()
    blocks: list[str] = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        assert lines[number + 1] == "```sh", f"README.md:{number + 2}: {MARKER} needs ```sh next"
        end = lines.index("```", number + 2)
        blocks.append("\n".join(lines[number + 2 : end]))
    return blocks


class Shell:
    """One bash that runs blocks one after another, as a reader pasting them would.

    Each block is sourced from a file with stdin from /dev/null, so no command in it
    can swallow the lines that follow; `set -e` ends the shell at the first failure.
    """

    def __init__(self, cwd: Path, scripts: Path, env: dict[str, str]) -> None:
        self.scripts = scripts
        self.transcript: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._count = 0
        self._deadline = time.monotonic() + TOTAL_TIMEOUT
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._send("set -euo pipefail\n")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, block: str) -> str:
        """Run one block; return what it printed (stdout and stderr)."""
        self._count += 1
        script = self.scripts / f"block-{self._count}.sh"
        script.write_text(block + "\n")
        done = f"@@ walkthrough block {self._count} done @@"
        self._send(f"source {shlex.quote(str(script))} </dev/null\nprintf '\\n%s\\n' '{done}'\n")
        self.transcript.append(f"$ # block {self._count}\n{block}\n")
        printed: list[str] = []
        deadline = min(time.monotonic() + BLOCK_TIMEOUT, self._deadline)
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(self._failure("timed out")) from None
            if line is None:
                raise AssertionError(self._failure(f"bash exited ({self.process.wait()})"))
            if line.rstrip("\n") == done:
                break
            printed.append(line)
            self.transcript.append(line)
        return "".join(printed).removesuffix("\n")

    def _failure(self, what: str) -> str:
        return f"walkthrough block {self._count} {what}:\n" + "".join(self.transcript)

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        else:
            self.process.stdin.close()
        self._reader.join(timeout=10)
        self.process.stdout.close()


@contextmanager
def shell(cwd: Path, scripts: Path) -> Iterator[Shell]:
    # A fresh terminal: none of the test run's KEYTURN_* settings leak in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("KEYTURN_")}
    running = Shell(cwd, scripts, env)
    try:
        yield running
    finally:
        running.close()


def install_keyturn_command(cwd: Path) -> None:
    """`.venv/bin/keyturn` as the README calls it, here the keyturn of this test run."""
    command = cwd / ".venv" / "bin" / "keyturn"
    command.parent.mkdir(parents=True)
    command.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m keyturn "$@"\n')
    command.chmod(0o755)


def json_lines(output: str) -> list[Any]:
    """The lines of the output that are JSON objects, parsed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def sign_in_and_allow(issuer: str, authorize_url: str, email: str, password: str) -> dict[str, str]:
    """What the reader does in the browser: sign in, allow; returns the callback's query."""
    with httpx.Client(base_url=issuer, timeout=10) as browser:
        page = browser.get("/login")
        signed_in = browser.post(
            "/login",
            data={
                "email": email,
                "password": password,
                "csrf": hidden(page.text, "csrf"),
                "return_to": "/account",
            },
        )
        assert signed_in.status_code in (302, 303), signed_in.text[:500]
        consent = browser.get(authorize_url)
        assert consent.status_code == 200 and "Allow" in consent.text, consent.text[:500]
        back = browser.post(
            "/oauth/authorize",
            data={
                "csrf": hidden(consent.text, "csrf"),
                "request": hidden(consent.text, "request"),
                "decision": "allow",
            },
        )
        assert back.status_code in (302, 303), back.text[:500]
        location = back.headers["location"]
        assert location.startswith("http://127.0.0.1:8080/callback?"), location
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


class Walkthrough:
    """The blocks and what each printed, looked up by a command the block contains."""

    def __init__(self, blocks: list[str], server: ServerProcess, sh: Shell) -> None:
        self.blocks = blocks
        self.server = server
        self.sh = sh
        self.outputs: list[str] = []

    def run(self) -> None:
        for block in self.blocks:
            if re.search(r"^CODE=", block, re.MULTILINE):
                block = re.sub(
                    r"^CODE=.*$", f"CODE={shlex.quote(self.browser_step())}", block, flags=re.M
                )
            self.outputs.append(self.sh.run(block.replace(README_ISSUER, self.issuer_line)))

    @property
    def issuer_line(self) -> str:
        return f"ISSUER={self.server.base_url}"

    def output(self, command: str) -> str:
        """What the one block containing `command` printed."""
        matches = [i for i, block in enumerate(self.blocks) if command in block]
        assert len(matches) == 1, f"{len(matches)} walkthrough blocks contain {command!r}"
        assert matches[0] < len(self.outputs), f"the block with {command!r} did not run yet"
        return self.outputs[matches[0]]

    def block(self, command: str) -> str:
        return next(block for block in self.blocks if command in block)

    def browser_step(self) -> str:
        printed = self.output("oauth/authorize?")
        authorize_url = next(
            (line for line in printed.splitlines() if line.startswith(f"{self.server.base_url}/")),
            None,
        )
        assert authorize_url, f"no authorization URL printed: {printed}"
        user = re.search(
            r"echo '([^']+)' \| \.venv/bin/keyturn user create --email (\S+)",
            self.block("user create"),
        )
        assert user, "the OpenID Connect section creates its user with --password-stdin"
        password, email = user.groups()
        query = sign_in_and_allow(self.server.base_url, authorize_url, email, password)
        sent = parse_qs(urlsplit(authorize_url).query)
        assert query["state"] == sent["state"][0]
        assert query["iss"] == self.server.base_url
        return query["code"]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) >= 12, "the walkthrough markers went missing"
    assert blocks[0].splitlines()[0] == README_ISSUER, "the walkthrough starts with ISSUER=…"
    for block in blocks:
        for line in block.splitlines():
            code = line.split("#", 1)[0]
            assert "127.0.0.1:8000" not in code or line == README_ISSUER, f"use $ISSUER: {line}"

    cwd = tmp_path / "repository"
    scripts = tmp_path / "blocks"
    cwd.mkdir()
    scripts.mkdir()
    install_keyturn_command(cwd)
    data_dir = cwd / ".keyturn"
    # As scripts/serve runs it: SQLite in ./.keyturn, the secret generated there.
    with (
        running_server(
            f"sqlite:///{data_dir / 'keyturn.db'}", data_dir, unset=("KEYTURN_SECRET_KEY",)
        ) as server,
        shell(cwd, scripts) as sh,
    ):
        walkthrough = Walkthrough(blocks, server, sh)
        walkthrough.run()
        check_partner_steps(walkthrough)
        check_operator_steps(walkthrough)
        check_admin_api(walkthrough)
        check_openid_connect(walkthrough)
    assert (data_dir / "secret_key").exists()
    assert "Traceback" not in server.log_path.read_text(errors="replace")


def check_partner_steps(w: Walkthrough) -> None:
    assert w.outputs[0] == ""
    (partner,) = json_lines(w.output('--name "Partner"'))
    assert set(partner) == {"client_id", "client_secret"}

    (user,) = json_lines(w.output('a-long-random-code"}'))
    assert user["email"] == "ann@example.com" and user["active"] is True

    (tokens,) = json_lines(w.output('RT=$(echo "$TOKENS" | field refresh_token)'))
    assert tokens["access_token"].startswith("kta_")
    assert tokens["refresh_token"].startswith("ktr_")
    assert tokens["expires_in"] == 43200 and tokens["scope"] == "transfers balances"

    refreshed, retried = json_lines(w.output('echo "$NEW"'))
    assert refreshed == retried, "a retry inside the grace window gets the identical answer"
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]

    live, replaced = json_lines(w.output('-d token="$RT2"'))
    assert live["active"] is True and live["token_type"] == "refresh_token"
    assert live["client_id"] == partner["client_id"]
    assert replaced == {"active": False}

    replay = w.output("RT3=")
    reuse, newest = json_lines(replay)
    assert reuse["error"] == "invalid_grant" and reuse["reason"] == "reuse_detected"
    assert newest == {"active": False}, "the whole grant is revoked"
    assert "refresh_token_reuse" in replay

    revoked = w.output("/oauth/revoke")
    assert revoked.splitlines()[0] == "200"
    assert json_lines(revoked) == [{"active": False}]


def check_operator_steps(w: Walkthrough) -> None:
    operate = w.output("user claim")
    grants = [line for line in operate.splitlines() if "scope='transfers balances'" in line]
    assert len(grants) == 1 and "revoked=" not in grants[0], operate
    assert "ann@example.com claimed" in operate
    (claimed,) = json_lines(operate)
    assert claimed["error"] == "invalid_grant" and claimed["reason"] == "account_claimed"
    assert "revoked 1 grant\n" in operate
    assert "enhanced security on; 0 grants revoked" in operate

    secrets_and_keys = w.output("rotate-secret")
    (client_token,) = json_lines(secrets_and_keys)
    assert "access_token" in client_token, f"the rotated secret is not in $SECRET: {client_token}"
    assert "new current keys" in secrets_and_keys
    assert sum(line.endswith("  current") for line in secrets_and_keys.splitlines()) == 4
    assert "purged" in secrets_and_keys


def check_admin_api(w: Walkthrough) -> None:
    page, revoked, refused = json_lines(w.output("admin/v1/users?email=cy@example.com"))
    assert len(page["items"]) == 1 and page["next_cursor"] is None, page
    assert page["items"][0]["revoked_at"] is None
    assert revoked["revoked_reason"] == "revoked_by_admin", revoked
    assert refused["status"] == 401 and refused["title"] == "Unauthorized"
    assert "\n204\n" in "\n" + w.output("admin/v1/users?email=cy@example.com") + "\n"


def check_openid_connect(w: Walkthrough) -> None:
    assert w.output("user create").startswith("user_id=")
    exchanged, refreshed = json_lines(w.output("grant_type=authorization_code"))
    assert exchanged["refresh_token"].startswith("ktr_"), exchanged
    first, second = claims(exchanged["id_token"]), claims(refreshed["id_token"])
    assert first["iss"] == w.server.base_url
    assert second["iat"] >= first["iat"]
    for name in ("sub", "aud", "auth_time"):
        assert first[name] == second[name], name

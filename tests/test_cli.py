"""The `keyturn` command as operators and scripts use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import SECRET_KEY


def keyturn(
    data_dir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY}
    command = [sys.executable, "-m", "keyturn", *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory `keyturn migrate` has prepared, as the operator's commands need."""
    assert keyturn(tmp_path, "migrate").returncode == 0
    return tmp_path


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_client_lifecycle(data_dir: Path) -> None:
    created = ok_json(
        keyturn(
            data_dir,
            "client",
            "create",
            "--name",
            "Web",
            "--scope",
            "openid offline_access",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
        )
    )
    assert set(created) == {"client_id", "client_secret"}
    public = ok_json(keyturn(data_dir, "client", "create", "--name", "CLI", "--public", "--json"))
    assert set(public) == {"client_id"}
    rotated = ok_json(
        keyturn(
            data_dir, "client", "rotate-secret", created["client_id"], "--revoke-tokens", "--json"
        )
    )
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    listed = ok_json(keyturn(data_dir, "client", "list", "--json"))
    assert [c["name"] for c in listed] == ["Web", "CLI"]
    assert listed[0]["grant_types"] == ["authorization_code", "refresh_token"]
    assert keyturn(data_dir, "client", "disable", created["client_id"]).returncode == 0
    assert ok_json(keyturn(data_dir, "client", "list", "--json"))[0]["disabled"] is True


def test_public_client_cannot_turn_off_rotation(data_dir: Path) -> None:
    result = keyturn(data_dir, "client", "create", "--name", "X", "--public", "--no-rotation")
    assert result.returncode == 1
    assert "rotate" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert keyturn(tmp_path, "client", "create").returncode == 2
    assert keyturn(tmp_path, "grant", "revoke").returncode == 2
    assert (
        keyturn(tmp_path, "client", "create", "--name", "X", "--grant-type", "magic").returncode
        == 2
    )


def test_unknown_client_is_exit_1_with_reason(data_dir: Path) -> None:
    result = keyturn(data_dir, "client", "rotate-secret", "nope")
    assert result.returncode == 1 and "nope" in result.stderr


def test_users_grants_and_revoke_matching_nothing(data_dir: Path) -> None:
    user = ok_json(
        keyturn(
            data_dir,
            "user",
            "create",
            "--email",
            "Ann@Example.com",
            "--password-stdin",
            "--json",
            stdin="pa55word\n",
        )
    )
    assert len(user["user_id"]) == 32
    duplicate = keyturn(data_dir, "user", "create", "--email", "ann@example.com")
    assert duplicate.returncode == 1
    assert ok_json(keyturn(data_dir, "grant", "list", "--user", "ann@example.com", "--json")) == []
    revoked = keyturn(data_dir, "grant", "revoke", "--user", "ann@example.com", "--reason", "test")
    assert revoked.returncode == 0
    on = keyturn(data_dir, "user", "enhanced-security", "ann@example.com", "on")
    assert on.returncode == 0
    claim = keyturn(data_dir, "user", "claim", "ann@example.com", "--password-stdin", stdin="x\n")
    assert claim.returncode == 1 and "not created by a partner" in claim.stderr


def test_keys_rotate_and_list(data_dir: Path) -> None:
    first = ok_json(keyturn(data_dir, "keys", "list", "--json"))
    assert {k["kind"] for k in first} == {"mac", "RS256", "ES256", "EdDSA"}
    assert all(k["current"] for k in first)
    rotated = ok_json(keyturn(data_dir, "keys", "rotate", "--json"))
    assert len(rotated["kids"]) == 4
    keys = ok_json(keyturn(data_dir, "keys", "list", "--json"))
    current = {k["kid"] for k in keys if k["current"]}
    assert current == set(rotated["kids"])
    assert all(k["retired_at"] is None for k in keys)
    old_mac = next(k["kid"] for k in first if k["kind"] == "mac")
    assert keyturn(data_dir, "keys", "retire", str(old_mac)).returncode == 0
    last = keyturn(data_dir, "keys", "retire", str(rotated["kids"][0]))
    assert last.returncode == 1 and "last" in last.stderr


def test_migrate_gc_and_events(tmp_path: Path) -> None:
    assert keyturn(tmp_path, "migrate").returncode == 0
    assert ok_json(keyturn(tmp_path, "gc", "--json")) == {
        "grants": 0,
        "events": 0,
        "codes": 0,
        "sessions": 0,
        "deliveries": 0,
    }
    keyturn(tmp_path, "user", "create", "--email", "bob@example.com")
    keyturn(tmp_path, "user", "enhanced-security", "bob@example.com", "on")
    events = ok_json(keyturn(tmp_path, "events", "--json"))
    assert isinstance(events, list)
    assert [event["kind"] for event in events] == ["user_created", "enhanced_security"]
    assert {event["actor"] for event in events} == {"cli"}


def test_events_follow_json_prints_one_object_a_line(data_dir: Path) -> None:
    keyturn(data_dir, "user", "create", "--email", "bob@example.com")
    keyturn(data_dir, "user", "enhanced-security", "bob@example.com", "on")
    keyturn(data_dir, "user", "enhanced-security", "bob@example.com", "off")
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY}
    command = [sys.executable, "-m", "keyturn", "events", "--follow", "--json"]
    follow = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert follow.stdout is not None
        lines = [follow.stdout.readline() for _ in range(3)][1:]  # after user_created
    finally:
        follow.terminate()
        follow.communicate(timeout=10)
    assert [json.loads(line)["detail"]["enabled"] for line in lines] == [True, False]


def test_unknown_setting_in_environment_is_a_warning(data_dir: Path) -> None:
    """Orchestrators inject variables with our prefix; a typo is still named."""
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY, "KEYTURN_DATABSE": "typo"}
    result = subprocess.run(
        [sys.executable, "-m", "keyturn", "client", "list", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("KEYTURN_DATABSE") == 1


def test_client_ids_never_start_with_a_dash() -> None:
    from keyturn.admin import new_client_id

    assert not any(new_client_id().startswith(("-", "_")) for _ in range(2000))


@pytest.mark.parametrize("client_id", ["-Xyz", "--Xyz", "-"])
def test_login_accepts_a_client_id_starting_with_a_dash(tmp_path: Path, client_id: str) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "keyturn", "login", "--issuer", "http://127.0.0.1:9"]
    result = subprocess.run(
        [*command, "--client-id", client_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    # Parsed: it gets as far as discovery, which fails (nothing listens on port 9).
    assert result.returncode == 1, result.stderr
    assert "expected one argument" not in result.stderr


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "KEYTURN_SECRET_KEY": "short"}
    result = subprocess.run(
        [sys.executable, "-m", "keyturn", "client", "list", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1 and "32" in result.stderr


@pytest.mark.parametrize("flag", ["--version"])
def test_version(flag: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "keyturn", flag], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("keyturn ")


def serve_result(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY}
    command = [sys.executable, "-m", "keyturn", "serve", "--data-dir", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_result(tmp_path, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"keyturn: port {port} on 127.0.0.1: Address already in use"
    ]
    assert "issuer" not in result.stdout  # nothing claims to have started


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_all_addresses_without_an_issuer_is_refused(tmp_path: Path, host: str) -> None:
    result = serve_result(tmp_path, "--host", host)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "--issuer" in result.stderr


def test_a_bad_log_level_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY, "KEYTURN_LOG_LEVEL": "loud"}
    command = [sys.executable, "-m", "keyturn", "serve", "--data-dir", str(tmp_path)]
    bad = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith("keyturn: log_level: Input should be 'debug', 'info', 'warning' or")
    assert line.endswith("(from KEYTURN_LOG_LEVEL)")


def test_migrate_says_what_it_applied_and_status_what_is_pending(tmp_path: Path) -> None:
    status = ok_json(keyturn(tmp_path, "migrate", "--status", "--json"))
    assert status["applied"] == [] and "0001_initial" in status["pending"]
    first = ok_json(keyturn(tmp_path, "migrate", "--json"))
    assert first["applied"] == status["pending"]
    assert ok_json(keyturn(tmp_path, "migrate", "--json")) == {"applied": []}
    after = ok_json(keyturn(tmp_path, "migrate", "--status", "--json"))
    assert after == {"applied": first["applied"], "pending": []}
    assert ok_json(keyturn(tmp_path, "keys", "list", "--json"))  # the first keys exist


def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    import sqlite3

    assert keyturn(tmp_path, "migrate").returncode == 0
    with sqlite3.connect(tmp_path / "keyturn.db") as db:
        db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 0)"
        )
    for command in (["migrate"], ["client", "list"]):
        result = keyturn(tmp_path, *command)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "9999, newer than this keyturn knows" in result.stderr


def test_commands_create_nothing_in_a_missing_data_dir(tmp_path: Path) -> None:
    """Only serve and migrate make a database: a mistyped --data-dir is an error, not
    a second, empty keyturn that answers every client with invalid_client."""
    missing = tmp_path / "typo"
    for command in (["client", "list"], ["events", "--json"], ["keys", "list"]):
        result = keyturn(missing, *command)
        assert result.returncode == 1
        assert result.stderr.startswith("keyturn: data_dir: no keyturn database at")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists()


def test_commands_refuse_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "keyturn.db").close()  # exists, but empty
    result = keyturn(tmp_path, "client", "list")
    assert result.returncode == 1
    assert "not migrated" in result.stderr and "keyturn migrate" in result.stderr
    with sqlite3.connect(tmp_path / "keyturn.db") as db:
        tables = db.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []  # not even the migrations ledger was created


def test_commands_do_not_generate_a_secret(tmp_path: Path) -> None:
    """The embedded default's secret is made by serve or migrate; a command run without
    KEYTURN_SECRET_KEY in a prepared data dir finds it, and never writes another."""
    env = {k: v for k, v in os.environ.items() if k != "KEYTURN_SECRET_KEY"}
    base = [sys.executable, "-m", "keyturn"]
    migrate = subprocess.run(
        [*base, "migrate", "--data-dir", str(tmp_path)], env=env, capture_output=True, timeout=60
    )
    assert migrate.returncode == 0
    secret = (tmp_path / "secret_key").read_text()
    listed = subprocess.run(
        [*base, "client", "list", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (tmp_path / "secret_key").unlink()
    lost = subprocess.run(
        [*base, "client", "list", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lost.returncode == 1 and "secret_key" in lost.stderr
    assert not (tmp_path / "secret_key").exists() and secret


def test_a_different_secret_key_is_one_line(data_dir: Path) -> None:
    env = {**os.environ, "KEYTURN_SECRET_KEY": "another-secret-of-at-least-32-characters!"}
    result = subprocess.run(
        [sys.executable, "-m", "keyturn", "keys", "list", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "keyturn: cannot unseal a server key: KEYTURN_SECRET_KEY differs from the one that made it"
    ]


def test_client_show_update_enable_delete(data_dir: Path) -> None:
    created = ok_json(keyturn(data_dir, "client", "create", "--name", "App", "--json"))
    client_id = created["client_id"]
    updated = ok_json(
        keyturn(
            data_dir,
            "client",
            "update",
            client_id,
            "--name",
            "App 2",
            "--require-mfa",
            "--allowed-origin",
            "https://app.example",
            "--access-ttl",
            "600",
            "--json",
        )
    )
    assert (updated["name"], updated["require_mfa"], updated["access_ttl"]) == ("App 2", True, 600)
    assert updated["allowed_origins"] == ["https://app.example"]
    shown = ok_json(keyturn(data_dir, "client", "show", client_id, "--json"))
    assert shown == updated and "client_secret" not in shown
    cleared = ok_json(
        keyturn(
            data_dir,
            "client",
            "update",
            client_id,
            "--no-require-mfa",
            "--no-allowed-origins",
            "--json",
        )
    )
    assert (cleared["require_mfa"], cleared["allowed_origins"]) == (False, [])
    nothing = keyturn(data_dir, "client", "update", client_id)
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr
    bad = keyturn(data_dir, "client", "update", client_id, "--allowed-origin", "https://a.b/x")
    assert bad.returncode == 1 and "origin" in bad.stderr
    assert keyturn(data_dir, "client", "disable", client_id).returncode == 0
    assert ok_json(keyturn(data_dir, "client", "enable", client_id, "--json"))["disabled"] is False
    deleted = ok_json(keyturn(data_dir, "client", "delete", client_id, "--json"))
    assert deleted == {"client_id": client_id, "deleted": True, "grants_revoked": 0}
    gone = keyturn(data_dir, "client", "show", client_id)
    assert gone.returncode == 1 and client_id in gone.stderr
    assert client_id not in keyturn(data_dir, "client", "list").stdout


def test_an_admin_client_gets_the_admin_scopes_and_only_it(data_dir: Path) -> None:
    ops = ok_json(keyturn(data_dir, "client", "create", "--name", "Ops", "--admin", "--json"))
    shown = ok_json(keyturn(data_dir, "client", "show", ops["client_id"], "--json"))
    assert shown["admin"] is True and shown["grant_types"] == ["client_credentials"]
    assert shown["scope"] == "keyturn:admin:read keyturn:admin:write"
    sneaky = keyturn(data_dir, "client", "create", "--name", "X", "--scope", "keyturn:admin:write")
    assert sneaky.returncode == 1 and "admin" in sneaky.stderr


def test_user_list_disable_enable_delete(data_dir: Path) -> None:
    for email in ("ann@example.com", "bob@example.com"):
        assert keyturn(data_dir, "user", "create", "--email", email).returncode == 0
    listed = ok_json(keyturn(data_dir, "user", "list", "--json"))
    assert [u["email"] for u in listed] == ["ann@example.com", "bob@example.com"]
    assert ok_json(keyturn(data_dir, "user", "disable", "ann@example.com", "--json"))["disabled"]
    assert "disabled" in keyturn(data_dir, "user", "list").stdout
    enabled = ok_json(keyturn(data_dir, "user", "enable", "ann@example.com", "--json"))
    assert enabled["disabled"] is False
    deleted = ok_json(keyturn(data_dir, "user", "delete", "ann@example.com", "--json"))
    assert deleted["deleted"] is True
    assert [u["email"] for u in ok_json(keyturn(data_dir, "user", "list", "--json"))] == [
        "bob@example.com"
    ]
    again = keyturn(data_dir, "user", "delete", "ann@example.com")
    assert again.returncode == 1 and "no user" in again.stderr
    # The address is free again; the erased user's events keep only its id.
    assert keyturn(data_dir, "user", "create", "--email", "ann@example.com").returncode == 0
    events = ok_json(keyturn(data_dir, "events", "--json"))
    assert "user_deleted" in [e["kind"] for e in events]


def test_webhook_create_list_delete(data_dir: Path) -> None:
    created = ok_json(
        keyturn(
            data_dir,
            "webhook",
            "create",
            "--url",
            "https://hooks.example/keyturn",
            "--kind",
            "refresh_token_reuse",
            "--json",
        )
    )
    assert created["webhook_id"].startswith("wh_") and created["secret"].startswith("whsec_")
    listed = ok_json(keyturn(data_dir, "webhook", "list", "--json"))
    assert [(w["webhook_id"], w["kinds"]) for w in listed] == [
        (created["webhook_id"], ["refresh_token_reuse"])
    ]
    assert created["secret"] not in keyturn(data_dir, "webhook", "list").stdout
    bad = keyturn(data_dir, "webhook", "create", "--url", "ftp://x.example/")
    assert bad.returncode == 1 and "http" in bad.stderr
    unknown = keyturn(data_dir, "webhook", "create", "--url", "https://a.example", "--kind", "x")
    assert unknown.returncode == 1 and "unknown event kinds" in unknown.stderr
    assert keyturn(data_dir, "webhook", "delete", created["webhook_id"]).returncode == 0
    assert ok_json(keyturn(data_dir, "webhook", "list", "--json")) == []
    kinds = [e["kind"] for e in ok_json(keyturn(data_dir, "events", "--json"))]
    assert kinds[-2:] == ["webhook_created", "webhook_deleted"]
    only = ok_json(keyturn(data_dir, "events", "--kind", "webhook_deleted", "--json"))
    assert [e["kind"] for e in only] == ["webhook_deleted"]
    assert ok_json(keyturn(data_dir, "events", "--since", "2999-01-01", "--json")) == []

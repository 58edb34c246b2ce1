"""The `keyturn` command as operators and scripts use it.

Most commands run in this process: `run_cli` calls `keyturn.cli.main` as
`python -m keyturn` would, with the environment, stdin, stdout, stderr, umask and
logging of a fresh interpreter, and restores the test process's afterwards. A few
tests still start a real process: they are about what only one shows (an exit
status and stderr from `python -m keyturn`, a command that runs until stopped,
the warnings of an interpreter nothing configured logging in).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from keyturn.cli import main

# What `login` and `serve` import on first use, imported before any command runs, so
# the loggers those imports make exist before the first run (see _restore_logging).
from keyturn.config import Secret, Settings
from keyturn.http import serving  # noqa: F401
from keyturn.oauth.two_step import code_at
from keyturn.operations import two_step, users
from keyturn.runtime import open_context
from tests.support import SECRET_KEY

Completed = subprocess.CompletedProcess[str]


def _restore_environment(saved: Mapping[str, str]) -> None:
    """os.environ as it was (`serve` puts its flags there for its workers)."""
    for name in [name for name in os.environ if name not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


LoggerState = tuple[logging.Logger, list[logging.Handler], int, bool, bool]


def _fresh_logging() -> tuple[int, list[LoggerState]]:
    """Logging as a new interpreter has it for keyturn: no handler on the root logger
    (a warning reaches stderr through logging.lastResort) and keyturn's own loggers as
    made; returns what to put back, for every logger there is (`serve` sets some)."""
    manager = logging.Logger.manager
    loggers = [logging.root] + [
        found for found in manager.loggerDict.values() if isinstance(found, logging.Logger)
    ]
    saved = (
        manager.disable,
        [(lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers],
    )
    manager.disable = logging.NOTSET
    for lg in loggers:
        if lg is logging.root or lg.name == "keyturn" or lg.name.startswith("keyturn."):
            lg.handlers, lg.propagate, lg.disabled, lg.level = [], True, False, logging.NOTSET
    logging.root.setLevel(logging.WARNING)  # and forgets every logger's cached level
    return saved


def _restore_logging(saved: tuple[int, list[LoggerState]]) -> None:
    disable, states = saved
    known = {id(state[0]) for state in states}
    for found in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(found, logging.Logger) and id(found) not in known:  # made by the run
            found.handlers, found.propagate, found.disabled = [], True, False
            found.level = logging.NOTSET
    for lg, handlers, level, propagate, disabled in states:
        lg.handlers, lg.level, lg.propagate, lg.disabled = handlers, level, propagate, disabled
    logging.Logger.manager.disable = disable
    logging.root.setLevel(logging.root.level)  # forget the cached levels


def _exit_status(code: object) -> tuple[int, str]:
    """What the interpreter makes of SystemExit(code): the status, and text for stderr."""
    if code is None:
        return 0, ""
    if isinstance(code, int):
        return code, ""
    return 1, f"{code}\n"


def run_cli(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
    stdin: str | None = None,
) -> Completed:
    """`python -m keyturn ARGV` with `env` added to and `unset` taken from the
    environment, in this process; the result as subprocess.run would give it.

    main() runs asyncio.run, so this is for synchronous tests only.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise AssertionError("run_cli runs asyncio.run: call it from a synchronous test")
    out, err = io.StringIO(), io.StringIO()
    umask = os.umask(0o022)
    os.umask(umask)
    environment = dict(os.environ)
    os.environ.update(env or {})
    for name in unset:
        os.environ.pop(name, None)
    logging_state = _fresh_logging()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")  # without input: at its end, as /dev/null is
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                returncode = main(list(argv))
            except SystemExit as exc:  # argparse: usage errors, --version
                returncode, text = _exit_status(exc.code)
                err.write(text)
            except Exception:  # as the interpreter does: a traceback, and 1
                traceback.print_exc()
                returncode = 1
    finally:
        sys.stdin = saved_stdin
        _restore_logging(logging_state)
        _restore_environment(environment)
        os.umask(umask)
    return subprocess.CompletedProcess(
        ["keyturn", *argv], returncode, out.getvalue(), err.getvalue()
    )


def keyturn(
    data_dir: Path,
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
) -> Completed:
    """An operator's command on `data_dir`, with the test secret unless `env` or
    `unset` says otherwise."""
    return run_cli(
        [*args, "--data-dir", str(data_dir)],
        env={"KEYTURN_SECRET_KEY": SECRET_KEY, **(env or {})},
        unset=unset,
        stdin=stdin,
    )


def keyturn_process(*args: str, env: Mapping[str, str] | None = None) -> Completed:
    """A real `python -m keyturn ARGS`, with the test secret."""
    environment = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY, **(env or {})}
    command = [sys.executable, "-m", "keyturn", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory `keyturn migrate` prepared, once for the module."""
    folder = tmp_path_factory.mktemp("migrated")
    result = keyturn(folder, "migrate")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, migrated: Path) -> Path:
    """A data directory `keyturn migrate` has prepared, as the operator's commands need:
    a copy of the module's, so each test starts from the freshly migrated state."""
    shutil.copytree(migrated, tmp_path, dirs_exist_ok=True)
    return tmp_path


def ok_json(result: Completed) -> Any:
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
    # A real process: it prints until it is stopped.
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
    """Orchestrators inject variables with our prefix; a typo is still named.

    A real process, where nothing configured logging (run_cli imitates that)."""
    env = {"KEYTURN_DATABSE": "typo"}
    result = keyturn_process("client", "list", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("KEYTURN_DATABSE") == 1


def test_client_ids_never_start_with_a_dash() -> None:
    from keyturn.admin import new_client_id

    assert not any(new_client_id().startswith(("-", "_")) for _ in range(2000))


@pytest.mark.parametrize("client_id", ["-Xyz", "--Xyz", "-"])
def test_login_accepts_a_client_id_starting_with_a_dash(tmp_path: Path, client_id: str) -> None:
    result = run_cli(
        ["login", "--issuer", "http://127.0.0.1:9", "--client-id", client_id],
        env={"XDG_DATA_HOME": str(tmp_path)},
    )
    # Parsed: it gets as far as discovery, which fails (nothing listens on port 9), in
    # one line, and its loopback listener for the browser's answer is closed again.
    assert result.returncode == 1, result.stderr
    assert "expected one argument" not in result.stderr
    assert result.stderr.startswith("keyturn: login failed:") and "Traceback" not in result.stderr
    assert not [t for t in threading.enumerate() if "serve_forever" in repr(t)]


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    result = keyturn(tmp_path, "client", "list", env={"KEYTURN_SECRET_KEY": "short"})
    assert result.returncode == 1 and "32" in result.stderr


@pytest.mark.parametrize("flag", ["--version"])
def test_version(flag: str) -> None:
    result = run_cli([flag])
    assert result.returncode == 0 and result.stdout.startswith("keyturn ")


def serve_result(tmp_path: Path, *args: str, env: Mapping[str, str] | None = None) -> Completed:
    """`keyturn serve` in this process, for the failures before it would listen (it
    puts its flags in the environment and sets up logging: run_cli puts both back)."""
    return run_cli(
        ["serve", "--data-dir", str(tmp_path), *args],
        env={"KEYTURN_SECRET_KEY": SECRET_KEY, **(env or {})},
    )


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A real process: the exit status and the one line as an operator sees them.
        result = keyturn_process("serve", "--data-dir", str(tmp_path), "--port", str(port))
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
    bad = serve_result(tmp_path, env={"KEYTURN_LOG_LEVEL": "loud"})
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
    unset = ["KEYTURN_SECRET_KEY"]
    migrate = keyturn(tmp_path, "migrate", unset=unset)
    assert migrate.returncode == 0
    secret = (tmp_path / "secret_key").read_text()
    listed = keyturn(tmp_path, "client", "list", unset=unset)
    assert listed.returncode == 0, listed.stderr
    (tmp_path / "secret_key").unlink()
    lost = keyturn(tmp_path, "client", "list", unset=unset)
    assert lost.returncode == 1 and "secret_key" in lost.stderr
    assert not (tmp_path / "secret_key").exists() and secret


def test_a_different_secret_key_is_one_line(data_dir: Path) -> None:
    env = {"KEYTURN_SECRET_KEY": "another-secret-of-at-least-32-characters!"}
    result = keyturn(data_dir, "keys", "list", env=env)
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


def turn_on_two_step(data_dir: Path, email: str) -> None:
    """What the person does on the account page, done through the same operations."""

    async def enrol() -> None:
        settings = Settings(data_dir=str(data_dir), secret_key=Secret(SECRET_KEY))
        ctx = await open_context(settings, create=False)
        try:
            user = await users.user_by_email(ctx, email)
            setup = two_step.new_setup(ctx, user, b"-")
            code = code_at(setup.secret, time.time())
            assert await two_step.confirm_setup(ctx, user, setup, code, b"-", None) is not None
        finally:
            await ctx.store.close()

    asyncio.run(enrol())


def test_user_reset_two_step(data_dir: Path) -> None:
    assert keyturn(data_dir, "user", "create", "--email", "cy@example.com").returncode == 0
    off = ok_json(keyturn(data_dir, "user", "reset-two-step", "cy@example.com", "--json"))
    assert off == {"email": "cy@example.com", "two_step": False, "was_on": False}
    turn_on_two_step(data_dir, "cy@example.com")
    (listed,) = ok_json(keyturn(data_dir, "user", "list", "--json"))
    assert listed["two_step"] is True and listed["recovery_codes_left"] == 10
    assert "two-step" in keyturn(data_dir, "user", "list").stdout
    reset = keyturn(data_dir, "user", "reset-two-step", "cy@example.com")
    assert reset.returncode == 0 and "every session ended" in reset.stdout
    (listed,) = ok_json(keyturn(data_dir, "user", "list", "--json"))
    assert listed["two_step"] is False
    events = ok_json(keyturn(data_dir, "events", "--kind", "mfa_removed", "--json"))
    assert [(e["actor"], e["detail"]["reset"]) for e in events] == [("cli", True)]
    unknown = keyturn(data_dir, "user", "reset-two-step", "nobody@example.com")
    assert unknown.returncode == 1 and "no user" in unknown.stderr

"""Settings from flags, the environment and a TOML file, as operators give them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.cli.parser import build_parser
from keyturn.config import Settings
from testkit.services import POSTGRES_URL, SECRET_KEY, running_server
from tests.support import create_database, drop_database


def keyturn(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "keyturn", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def shown(*args: str, **env: str) -> dict[str, Any]:
    result = keyturn("config", "show", "--json", *args, **env)
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout)
    return values


def test_a_flag_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "keyturn.toml"
    config.write_text(
        'port = 7000\nworkers = 3\nlog_format = "json"\ntrusted_proxies = ["10.0.0.0/8"]\n'
    )
    from_file = shown("--config", str(config))
    assert (from_file["port"], from_file["workers"], from_file["log_format"]) == (7000, 3, "json")
    assert from_file["trusted_proxies"] == ["10.0.0.0/8"]
    from_env = shown(KEYTURN_CONFIG=str(config), KEYTURN_PORT="7100", KEYTURN_WORKERS="2")
    assert (from_env["port"], from_env["workers"], from_env["log_format"]) == (7100, 2, "json")
    flagged = shown("--port", "7200", KEYTURN_CONFIG=str(config), KEYTURN_PORT="7100")
    assert flagged["port"] == 7200 and flagged["workers"] == 3
    defaults = shown()
    assert (defaults["port"], defaults["workers"], defaults["log_format"]) == (8000, 1, "text")
    comma = shown(KEYTURN_TRUSTED_PROXIES="10.0.0.0/8, 2001:db8::/32")
    assert comma["trusted_proxies"] == ["10.0.0.0/8", "2001:db8::/32"]


def test_show_replaces_every_secret(tmp_path: Path) -> None:
    config = tmp_path / "keyturn.toml"
    config.write_text(f'secret_key = "{SECRET_KEY}"\nredis = "redis://:hunter2hunter2@h:6379/0"\n')
    result = keyturn(
        "config",
        "show",
        "--config",
        str(config),
        "--database",
        "postgresql://keyturn:pg-password-42@db:5432/keyturn",
        "--listen-database",
        "postgresql://keyturn:listen-password-7@db:5432/keyturn",
    )
    assert result.returncode == 0, result.stderr
    for secret in (SECRET_KEY, "hunter2hunter2", "pg-password-42", "listen-password-7"):
        assert secret not in result.stdout + result.stderr
    assert 'secret_key = "***"' in result.stdout
    assert 'database = "postgresql://keyturn:***@db:5432/keyturn"' in result.stdout
    assert 'listen_database = "postgresql://keyturn:***@db:5432/keyturn"' in result.stdout
    as_json = shown("--config", str(config))
    assert as_json["secret_key"] == "***" and as_json["redis"] == "redis://:***@h:6379/0"


def test_the_text_form_is_a_config_file_that_reads_back(tmp_path: Path) -> None:
    result = keyturn("config", "show", "--port", "7300", "--no-access-log")
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "copy.toml"
    copy.write_text(result.stdout)
    expected = {**shown("--port", "7300", "--no-access-log"), "config": str(copy)}
    assert shown("--config", str(copy)) == expected


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("bogus = 1\n", {}, "config: 'bogus' in {config} is no setting"),
        ('port = "x"\n', {}, "port: Input should be a valid integer"),
        ("port = 70000\n", {}, "port: 70000 is no port number (1-65535) (from the config file"),
        ("port = \n", {}, "config: {config} is not valid TOML"),
        ("", {"KEYTURN_WORKERS": "0"}, "workers: must be at least 1 (from KEYTURN_WORKERS)"),
        ("", {"KEYTURN_SECRET_KEY": "short"}, "secret_key: must be at least 32 characters"),
        ("", {"KEYTURN_ISSUER": "ftp://x"}, "issuer: must be an absolute http(s) URL"),
        ("", {"KEYTURN_DATABASE": "mysql://x"}, "database: unsupported database URL"),
        ("", {"KEYTURN_LISTEN_DATABASE": "sqlite:///x"}, "listen_database: must be a postgresql"),
        (
            "",
            {"KEYTURN_LISTEN_DATABASE": "postgresql://h/db"},
            "settings: listen_database needs a PostgreSQL database",
        ),
        ('trusted_proxies = ["nope"]\n', {}, "trusted_proxies: 'nope' is not a CIDR"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "keyturn.toml"
    config.write_text(content)
    result = keyturn("config", "show", "--config", str(config), **env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("keyturn: " + message.format(config=config)), line
    assert "short" not in line  # a secret's value is never echoed


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    result = keyturn("config", "show", KEYTURN_CONFIG=str(tmp_path / "none.toml"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"keyturn: config: cannot read {tmp_path / 'none.toml'}: No such file or directory"
    )


def test_postgresql_needs_a_secret_key(tmp_path: Path) -> None:
    """A secret generated into one instance's data dir would lock the others out."""
    for command in (["serve"], ["migrate"]):
        result = keyturn(*command, "--database", POSTGRES_URL, "--data-dir", str(tmp_path))
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("keyturn: secret_key: KEYTURN_SECRET_KEY")
    assert not (tmp_path / "secret_key").exists()


async def test_serve_reads_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "keyturn.toml"
    # The test kit passes --port; the file sets what the flags leave open.
    config.write_text('log_format = "json"\nshutdown_timeout = 3\n')
    with running_server(
        f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "data", KEYTURN_CONFIG=str(config)
    ) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get("/readyz")).status_code == 200
        output = server.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/readyz" and line["status"] == 200 for line in lines)


def _every_option(parser: argparse.ArgumentParser, prefix: str = "keyturn") -> list[str]:
    """Options without help text, as "command: --flag"."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _every_option(sub, f"{prefix} {name}")
        elif action.help in (None, "") and action.dest != "help":
            missing.append(f"{prefix}: {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_of_every_command_has_help() -> None:
    assert _every_option(build_parser()) == []


def test_serve_help_names_each_setting_its_default_and_variable() -> None:
    result = keyturn("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("flag") is False:
            continue
        assert f"KEYTURN_{name.upper()}" in text, name
        assert "--" + name.replace("_", "-") in text, name
    assert "[default 10; KEYTURN_SHUTDOWN_TIMEOUT]" in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_completion_knows_the_commands(shell: str) -> None:
    result = keyturn("completion", shell)
    assert result.returncode == 0, result.stderr
    for word in ("serve", "migrate", "--shutdown-timeout", "rotate-secret"):
        assert word in result.stdout


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    for command in (["serve"], ["client", "list"]):
        result = keyturn(
            *command,
            "--database",
            "postgresql://postgres@127.0.0.1:1/keyturn",
            "--data-dir",
            str(tmp_path),
            KEYTURN_SECRET_KEY=SECRET_KEY,
        )
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("keyturn: database: cannot reach PostgreSQL"), line
        assert "issuer" not in result.stdout  # nothing claims to have started


async def test_an_unreachable_listen_database_stops_serve_in_one_line(tmp_path: Path) -> None:
    database = await create_database()
    try:
        result = await asyncio.to_thread(
            keyturn,
            "serve",
            "--database",
            database,
            "--listen-database",
            "postgresql://postgres@127.0.0.1:1/keyturn",
            "--data-dir",
            str(tmp_path),
            KEYTURN_SECRET_KEY=SECRET_KEY,
        )
    finally:
        await drop_database(database)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "keyturn: database: cannot reach PostgreSQL for LISTEN (listen_database)"
    ), line
    assert "issuer" not in result.stdout


def test_several_workers_without_redis_warn_that_limits_are_per_worker(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "data", workers=2) as server:
        output = server.stop()
    assert output.count("rate limits are per worker") == 1


def test_signal_policies_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "keyturn.toml"
    config.write_text(
        '[signals.refresh_storm]\naction = "revoke"\nthreshold = 50\n\n'
        "[signals.dormant_grant_used]\nthreshold = 90\n"
    )
    values = shown("--config", str(config))
    assert values["signals"] == {
        "refresh_storm": {"action": "revoke", "threshold": 50},
        "dormant_grant_used": {"threshold": 90},
    }
    config.write_text('[signals.refresh_strom]\naction = "revoke"\n')
    typo = keyturn("config", "show", "--config", str(config))
    assert typo.returncode == 1 and "signals" in typo.stderr
    config.write_text('[signals.token_scan]\naction = "shout"\n')
    bad = keyturn("config", "show", "--config", str(config))
    assert bad.returncode == 1 and "signals" in bad.stderr

"""The `keyturn` command: the server and the operator's commands.

Exit status: 0 on success (also when a revoke matched nothing), 2 for usage
errors (argparse), 1 otherwise with the reason on stderr in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import shtab

from keyturn import admin
from keyturn.cli.commands import COMMANDS, config_show, migrate_command, run_admin
from keyturn.cli.options import given_settings
from keyturn.cli.parser import build_parser
from keyturn.config import ConfigError, load_settings
from keyturn.oauth.keyring import KeyringError
from keyturn.store.base import SchemaTooNew, StoreUnavailable

# What an operator's mistake or an outage raises: one line on stderr, exit 1.
EXPECTED_FAILURES = (
    ConfigError,
    admin.AdminError,
    StoreUnavailable,
    SchemaTooNew,
    KeyringError,
    ValueError,
)

# The data directory holds the database, the generated secret and metrics files:
# whatever keyturn creates is for its own user only (folders 0700, files 0600),
# SQLite's WAL and shared-memory files included, which SQLite creates itself.
PRIVATE_UMASK = 0o077

# Options whose value is an identifier that may start with "-" (client ids made
# before ids stopped doing so): argparse would take such a value for an option.
_IDENTIFIER_OPTIONS = frozenset({"--client-id", "--client"})


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    parser = build_parser()
    args = parser.parse_args(_attach_identifier_values(sys.argv[1:] if argv is None else argv))
    _check_combinations(parser, args)
    try:
        return _dispatch(args)
    except StoreUnavailable as exc:
        print(f"keyturn: database: {exc}", file=sys.stderr)  # the setting to look at
        return 1
    except EXPECTED_FAILURES as exc:
        print(f"keyturn: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from keyturn.cli.serve import serve

        return serve(args)
    if args.command == "completion":
        print(shtab.complete(build_parser(), shell=args.shell))
        return 0
    if args.command in ("login", "token", "token-store"):
        from keyturn.client import cli as client_cli

        if args.command == "token-store":
            return client_cli.reencrypt(args.store)
        if args.command == "login":
            return client_cli.login(args.issuer, args.client_id, args.scope)
        return client_cli.print_token(args.issuer)
    args.settings = load_settings(given_settings(args))
    if args.command == "config":
        config_show(args)
    elif args.command == "migrate":
        asyncio.run(migrate_command(args))
    else:
        command = COMMANDS[(args.command, getattr(args, "action", None))]
        asyncio.run(run_admin(command, args))
    return 0


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot say itself: usage errors, exit 2."""
    if args.command == "grant" and args.action == "revoke":
        chosen = [args.grant is not None, args.user is not None]
        if sum(chosen) > 1 or not (any(chosen) or args.client):
            parser.error(
                "grant revoke takes --grant ID, or --user EMAIL [--client ID], or --client ID"
            )


def _attach_identifier_values(argv: list[str]) -> list[str]:
    """`--client-id -Xyz` → `--client-id=-Xyz`, which argparse reads as meant."""
    out: list[str] = []
    pending = False
    for arg in argv:
        if pending and arg.startswith("-") and arg != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
        pending = arg in _IDENTIFIER_OPTIONS
    return out


__all__ = ["main"]

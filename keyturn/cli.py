"""The `keyturn` command: the server and the operator's commands.

Exit status: 0 on success (also when a revoke matched nothing), 2 for usage
errors (argparse), 1 otherwise with the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from keyturn import __version__, admin, logs
from keyturn.config import ConfigError, Settings, check_serving, load_settings, master_secret
from keyturn.logs import FORMATS, LEVELS
from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.issue import iso_timestamp
from keyturn.oauth.keyring import SIGNING_ALGORITHMS
from keyturn.runtime import open_admin_store, open_context
from keyturn.store import open_store
from keyturn.store.base import SchemaTooNew, StoreUnavailable

Command = Callable[[argparse.Namespace, Context], Awaitable[Any]]

SERVE_OPTIONS = (
    "host",
    "port",
    "workers",
    "database",
    "issuer",
    "data_dir",
    "read_timeout",
    "trusted_proxies",
    "management_port",
    "forwarded_header",
    "log_level",
    "log_format",
    "access_log",
)


def _emit(args: argparse.Namespace, payload: Any, human: str) -> None:
    print(json.dumps(payload) if getattr(args, "json", False) else human)


# -- serve -------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    from keyturn.http.serving import bind_listeners, run_server

    options = {name: getattr(args, name) for name in SERVE_OPTIONS}
    settings = load_settings(options)
    logs.configure(settings.log_level, settings.log_format)
    # Workers are separate processes that read their settings from the
    # environment, so hand the command-line options down that way.
    for name, value in options.items():
        if value is not None:
            os.environ[f"KEYTURN_{name.upper()}"] = str(value)
    check_serving(settings)
    sockets = bind_listeners(settings)  # a port in use fails here, in one line
    master_secret(settings)  # create it once, before workers race for it
    if settings.workers > 1:
        _prepare_multiprocess_metrics(settings)
    asyncio.run(_prepare(settings))
    print(f"keyturn {__version__} issuer {settings.issuer_url}", flush=True)
    run_server(settings, sockets)
    return 0


def _prepare_multiprocess_metrics(settings: Settings) -> None:
    """Workers write their counters to files that /metrics sums (prometheus_client)."""
    folder = Path(settings.data_dir) / f"metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


async def _prepare(settings: Settings) -> None:
    """Migrate and create the first keys once, before any worker starts."""
    store = await open_admin_store(settings)
    try:
        await open_context(settings, store=store)
    finally:
        await store.close()


# -- admin commands ----------------------------------------------------------


async def migrate_command(args: argparse.Namespace) -> None:
    """`keyturn migrate [--status]`: apply pending migrations (and create the first keys),
    or only say which are applied and pending."""
    store = await open_store(args.settings.database_url, pool_size=2, listen=False)
    try:
        if args.status:
            applied, pending = await store.migration_status()
            human = f"applied: {', '.join(applied) or '-'}; pending: {', '.join(pending) or '-'}"
            _emit(args, {"applied": applied, "pending": pending}, human)
            return
        done = await store.migrate()
        await open_context(args.settings, store=store)  # the first keys, on a new database
        _emit(args, {"applied": done}, f"applied {', '.join(done)}" if done else "up to date")
    finally:
        await store.close()


async def cmd_gc(args: argparse.Namespace, ctx: Context) -> None:
    from keyturn.background import collect_garbage

    counts = await collect_garbage(ctx)
    _emit(args, counts, f"purged {counts['grants']} grants and {counts['events']} events")


async def cmd_client_create(args: argparse.Namespace, ctx: Context) -> None:
    spec = admin.ClientSpec(
        name=args.name,
        public=args.public,
        redirect_uris=tuple(args.redirect_uri or ()),
        scope=args.scope or "",
        grant_types=tuple(args.grant_type or policy.DEFAULT_GRANT_TYPES),
        access_ttl=args.access_ttl or policy.ACCESS_TTL,
        refresh_ttl=args.refresh_ttl or policy.REFRESH_TTL,
        rotation=not args.no_rotation,
        grace_seconds=policy.GRACE_SECONDS if args.grace is None else args.grace,
        idle_ttl=args.idle_ttl,
        always_refresh=args.always_refresh,
        rate_limit=args.rate_limit,
        id_token_alg=args.id_token_alg,
        access_token_format=args.access_token_format,
    )
    client, secret = await admin.create_client(ctx, spec)
    payload = {"client_id": client.client_id}
    if secret is not None:
        payload["client_secret"] = secret
    human = f"client_id={client.client_id}" + (f" client_secret={secret}" if secret else "")
    _emit(args, payload, human)


async def cmd_client_rotate(args: argparse.Namespace, ctx: Context) -> None:
    secret = await admin.rotate_client_secret(ctx, args.client_id, revoke_tokens=args.revoke_tokens)
    payload = {"client_id": args.client_id, "client_secret": secret}
    _emit(args, payload, f"client_id={args.client_id} client_secret={secret}")


async def cmd_client_disable(args: argparse.Namespace, ctx: Context) -> None:
    await admin.disable_client(ctx, args.client_id)
    _emit(args, {"client_id": args.client_id, "disabled": True}, f"disabled {args.client_id}")


async def cmd_client_list(args: argparse.Namespace, ctx: Context) -> None:
    clients = await ctx.store.list_clients()
    lines = [
        f"{c.client_id}  {c.name}  {'public' if c.is_public else 'confidential'}"
        f"{'  disabled' if c.disabled else ''}"
        for c in clients
    ]
    _emit(args, [admin.client_json(c) for c in clients], "\n".join(lines) or "no clients")


def _read_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


async def cmd_user_create(args: argparse.Namespace, ctx: Context) -> None:
    user = await admin.create_user(ctx, args.email, _read_password(args))
    _emit(args, {"user_id": user.user_id, "email": user.email}, f"user_id={user.user_id}")


async def cmd_user_enhanced(args: argparse.Namespace, ctx: Context) -> None:
    enabled = args.state == "on"
    revoked = await admin.set_enhanced_security(ctx, args.email, enabled)
    payload = {"email": args.email, "enhanced_security": enabled, "grants_revoked": revoked}
    _emit(args, payload, f"enhanced security {args.state}; {revoked} grants revoked")


async def cmd_user_claim(args: argparse.Namespace, ctx: Context) -> None:
    password = _read_password(args) or ""
    user = await admin.claim_user(ctx, args.email, password)
    _emit(args, {"user_id": user.user_id, "claimed": True}, f"{user.email} claimed")


async def cmd_grant_list(args: argparse.Namespace, ctx: Context) -> None:
    grants = await admin.list_grants(
        ctx, email=args.user, client_id=args.client, include_inactive=args.all
    )
    lines = [
        f"{g.grant_id.hex()}  client={g.client_id}  user={g.user_id or '-'}  scope={g.scope!r}"
        f"  last_used={iso_timestamp(g.last_used_at)}"
        + (f"  revoked={g.revoked_reason}" if g.revoked_at else "")
        for g in grants
    ]
    _emit(args, [admin.grant_json(g) for g in grants], "\n".join(lines) or "no grants")


async def cmd_grant_revoke(args: argparse.Namespace, ctx: Context) -> None:
    count = await admin.revoke_grants(
        ctx, grant_id=args.grant, email=args.user, client_id=args.client, reason=args.reason
    )
    _emit(args, {"revoked": count}, f"revoked {count} grants")


async def cmd_keys_rotate(args: argparse.Namespace, ctx: Context) -> None:
    kids = await admin.rotate_keys(ctx, master_secret(args.settings))
    _emit(args, {"kids": kids}, f"new current keys {kids}; older keys verify until retired")


async def cmd_keys_list(args: argparse.Namespace, ctx: Context) -> None:
    keys = await ctx.store.list_keys()
    current = {k.kind: k.kid for k in keys if k.retired_at is None}  # newest live per kind
    rows = [
        {
            "kid": k.kid,
            "kind": k.kind,
            "created_at": iso_timestamp(k.created_at),
            "retired_at": None if k.retired_at is None else iso_timestamp(k.retired_at),
            "current": current.get(k.kind) == k.kid,
        }
        for k in keys
    ]
    lines = [
        f"{r['kid']}  {r['kind']}  created={r['created_at']}"
        + ("  current" if r["current"] else "")
        + (f"  retired={r['retired_at']}" if r["retired_at"] else "")
        for r in rows
    ]
    _emit(args, rows, "\n".join(lines))


async def cmd_keys_retire(args: argparse.Namespace, ctx: Context) -> None:
    await admin.retire_key(ctx, args.kid)
    _emit(args, {"kid": args.kid, "retired": True}, f"retired key {args.kid}")


async def cmd_events(args: argparse.Namespace, ctx: Context) -> None:
    """All events; with --json one JSON array, or one object a line while following."""
    after = 0
    collected: list[dict[str, Any]] = []
    while True:
        events = await ctx.store.list_events(after_id=after, limit=500)
        for event in events:
            shaped = admin.event_json(event)
            if args.json and not args.follow:
                collected.append(shaped)
            elif args.json:
                print(json.dumps(shaped), flush=True)
            else:
                print(
                    f"{shaped['at']}  {event.kind}  client={event.client_id or '-'}"
                    f"  user={event.user_id or '-'}  {json.dumps(event.detail)}",
                    flush=True,
                )
            after = event.event_id
        if not args.follow and len(events) < 500:
            if args.json:
                print(json.dumps(collected))
            return
        if len(events) < 500:
            await asyncio.sleep(1.0)


# -- parser ------------------------------------------------------------------


def _store_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--database", help="database URL (default: SQLite in the data dir)")
    parent.add_argument("--data-dir", help="data directory (default ./.keyturn)")
    parent.add_argument("--json", action="store_true", help="print JSON")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keyturn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"keyturn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = _store_options()

    serve_parser = commands.add_parser("serve", help="run the authorization server")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument("--workers", type=int)
    serve_parser.add_argument("--database")
    serve_parser.add_argument("--issuer")
    serve_parser.add_argument("--data-dir")
    serve_parser.add_argument(
        "--read-timeout",
        type=int,
        metavar="SECONDS",
        help="close a connection whose request has not fully arrived in time (default 10)",
    )
    serve_parser.add_argument("--log-level", choices=LEVELS, help="default info")
    serve_parser.add_argument(
        "--log-format", choices=FORMATS, help="text, or json: one JSON object a line (default text)"
    )
    serve_parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one line per request (default on)",
    )
    serve_parser.add_argument(
        "--forwarded-header",
        choices=("x-forwarded-for", "forwarded"),
        help="the one header trusted proxies put the client address in (default x-forwarded-for)",
    )
    serve_parser.add_argument(
        "--management-port",
        type=int,
        metavar="PORT",
        help="a second listener for /metrics, /healthz, /readyz; /metrics leaves the main port",
    )
    serve_parser.add_argument(
        "--trusted-proxies",
        metavar="CIDR[,CIDR...]",
        help="believe X-Forwarded-For / Forwarded only from these peers (default: none)",
    )

    login = commands.add_parser("login", help="sign in to an issuer for scripts (code flow)")
    login.add_argument("--issuer", required=True)
    login.add_argument("--client-id", required=True)
    login.add_argument("--scope", default="openid offline_access")
    token = commands.add_parser("token", help="print a valid access token from `login`")
    token.add_argument("--issuer")
    token_store = commands.add_parser(
        "token-store", help="client SDK stores: re-encrypt under the newest key"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    reencrypt = token_store.add_parser(
        "reencrypt",
        help="keys from KEYTURN_CLIENT_ENCRYPTION_KEYS (comma-separated, newest first)",
    )
    reencrypt.add_argument("--store", required=True, help="sqlite:///…, postgresql://…, redis://…")

    migrate = commands.add_parser("migrate", parents=[store], help="apply database migrations")
    migrate.add_argument("--status", action="store_true", help="only list applied and pending")
    commands.add_parser("gc", parents=[store], help="purge expired and revoked rows")
    events = commands.add_parser("events", parents=[store], help="show security events")
    events.add_argument("--follow", action="store_true")

    client = commands.add_parser("client", help="manage clients").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = client.add_parser("create", parents=[store])
    create.add_argument("--name", required=True)
    create.add_argument("--public", action="store_true")
    create.add_argument("--redirect-uri", action="append")
    create.add_argument("--scope")
    create.add_argument("--grant-type", action="append", choices=policy.KNOWN_GRANT_TYPES)
    create.add_argument("--access-ttl", type=int, metavar="SECONDS")
    create.add_argument("--refresh-ttl", type=int, metavar="SECONDS")
    create.add_argument("--idle-ttl", type=int, metavar="SECONDS")
    create.add_argument("--grace", type=int, metavar="SECONDS", help="refresh retry window")
    create.add_argument("--no-rotation", action="store_true")
    create.add_argument(
        "--always-refresh", action="store_true", help="issue refresh tokens without offline_access"
    )
    create.add_argument("--rate-limit", type=int, metavar="PER_MINUTE")
    create.add_argument("--id-token-alg", choices=SIGNING_ALGORITHMS, default="RS256")
    create.add_argument("--access-token-format", choices=("opaque", "jwt"), default="opaque")
    rotate = client.add_parser("rotate-secret", parents=[store])
    rotate.add_argument("client_id")
    rotate.add_argument("--revoke-tokens", action="store_true")
    client.add_parser("disable", parents=[store]).add_argument("client_id")
    client.add_parser("list", parents=[store])

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    user_create = user.add_parser("create", parents=[store])
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--password-stdin", action="store_true")
    enhanced = user.add_parser("enhanced-security", parents=[store])
    enhanced.add_argument("email")
    enhanced.add_argument("state", choices=("on", "off"))
    claim = user.add_parser("claim", parents=[store])
    claim.add_argument("email")
    claim.add_argument("--password-stdin", action="store_true", required=True)

    grant = commands.add_parser("grant", help="list and revoke grants").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    grant_list = grant.add_parser("list", parents=[store])
    grant_list.add_argument("--user", metavar="EMAIL")
    grant_list.add_argument("--client", metavar="CLIENT_ID")
    grant_list.add_argument("--all", action="store_true", help="include revoked and expired")
    revoke = grant.add_parser("revoke", parents=[store])
    revoke.add_argument("--grant", metavar="ID")
    revoke.add_argument("--user", metavar="EMAIL")
    revoke.add_argument("--client", metavar="CLIENT_ID")
    revoke.add_argument("--reason")

    keys = commands.add_parser("keys", help="server keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    keys.add_parser("rotate", parents=[store])
    keys.add_parser("list", parents=[store])
    keys.add_parser("retire", parents=[store]).add_argument("kid", type=int)
    return parser


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("gc", None): cmd_gc,
    ("events", None): cmd_events,
    ("client", "create"): cmd_client_create,
    ("client", "rotate-secret"): cmd_client_rotate,
    ("client", "disable"): cmd_client_disable,
    ("client", "list"): cmd_client_list,
    ("user", "create"): cmd_user_create,
    ("user", "enhanced-security"): cmd_user_enhanced,
    ("user", "claim"): cmd_user_claim,
    ("grant", "list"): cmd_grant_list,
    ("grant", "revoke"): cmd_grant_revoke,
    ("keys", "rotate"): cmd_keys_rotate,
    ("keys", "list"): cmd_keys_list,
    ("keys", "retire"): cmd_keys_retire,
}


async def _run_admin(command: Command, args: argparse.Namespace) -> None:
    store = await open_admin_store(args.settings)
    try:
        ctx = await open_context(args.settings, store=store)
        await command(args, ctx)
    finally:
        await store.close()


# Options whose value is an identifier that may start with "-" (client ids made
# before ids stopped doing so): argparse would take such a value for an option.
_IDENTIFIER_OPTIONS = frozenset({"--client-id", "--client"})


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


# The data directory holds the database, the generated secret and metrics files:
# whatever keyturn creates is for its own user only (folders 0700, files 0600),
# SQLite's WAL and shared-memory files included, which SQLite creates itself.
PRIVATE_UMASK = 0o077


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    parser = build_parser()
    args = parser.parse_args(_attach_identifier_values(sys.argv[1:] if argv is None else argv))
    if args.command == "grant" and args.action == "revoke":
        chosen = [args.grant is not None, args.user is not None]
        if sum(chosen) > 1 or not (any(chosen) or args.client):
            parser.error(
                "grant revoke takes --grant ID, or --user EMAIL [--client ID], or --client ID"
            )
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "token-store":
            from keyturn.client import cli as client_cli

            return client_cli.reencrypt(args.store)
        if args.command in ("login", "token"):
            from keyturn.client import cli as client_cli

            if args.command == "login":
                return client_cli.login(args.issuer, args.client_id, args.scope)
            return client_cli.print_token(args.issuer)
        args.settings = load_settings({"database": args.database, "data_dir": args.data_dir})
        if args.command == "migrate":
            asyncio.run(migrate_command(args))
            return 0
        command = COMMANDS[(args.command, getattr(args, "action", None))]
        asyncio.run(_run_admin(command, args))
    except (ConfigError, admin.AdminError, StoreUnavailable, SchemaTooNew, ValueError) as exc:
        print(f"keyturn: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

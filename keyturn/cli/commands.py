"""The operator's commands: each one shapes its arguments, calls one operation, and
prints a line (or one JSON object with --json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from keyturn import admin
from keyturn.config import master_secret, shown
from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.issue import iso_timestamp
from keyturn.runtime import open_admin_store, open_context
from keyturn.store import open_store
from keyturn.store.records import Event

Command = Callable[[argparse.Namespace, Context], Awaitable[Any]]


def emit(args: argparse.Namespace, payload: Any, human: str) -> None:
    print(json.dumps(payload) if getattr(args, "json", False) else human)


# -- admin commands ----------------------------------------------------------


async def migrate_command(args: argparse.Namespace) -> None:
    """`keyturn migrate [--status]`: apply pending migrations (and create the first keys),
    or only say which are applied and pending."""
    store = await open_store(args.settings.database_url, pool_size=2, listen=False)
    try:
        if args.status:
            applied, pending = await store.migration_status()
            human = f"applied: {', '.join(applied) or '-'}; pending: {', '.join(pending) or '-'}"
            emit(args, {"applied": applied, "pending": pending}, human)
            return
        master_secret(args.settings, create=True)  # the embedded default's, on first use
        done = await store.migrate()
        await open_context(args.settings, store=store, create=True)  # the first keys
        emit(args, {"applied": done}, f"applied {', '.join(done)}" if done else "up to date")
    finally:
        await store.close()


async def cmd_gc(args: argparse.Namespace, ctx: Context) -> None:
    from keyturn.background import DAY, collect_garbage

    counts = await collect_garbage(ctx, keep_seconds=args.settings.event_retention_days * DAY)
    emit(args, counts, f"purged {counts['grants']} grants and {counts['events']} events")


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
        admin=args.admin,
        allowed_origins=tuple(args.allowed_origin or ()),
        require_mfa=args.require_mfa,
    )
    client, secret = await admin.create_client(ctx, spec)
    payload = {"client_id": client.client_id}
    if secret is not None:
        payload["client_secret"] = secret
    human = f"client_id={client.client_id}" + (f" client_secret={secret}" if secret else "")
    emit(args, payload, human)


async def cmd_client_rotate(args: argparse.Namespace, ctx: Context) -> None:
    secret = await admin.rotate_client_secret(ctx, args.client_id, revoke_tokens=args.revoke_tokens)
    payload = {"client_id": args.client_id, "client_secret": secret}
    emit(args, payload, f"client_id={args.client_id} client_secret={secret}")


async def cmd_client_disable(args: argparse.Namespace, ctx: Context) -> None:
    await admin.disable_client(ctx, args.client_id)
    emit(args, {"client_id": args.client_id, "disabled": True}, f"disabled {args.client_id}")


# `client update` options and the setting each one changes.
_UPDATABLE = {
    "name": "name",
    "redirect_uri": "redirect_uris",
    "scope": "scope",
    "grant_type": "grant_types",
    "access_ttl": "access_ttl",
    "refresh_ttl": "refresh_ttl",
    "idle_ttl": "idle_ttl",
    "grace": "grace_seconds",
    "rotation": "rotation",
    "rate_limit": "rate_limit",
    "admin": "admin",
    "require_mfa": "require_mfa",
    "allowed_origin": "allowed_origins",
}


async def cmd_client_update(args: argparse.Namespace, ctx: Context) -> None:
    changes: dict[str, Any] = {}
    for option, setting in _UPDATABLE.items():
        value = getattr(args, option)
        if value is not None:
            changes[setting] = tuple(value) if isinstance(value, list) else value
    if args.no_allowed_origins:
        changes["allowed_origins"] = ()
    if not changes:
        raise admin.AdminError("nothing to change: give at least one option")
    client = await admin.update_client(ctx, args.client_id, changes)
    emit(args, admin.client_json(client), f"updated {client.client_id}: {', '.join(changes)}")


async def cmd_client_show(args: argparse.Namespace, ctx: Context) -> None:
    shaped = admin.client_json(await admin.existing_client(ctx, args.client_id))
    human = "\n".join(f"{name}: {value}" for name, value in shaped.items())
    emit(args, shaped, human)


async def cmd_client_enable(args: argparse.Namespace, ctx: Context) -> None:
    await admin.enable_client(ctx, args.client_id)
    emit(args, {"client_id": args.client_id, "disabled": False}, f"enabled {args.client_id}")


async def cmd_client_delete(args: argparse.Namespace, ctx: Context) -> None:
    revoked = await admin.delete_client(ctx, args.client_id)
    payload = {"client_id": args.client_id, "deleted": True, "grants_revoked": revoked}
    emit(args, payload, f"deleted {args.client_id}; {_grants(revoked)} revoked")


def _grants(count: int) -> str:
    return f"{count} grant{'' if count == 1 else 's'}"


async def cmd_user_list(args: argparse.Namespace, ctx: Context) -> None:
    found = await admin.list_users(ctx, email=args.email)
    lines = [
        f"{u.user_id}  {u.email}{'  disabled' if u.disabled else ''}"
        f"{'  enhanced-security' if u.enhanced_security else ''}"
        f"{'  two-step' if u.two_step else ''}"
        for u in found
    ]
    emit(args, [admin.user_json(u) for u in found], "\n".join(lines) or "no users")


async def cmd_user_disable(args: argparse.Namespace, ctx: Context) -> None:
    revoked = await admin.set_user_disabled(ctx, args.email, True)
    payload = {"email": args.email, "disabled": True, "grants_revoked": revoked}
    emit(args, payload, f"disabled {args.email}; {_grants(revoked)} revoked")


async def cmd_user_enable(args: argparse.Namespace, ctx: Context) -> None:
    await admin.set_user_disabled(ctx, args.email, False)
    emit(args, {"email": args.email, "disabled": False}, f"enabled {args.email}")


async def cmd_user_delete(args: argparse.Namespace, ctx: Context) -> None:
    user, revoked = await admin.delete_user(ctx, args.email)
    payload = {"user_id": user.user_id, "deleted": True, "grants_revoked": revoked}
    emit(args, payload, f"deleted {user.user_id}; {_grants(revoked)} revoked")


async def cmd_user_reset_two_step(args: argparse.Namespace, ctx: Context) -> None:
    was_on = await admin.reset_two_step(ctx, args.email)
    payload = {"email": args.email, "two_step": False, "was_on": was_on}
    text = "two-step verification reset; every session ended" if was_on else "it was off"
    emit(args, payload, f"{args.email}: {text}")


async def cmd_client_list(args: argparse.Namespace, ctx: Context) -> None:
    clients = await ctx.store.list_clients()
    lines = [
        f"{c.client_id}  {c.name}  {'public' if c.is_public else 'confidential'}"
        f"{'  disabled' if c.disabled else ''}"
        for c in clients
    ]
    emit(args, [admin.client_json(c) for c in clients], "\n".join(lines) or "no clients")


def _read_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


async def cmd_user_create(args: argparse.Namespace, ctx: Context) -> None:
    user = await admin.create_user(ctx, args.email, _read_password(args))
    emit(args, {"user_id": user.user_id, "email": user.email}, f"user_id={user.user_id}")


async def cmd_user_enhanced(args: argparse.Namespace, ctx: Context) -> None:
    enabled = args.state == "on"
    revoked = await admin.set_enhanced_security(ctx, args.email, enabled)
    payload = {"email": args.email, "enhanced_security": enabled, "grants_revoked": revoked}
    emit(args, payload, f"enhanced security {args.state}; {_grants(revoked)} revoked")


async def cmd_user_claim(args: argparse.Namespace, ctx: Context) -> None:
    password = _read_password(args) or ""
    user = await admin.claim_user(ctx, args.email, password)
    emit(args, {"user_id": user.user_id, "claimed": True}, f"{user.email} claimed")


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
    emit(args, [admin.grant_json(g) for g in grants], "\n".join(lines) or "no grants")


async def cmd_grant_revoke(args: argparse.Namespace, ctx: Context) -> None:
    count = await admin.revoke_grants(
        ctx, grant_id=args.grant, email=args.user, client_id=args.client, reason=args.reason
    )
    emit(args, {"revoked": count}, f"revoked {_grants(count)}")


async def cmd_keys_rotate(args: argparse.Namespace, ctx: Context) -> None:
    kids = await admin.rotate_keys(ctx, master_secret(args.settings))
    emit(args, {"kids": kids}, f"new current keys {kids}; older keys verify until retired")


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
    emit(args, rows, "\n".join(lines))


async def cmd_keys_retire(args: argparse.Namespace, ctx: Context) -> None:
    await admin.retire_key(ctx, args.kid)
    emit(args, {"kid": args.kid, "retired": True}, f"retired key {args.kid}")


async def cmd_events(args: argparse.Namespace, ctx: Context) -> None:
    """Events oldest first, filtered; with --json one JSON array, or one object a line
    while following."""
    wanted = await _event_filter(args, ctx)
    after = 0
    collected: list[dict[str, Any]] = []
    while True:
        events = await ctx.store.list_events(after_id=after, limit=500)
        for event in events:
            after = event.event_id
            if not wanted(event):
                continue
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
        if not args.follow and len(events) < 500:
            if args.json:
                print(json.dumps(collected))
            return
        if len(events) < 500:
            await asyncio.sleep(1.0)


async def _event_filter(args: argparse.Namespace, ctx: Context) -> Callable[[Event], bool]:
    kinds = set(args.kind or ())
    since = None
    if args.since is not None:
        try:
            moment = datetime.fromisoformat(args.since)
        except ValueError:
            raise admin.AdminError(f"--since {args.since!r} is not an ISO 8601 time") from None
        since = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    user_id = None if args.user is None else (await admin.user_by_email(ctx, args.user)).user_id

    def wanted(event: Event) -> bool:
        return (
            (not kinds or event.kind in kinds)
            and (since is None or event.at >= since)
            and (user_id is None or event.user_id == user_id)
            and (args.client is None or event.client_id == args.client)
        )

    return wanted


async def cmd_webhook_create(args: argparse.Namespace, ctx: Context) -> None:
    webhook, secret = await admin.create_webhook(ctx, args.url, tuple(args.kind or ()))
    payload = {"webhook_id": webhook.webhook_id, "secret": secret}
    emit(args, payload, f"webhook_id={webhook.webhook_id} secret={secret}")


async def cmd_webhook_list(args: argparse.Namespace, ctx: Context) -> None:
    found = await ctx.store.list_webhooks()
    shaped = [
        {
            "webhook_id": w.webhook_id,
            "url": w.url,
            "kinds": list(w.kinds),
            "created_at": iso_timestamp(w.created_at),
        }
        for w in found
    ]
    lines = [f"{w['webhook_id']}  {w['url']}  {','.join(w['kinds']) or 'all'}" for w in shaped]
    emit(args, shaped, "\n".join(lines) or "no webhooks")


async def cmd_webhook_delete(args: argparse.Namespace, ctx: Context) -> None:
    await admin.delete_webhook(ctx, args.webhook_id)
    emit(args, {"webhook_id": args.webhook_id, "deleted": True}, f"deleted {args.webhook_id}")


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("gc", None): cmd_gc,
    ("events", None): cmd_events,
    ("client", "create"): cmd_client_create,
    ("client", "rotate-secret"): cmd_client_rotate,
    ("client", "disable"): cmd_client_disable,
    ("client", "list"): cmd_client_list,
    ("client", "update"): cmd_client_update,
    ("client", "show"): cmd_client_show,
    ("client", "enable"): cmd_client_enable,
    ("client", "delete"): cmd_client_delete,
    ("user", "list"): cmd_user_list,
    ("user", "disable"): cmd_user_disable,
    ("user", "reset-two-step"): cmd_user_reset_two_step,
    ("user", "enable"): cmd_user_enable,
    ("user", "delete"): cmd_user_delete,
    ("webhook", "create"): cmd_webhook_create,
    ("webhook", "list"): cmd_webhook_list,
    ("webhook", "delete"): cmd_webhook_delete,
    ("user", "create"): cmd_user_create,
    ("user", "enhanced-security"): cmd_user_enhanced,
    ("user", "claim"): cmd_user_claim,
    ("grant", "list"): cmd_grant_list,
    ("grant", "revoke"): cmd_grant_revoke,
    ("keys", "rotate"): cmd_keys_rotate,
    ("keys", "list"): cmd_keys_list,
    ("keys", "retire"): cmd_keys_retire,
}


def config_show(args: argparse.Namespace) -> None:
    """The effective settings, secrets as "***"; the text form is a valid config file."""
    values = shown(args.settings)
    if args.json:
        print(json.dumps(values))
        return
    for name, value in values.items():
        print(f"# {name} is not set" if value is None else f"{name} = {json.dumps(value)}")


async def run_admin(command: Command, args: argparse.Namespace) -> None:
    store = await open_admin_store(args.settings)
    try:
        ctx = await open_context(args.settings, store=store, create=False)
        await command(args, ctx)
    finally:
        await store.close()


__all__ = ["COMMANDS", "config_show", "emit", "migrate_command", "run_admin"]

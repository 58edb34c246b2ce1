"""The `keyturn` command line: every command and option, each with its help."""

from __future__ import annotations

import argparse

import shtab

from keyturn import __version__
from keyturn.cli.options import STORE_SETTINGS, add_settings
from keyturn.oauth import policy
from keyturn.oauth.keyring import SIGNING_ALGORITHMS

DESCRIPTION = """\
keyturn: an OAuth 2.0 / OpenID Connect authorization server.

Exit status: 0 on success (also when a revoke matched nothing), 2 for usage
errors, 1 otherwise with the reason on stderr."""


def _store_options() -> argparse.ArgumentParser:
    """What every operator's command takes: where the database is, and --json."""
    parent = argparse.ArgumentParser(add_help=False)
    add_settings(parent, STORE_SETTINGS)
    parent.add_argument("--json", action="store_true", help="print JSON instead of a line")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyturn", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"keyturn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = _store_options()

    serve = commands.add_parser("serve", help="run the authorization server")
    add_settings(serve)

    config = commands.add_parser("config", help="the effective settings").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    show = config.add_parser("show", help='print the settings, every secret as "***"')
    add_settings(show)
    show.add_argument("--json", action="store_true", help="one JSON object")

    _client_sdk_commands(commands)
    migrate = commands.add_parser("migrate", parents=[store], help="apply database migrations")
    migrate.add_argument("--status", action="store_true", help="only list applied and pending")
    commands.add_parser("gc", parents=[store], help="purge expired and revoked rows")
    events = commands.add_parser("events", parents=[store], help="show security events")
    events.add_argument("--follow", action="store_true", help="keep printing new events")
    events.add_argument("--kind", action="append", metavar="KIND", help="only these (repeat)")
    events.add_argument("--since", metavar="ISO8601", help="only from then on, e.g. 2026-12-01")
    events.add_argument("--user", metavar="EMAIL", help="only this user's")
    events.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    _client_commands(commands, store)
    _user_commands(commands, store)
    _grant_commands(commands, store)
    _key_commands(commands, store)

    _webhook_commands(commands, store)
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=shtab.SUPPORTED_SHELLS, help="bash, zsh or tcsh")
    return parser


def _client_sdk_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = commands.add_parser("login", help="sign in to an issuer for scripts (code flow)")
    login.add_argument("--issuer", required=True, help="the authorization server's URL")
    login.add_argument("--client-id", required=True, help="a public client with a loopback URI")
    login.add_argument("--scope", default="openid offline_access", help="scopes to ask for")
    token = commands.add_parser("token", help="print a valid access token from `login`")
    token.add_argument("--issuer", help="which login (default: the only one)")
    token_store = commands.add_parser(
        "token-store", help="client SDK stores: re-encrypt under the newest key"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    reencrypt = token_store.add_parser(
        "reencrypt",
        help="keys from KEYTURN_CLIENT_ENCRYPTION_KEYS (comma-separated, newest first)",
    )
    reencrypt.add_argument("--store", required=True, help="sqlite:///…, postgresql://…, redis://…")


def _client_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    client = commands.add_parser("client", help="manage clients").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = client.add_parser("create", parents=[store], help="register a client")
    create.add_argument("--name", required=True, help="shown to users on the consent page")
    create.add_argument("--public", action="store_true", help="no secret (apps, SPAs, CLIs)")
    create.add_argument("--redirect-uri", action="append", help="exact redirect URI (repeat)")
    create.add_argument("--scope", help='the scopes it may ask for, e.g. "openid email"')
    create.add_argument(
        "--grant-type",
        action="append",
        choices=policy.KNOWN_GRANT_TYPES,
        help="repeat; default authorization_code and refresh_token",
    )
    create.add_argument(
        "--access-ttl", type=int, metavar="SECONDS", help="access-token lifetime (12 h)"
    )
    create.add_argument(
        "--refresh-ttl", type=int, metavar="SECONDS", help="refresh-token lifetime (20 years)"
    )
    create.add_argument(
        "--idle-ttl", type=int, metavar="SECONDS", help="end a grant unused this long"
    )
    create.add_argument("--grace", type=int, metavar="SECONDS", help="refresh retry window (30)")
    create.add_argument("--no-rotation", action="store_true", help="keep one refresh token")
    create.add_argument(
        "--always-refresh", action="store_true", help="issue refresh tokens without offline_access"
    )
    create.add_argument(
        "--rate-limit", type=int, metavar="PER_MINUTE", help="token requests a minute"
    )
    create.add_argument(
        "--id-token-alg", choices=SIGNING_ALGORITHMS, default="RS256", help="ID-token signature"
    )
    create.add_argument(
        "--access-token-format",
        choices=("opaque", "jwt"),
        default="opaque",
        help="opaque, or RFC 9068 JWT",
    )
    create.add_argument(
        "--admin",
        action="store_true",
        help="may use the admin API (default scopes keyturn:admin:read and :write,"
        " grant client_credentials)",
    )
    create.add_argument("--require-mfa", action="store_true", help="sign-ins need a second factor")
    create.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin that gets CORS answers (repeat)",
    )
    _client_update(client, store)
    show = client.add_parser("show", parents=[store], help="one client's settings")
    show.add_argument("client_id", help="the client")
    enable = client.add_parser("enable", parents=[store], help="let a disabled client in again")
    enable.add_argument("client_id", help="the client")
    delete = client.add_parser(
        "delete", parents=[store], help="revoke every grant of the client and delete it"
    )
    delete.add_argument("client_id", help="the client")
    rotate = client.add_parser("rotate-secret", parents=[store], help="issue a new secret")
    rotate.add_argument("client_id", help="the client")
    rotate.add_argument(
        "--revoke-tokens", action="store_true", help="also end every grant of the client"
    )
    disable = client.add_parser("disable", parents=[store], help="refuse the client everywhere")
    disable.add_argument("client_id", help="the client")
    client.add_parser("list", parents=[store], help="every client")


def _client_update(
    client: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    update = client.add_parser(
        "update", parents=[store], help="change settings; options not given stay as they are"
    )
    update.add_argument("client_id", help="the client")
    update.add_argument("--name", help="shown to users on the consent page")
    update.add_argument(
        "--redirect-uri", action="append", help="replaces the redirect URIs (repeat)"
    )
    update.add_argument("--scope", help="replaces the scopes it may ask for")
    update.add_argument(
        "--grant-type",
        action="append",
        choices=policy.KNOWN_GRANT_TYPES,
        help="replaces the grant types (repeat)",
    )
    update.add_argument("--access-ttl", type=int, metavar="SECONDS", help="access-token lifetime")
    update.add_argument("--refresh-ttl", type=int, metavar="SECONDS", help="refresh-token lifetime")
    update.add_argument(
        "--idle-ttl", type=int, metavar="SECONDS", help="end grants unused this long"
    )
    update.add_argument("--grace", type=int, metavar="SECONDS", help="refresh retry window")
    update.add_argument(
        "--rotation", action=argparse.BooleanOptionalAction, help="a new refresh token each time"
    )
    update.add_argument(
        "--rate-limit", type=int, metavar="PER_MINUTE", help="token requests a minute"
    )
    update.add_argument(
        "--admin", action=argparse.BooleanOptionalAction, help="may use the admin API"
    )
    update.add_argument(
        "--require-mfa",
        action=argparse.BooleanOptionalAction,
        help="sign-ins need a second factor",
    )
    update.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="replaces the CORS origins (repeat; --no-allowed-origins clears them)",
    )
    update.add_argument(
        "--no-allowed-origins", action="store_true", help="no CORS origins any more"
    )


def _user_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = user.add_parser("create", parents=[store], help="create a user")
    create.add_argument("--email", required=True, help="the user's email address")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from one stdin line"
    )
    enhanced = user.add_parser(
        "enhanced-security", parents=[store], help="on: revoke every grant, sign in again"
    )
    enhanced.add_argument("email", help="the user")
    enhanced.add_argument("state", choices=("on", "off"), help="on or off")
    claim = user.add_parser(
        "claim", parents=[store], help="an API-created user takes over the account"
    )
    claim.add_argument("email", help="the user")
    claim.add_argument(
        "--password-stdin", action="store_true", required=True, help="the new password, on stdin"
    )
    listing = user.add_parser("list", parents=[store], help="every user")
    listing.add_argument("--email", help="only the user with this email")
    for action, text in (
        ("disable", "no sign-in; every grant revoked, every session ended"),
        ("enable", "let a disabled user sign in again"),
        ("delete", "erase the user: grants revoked, email, password, sessions gone"),
        ("reset-two-step", "turn two-step verification off (a lost phone); sessions end"),
    ):
        user.add_parser(action, parents=[store], help=text).add_argument("email", help="the user")


def _grant_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    grant = commands.add_parser("grant", help="list and revoke grants").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    grant_list = grant.add_parser("list", parents=[store], help="active grants")
    grant_list.add_argument("--user", metavar="EMAIL", help="only this user's")
    grant_list.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    grant_list.add_argument("--all", action="store_true", help="include revoked and expired")
    revoke = grant.add_parser(
        "revoke", parents=[store], help="--grant ID, or --user EMAIL [--client ID], or --client ID"
    )
    revoke.add_argument("--grant", metavar="ID", help="one grant")
    revoke.add_argument("--user", metavar="EMAIL", help="every grant of the user")
    revoke.add_argument("--client", metavar="CLIENT_ID", help="every grant of the client")
    revoke.add_argument("--reason", help="recorded with the revocation")


def _webhook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    webhook = commands.add_parser("webhook", help="send events to URLs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = webhook.add_parser(
        "create", parents=[store], help="a receiver; prints its whsec_ secret once"
    )
    create.add_argument("--url", required=True, help="http(s) URL the events are POSTed to")
    create.add_argument("--kind", action="append", metavar="KIND", help="only these (repeat)")
    webhook.add_parser("list", parents=[store], help="every webhook")
    delete = webhook.add_parser("delete", parents=[store], help="stop sending to one")
    delete.add_argument("webhook_id", help="the webhook")


def _key_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    keys = commands.add_parser("keys", help="server keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    keys.add_parser("rotate", parents=[store], help="new current keys; old ones still verify")
    keys.add_parser("list", parents=[store], help="every key")
    retire = keys.add_parser("retire", parents=[store], help="stop accepting a key")
    retire.add_argument("kid", type=int, help="the key id")

"""Settings, read from command-line options and `KEYTURN_*` environment variables.

Every option `--some-option` also reads `KEYTURN_SOME_OPTION`. Variables with
the prefix that are no setting are ignored with one warning naming them:
orchestrators inject such variables (Kubernetes sets `KEYTURN_SERVICE_HOST`,
`KEYTURN_PORT=tcp://…` and more for a Service named `keyturn`), so refusing
them would stop keyturn from starting there, and the warning still shows a typo.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from keyturn.logs import FORMATS, LEVELS
from keyturn.oauth.policy import REFRESH_TOKEN_RATE
from keyturn.oauth.secrets import MIN_SECRET_LENGTH


class Secret:
    """A string whose repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"


class ConfigError(Exception):
    pass


log = logging.getLogger("keyturn.config")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    database: str | None = None
    issuer: str | None = None
    data_dir: str = ".keyturn"
    secret_key: Secret | None = None
    redis: str | None = None
    pool_size: int = 10
    log_level: str = "info"
    log_format: str = "text"  # or "json": one JSON object a line
    access_log: bool = True
    gc_interval: int = 300
    refresh_token_rate: int = REFRESH_TOKEN_RATE
    # Seconds a request may take to arrive, headers and body together (slowloris).
    read_timeout: int = 10
    # Comma-separated CIDRs of proxies whose X-Forwarded-For / Forwarded is believed.
    trusted_proxies: str = ""
    # Which header trusted proxies write the client's address in: only that one is read,
    # since a proxy passes the other through as the client sent it.
    forwarded_header: str = "x-forwarded-for"  # or "forwarded" (RFC 7239)
    # A second listener (same host) for /metrics, /healthz and /readyz.
    management_port: int | None = None

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{Path(self.data_dir) / 'keyturn.db'}"

    @property
    def issuer_url(self) -> str:
        return (self.issuer or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite:")


_ENV_PREFIX = "KEYTURN_"
# Variables of the test suite and the client SDK share the prefix.
_FOREIGN_PREFIXES = ("KEYTURN_TEST_", "KEYTURN_CLIENT_")
_INT_FIELDS = {f.name for f in fields(Settings) if f.type in ("int", int, "int | None")}


FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")


def _boolean(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {text!r}")


def parse_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for part in text.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"trusted_proxies: {part.strip()!r} is not a CIDR") from None
    return tuple(networks)


def load_settings(
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    warn: bool = True,
) -> Settings:
    """Command-line options win over the environment, which wins over defaults.

    `warn=False` is for worker processes, which read the same environment as the
    command that started them and so would repeat its warnings.
    """
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    ignored: list[str] = []
    for key, raw in environ.items():
        if not key.startswith(_ENV_PREFIX) or key.startswith(_FOREIGN_PREFIXES):
            continue
        name = key.removeprefix(_ENV_PREFIX).lower()
        if name not in known:
            ignored.append(key)
        elif name == "port" and not raw.strip().isdigit():
            # Kubernetes' service link, e.g. KEYTURN_PORT=tcp://10.0.0.7:8000.
            if warn:
                log.warning("ignoring KEYTURN_PORT=%r: not a port number", raw)
        else:
            values[name] = raw
    if ignored and warn:
        log.warning("ignoring environment variables that are no setting: %s", ", ".join(ignored))
    for name, value in (options or {}).items():
        if value is not None and name in known:
            values[name] = value
    _convert(values)
    settings = Settings(**values)
    _check(settings)
    return settings


def _convert(values: dict[str, Any]) -> None:
    """Strings from the environment (and flags) into the settings' types, in place."""
    if isinstance(values.get("access_log"), str):
        values["access_log"] = _boolean("access_log", values["access_log"])
    for name in _INT_FIELDS & values.keys():
        try:
            values[name] = int(values[name])
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {values[name]!r}") from None
    if isinstance(values.get("secret_key"), str):
        values["secret_key"] = Secret(values["secret_key"])


def _check(settings: Settings) -> None:
    if settings.secret_key is not None and len(settings.secret_key.reveal()) < MIN_SECRET_LENGTH:
        raise ConfigError(f"KEYTURN_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
    if not 0 < settings.port < 65536:
        raise ConfigError(f"port {settings.port} is out of range")
    if settings.workers < 1 or settings.pool_size < 1:
        raise ConfigError("workers and pool_size must be at least 1")
    if settings.management_port is not None and (
        not 0 < settings.management_port < 65536 or settings.management_port == settings.port
    ):
        raise ConfigError(
            f"management_port {settings.management_port} must be a free port other than port"
        )
    if settings.log_level not in LEVELS:
        raise ConfigError(
            f"log_level must be one of {', '.join(LEVELS)}, not {settings.log_level!r}"
        )
    if settings.log_format not in FORMATS:
        raise ConfigError(f"log_format must be text or json, not {settings.log_format!r}")
    if settings.forwarded_header not in FORWARDED_HEADERS:
        raise ConfigError("forwarded_header must be x-forwarded-for or forwarded")
    if settings.read_timeout < 1:
        raise ConfigError("read_timeout must be at least 1 second")
    parse_networks(settings.trusted_proxies)
    url = settings.database_url
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"unsupported database URL {url!r}: use sqlite:///… or postgresql://…")


def check_serving(settings: Settings) -> None:
    """What only `keyturn serve` needs: an issuer it can advertise."""
    if settings.host in ("0.0.0.0", "::") and settings.issuer is None:
        raise ConfigError(
            "issuer: listening on all addresses needs --issuer (KEYTURN_ISSUER), the URL "
            "clients reach this server at; it would otherwise advertise http://0.0.0.0"
        )


def master_secret(settings: Settings) -> str:
    """KEYTURN_SECRET_KEY, or one generated into the data directory with mode 0600."""
    if settings.secret_key is not None:
        return settings.secret_key.reveal()
    path = Path(settings.data_dir) / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters")
        return value
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a private temporary file, then link it into place: link() fails if
    # another worker won the race, and nobody ever reads a half-written file.
    temporary = path.with_name(f".secret_key.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return master_secret(settings)

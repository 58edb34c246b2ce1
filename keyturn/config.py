"""Settings: command-line flags, then `KEYTURN_*` variables, then a TOML file, then defaults.

Every setting `some_option` is the flag `--some-option`, the variable
`KEYTURN_SOME_OPTION` and the key `some_option` of the file named by `--config`
or `KEYTURN_CONFIG`; earlier sources win. pydantic-settings validates the
merged values, and any error becomes one line naming the setting and where its
value came from.

Variables with the prefix that are no setting are ignored with one warning
naming them: orchestrators inject such variables (Kubernetes sets
`KEYTURN_SERVICE_HOST`, `KEYTURN_PORT=tcp://…` and more for a Service named
`keyturn`), so refusing them would stop keyturn from starting there, and the
warning still shows a typo. A key in the file that is no setting is an error:
nobody injects files.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from keyturn.oauth.policy import REFRESH_TOKEN_RATE
from keyturn.oauth.secrets import MIN_SECRET_LENGTH

# The secret's type; its repr and str never show the value.
Secret = SecretStr
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]

ENV_PREFIX = "KEYTURN_"
CONFIG_ENV = "KEYTURN_CONFIG"
# Variables of the test suite and the client SDK share the prefix.
_FOREIGN_PREFIXES = ("KEYTURN_TEST_", "KEYTURN_CLIENT_")
REDACTED = "***"

log = logging.getLogger("keyturn.config")


class ConfigError(Exception):
    """A setting is wrong; the message is one line that names it."""


def _setting(default: Any, help: str, *, flag: bool = True, secret: bool = False) -> Any:
    """A field with its --help text; `flag=False` keeps it off the command line (a
    secret in argv is visible to every user of the machine in `ps`)."""
    return Field(default, description=help, json_schema_extra={"flag": flag, "secret": secret})


SignalKind = Literal["refresh_network_changed", "refresh_storm", "dormant_grant_used", "token_scan"]


class SignalSetting(BaseModel):
    """`[signals.<kind>]`: what to do when the signal fires, and its threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["record", "notify", "revoke"] | None = None
    threshold: int | None = Field(default=None, ge=1, le=1_000_000)


class Settings(BaseSettings):
    """Everything `keyturn serve` and the operator's commands are configured with."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "port to listen on")
    workers: int = _setting(1, "worker processes")
    database: str | None = _setting(
        None,
        "database URL, sqlite:///… or postgresql://… (default: SQLite in the data dir)",
        secret=True,  # for `config show`: a password in the URL is replaced
    )
    issuer: str | None = _setting(
        None, "the URL clients reach this server at (default: http://HOST:PORT)"
    )
    data_dir: str = _setting(".keyturn", "data directory: SQLite database, generated secret")
    secret_key: SecretStr | None = _setting(
        None,
        f"master secret, at least {MIN_SECRET_LENGTH} characters, the same on every instance; "
        "required with PostgreSQL",
        flag=False,
        secret=True,
    )
    redis: str | None = _setting(
        None, "Redis URL for rate limits shared by workers and instances", secret=True
    )
    pool_size: int = _setting(10, "database connections per worker")
    # A transaction-pooling PgBouncer drops the notices that carry client changes
    # between instances and hands a session setting on to other clients, so the
    # LISTEN connection and the two batch connections per worker may bypass it.
    listen_database: str | None = _setting(
        None,
        "PostgreSQL URL for the connections that keep session state: the one that hears "
        "client changes from other instances and the refresh batches' two (default: the "
        "database URL); set it past a transaction-pooling PgBouncer",
        secret=True,  # for `config show`: a password in the URL is replaced
    )
    log_level: LogLevel = _setting("info", "debug, info, warning or error")
    log_format: LogFormat = _setting("text", "text, or json: one JSON object a line")
    access_log: bool = _setting(True, "one log line per request")
    gc_interval: int = _setting(300, "seconds between purges of expired rows")
    refresh_token_rate: int = _setting(
        REFRESH_TOKEN_RATE, "refreshes a minute one refresh token may make"
    )
    # Seconds a request may take to arrive, headers and body together (slowloris).
    read_timeout: int = _setting(10, "seconds a request may take to arrive, headers and body")
    shutdown_timeout: int = _setting(10, "seconds in-flight requests get to finish after SIGTERM")
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = _setting(
        (), "CIDRs of proxies whose forwarded headers are believed, comma-separated"
    )
    # Which header trusted proxies write the client's address in: only that one is read,
    # since a proxy passes the other through as the client sent it.
    forwarded_header: ForwardedHeader = _setting(
        "x-forwarded-for", "the header trusted proxies put the client address in"
    )
    management_port: int | None = _setting(
        None, "a second listener for /metrics, /healthz and /readyz"
    )
    config: str | None = _setting(None, "a TOML file of settings")
    event_retention_days: int = _setting(30, "days events are kept (revoked grants too)")
    smtp_url: str | None = _setting(
        None, "smtp://host:port (or smtps://) to email users about security events", secret=True
    )
    smtp_from: str = _setting("keyturn@localhost", "the sender of those emails")
    webhook_retry_seconds: float = _setting(
        10.0, "first retry delay of a failed delivery; it doubles up to an hour, for 24 h"
    )
    # Per-signal policy, from the config file's [signals.<kind>] tables (or JSON).
    signals: dict[SignalKind, SignalSetting] = _setting({}, "anomaly signal policies", flag=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments (the flags) win, then the environment, then the file.
        init = init_settings()
        environment = Environment(settings_cls, os.environ)
        path = init.get("config") or environment().get("config")
        return (init_settings, environment, ConfigFile(settings_cls, path))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(_network(part) for part in value)
        return value

    @field_validator("signals", mode="before")
    @classmethod
    def _signals_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):  # KEYTURN_SIGNALS='{"refresh_storm": {"action": "revoke"}}'
            import json

            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object of signal policies") from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError("must be smtp://host:port or smtps://host:port")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("port", "management_port")
    @classmethod
    def _port_number(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value < 65536:
            raise ValueError(f"{value} is no port number (1-65535)")
        return value

    @field_validator(
        "workers",
        "pool_size",
        "read_timeout",
        "gc_interval",
        "refresh_token_rate",
        "event_retention_days",
    )
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _retry_delay(cls, value: float) -> float:
        if not 0 < value <= 3600:
            raise ValueError("must be more than 0 and at most 3600 seconds")
        return value

    @field_validator("shutdown_timeout")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise ValueError("unsupported database URL: use sqlite:///… or postgresql://…")
        return value

    @field_validator("listen_database")
    @classmethod
    def _listen_database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql://… URL")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("must be an absolute http(s) URL without a query")
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.management_port is not None and self.management_port == self.port:
            raise ValueError("management_port must differ from port")
        return self

    @model_validator(mode="after")
    def _listen_needs_postgres(self) -> Settings:
        if self.listen_database is not None and self.embedded:
            raise ValueError("listen_database needs a PostgreSQL database")
        return self

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return self.trusted_proxies

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


FORWARDED_HEADERS: tuple[str, ...] = ("x-forwarded-for", "forwarded")


def _network(text: Any) -> Network:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise ValueError(f"{str(text).strip()!r} is not a CIDR") from None


def parse_networks(text: str) -> tuple[Network, ...]:
    try:
        return Settings._split_networks(text)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ConfigError(f"trusted_proxies: {exc}") from None


class Environment(PydanticBaseSettingsSource):
    """`KEYTURN_<SETTING>` variables; others with the prefix are left out (see
    `environment_warnings`), and so is a KEYTURN_PORT that is no number."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        known = settings_cls.model_fields.keys()
        self.values: dict[str, str] = {}
        for key, raw in environ.items():
            name = key.removeprefix(ENV_PREFIX).lower()
            if key.startswith(ENV_PREFIX) and name in known and _usable(name, raw):
                self.values[name] = raw

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _usable(name: str, raw: str) -> bool:
    # Kubernetes' service link, e.g. KEYTURN_PORT=tcp://10.0.0.7:8000.
    return name != "port" or raw.strip().isdigit()


class ConfigFile(PydanticBaseSettingsSource):
    """The TOML file; keys are setting names."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.values: dict[str, Any] = {}
        if path is not None:
            try:
                with open(path, "rb") as handle:
                    self.values = tomllib.load(handle)
            except OSError as exc:
                raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
            self.values.pop("config", None)  # a file cannot name another file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """What `load_settings` warns about in the environment, one message each."""
    environ = os.environ if environ is None else environ
    known = Settings.model_fields.keys()
    ignored, messages = [], []
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(_FOREIGN_PREFIXES):
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name not in known:
            ignored.append(key)
        elif not _usable(name, raw):
            messages.append(f"ignoring KEYTURN_PORT={raw!r}: not a port number")
    if ignored:
        messages.append(f"ignoring environment variables that are no setting: {', '.join(ignored)}")
    return messages


def load_settings(options: Mapping[str, Any] | None = None, *, warn: bool = True) -> Settings:
    """Flags (`options`, None meaning not given) over the environment over the file.

    `warn=False` is for worker processes, which read the same environment as the
    command that started them and so would repeat its warnings.
    """
    given = {name: value for name, value in (options or {}).items() if value is not None}
    if warn:
        for message in environment_warnings():
            log.warning("%s", message)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, given)) from None


def _one_line(error: ValidationError, flags: Mapping[str, Any]) -> str:
    """The first problem, naming the setting and the source of the wrong value; the
    value itself is left out, since it may be a secret."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    if first["type"] == "extra_forbidden":
        return f"config: {name!r} in {_source_of('config', flags)} is no setting"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a rule between settings: its message names them
        return f"{name}: {message}"
    return f"{name}: {message} (from {_source_of(name, flags)})"


def _source_of(name: str, flags: Mapping[str, Any]) -> str:
    if name == "config":
        return str(flags.get("config") or os.environ.get(CONFIG_ENV))
    if name in flags:
        return "--" + name.replace("_", "-")
    if f"{ENV_PREFIX}{name.upper()}" in os.environ:
        return f"{ENV_PREFIX}{name.upper()}"
    return f"the config file {flags.get('config') or os.environ.get(CONFIG_ENV)}"


def check_serving(settings: Settings) -> None:
    """What only `keyturn serve` needs: an issuer it can advertise."""
    if settings.host in ("0.0.0.0", "::") and settings.issuer is None:
        raise ConfigError(
            "issuer: listening on all addresses needs --issuer (KEYTURN_ISSUER), the URL "
            "clients reach this server at; it would otherwise advertise http://0.0.0.0"
        )


def shown(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain values, every secret replaced by "***" (and a
    password inside a URL too), for `keyturn config show`."""
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        extra = field.json_schema_extra
        secret = isinstance(extra, dict) and extra.get("secret") is True
        if isinstance(value, SecretStr):
            value = REDACTED
        elif isinstance(value, tuple):
            value = [str(item) for item in value]
        elif isinstance(value, dict):
            value = {k: v.model_dump(exclude_none=True) for k, v in value.items()}
        elif isinstance(value, str) and secret:
            value = _without_password(value)
        out[name] = value
    return out


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{REDACTED}@{host}"))


def master_secret(settings: Settings, *, create: bool = False) -> str:
    """KEYTURN_SECRET_KEY, or on the embedded default the one in the data directory.

    Only `serve` and `migrate` pass `create`, which generates one (mode 0600) on
    first start. With PostgreSQL there is no generated secret: one instance's
    file would lock every other instance out of the keys it sealed.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if not settings.embedded:
        raise ConfigError(
            "secret_key: KEYTURN_SECRET_KEY (or secret_key in the config file) is required "
            "with PostgreSQL, the same on every instance"
        )
    path = Path(settings.data_dir) / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters")
        return value
    if not create:
        raise ConfigError(
            f"secret_key: {path} does not exist; `keyturn serve` or `keyturn migrate` creates it"
        )
    _write_new_secret(path)
    return master_secret(settings)


def _write_new_secret(path: Path) -> None:
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

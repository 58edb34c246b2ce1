"""Logging, set up once per process: text or JSON lines on stderr, redacted.

Records carry fields (`request_id`, `client_id`, `status`, …) rather than
formatted secrets, and one filter on the handler removes anything shaped like a
credential from every line — the message, its fields and exception traces — so a
new log call cannot leak one. The fields of the request being served live in
context variables, so any line logged while serving it carries its request id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

# Set while a request is served; read by the formatter and the access log.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
client_id: ContextVar[str | None] = ContextVar("client_id", default=None)
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
# The OAuth error a request ended with, and its internal detail (never sent to the caller).
outcome: ContextVar[tuple[str, str] | None] = ContextVar("outcome", default=None)

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

MASK = "***"
# keyturn's own tokens, JWTs, webhook secrets, Basic credentials, and the values of
# form or query fields that carry secrets.
_SECRET_SHAPES = [
    re.compile(r"\bkt[ar]_[A-Za-z0-9_-]{16,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b(client_secret|password|new_password|current_password|registration_?code"
        r"|code_verifier|code|refresh_token|access_token|token|secret_key)"
        r"(\"?\s*[=:]\s*\"?)[^\s&\"',;]+"
    ),
]
_SECRET_FIELDS = frozenset(
    {"password", "client_secret", "secret", "token", "code", "registration_code", "secret_key"}
)


def redact(text: str) -> str:
    for shape in _SECRET_SHAPES:
        if shape.groups >= 2:
            text = shape.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        elif shape.groups == 1:
            text = shape.sub(lambda m: f"{m.group(1)} {MASK}", text)
        else:
            text = shape.sub(MASK, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record in place: message, arguments, fields and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                name: MASK if name in _SECRET_FIELDS else _redact_value(value)
                for name, value in fields.items()
            }
        return True


def _redact_value(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def _context_fields() -> dict[str, Any]:
    # The client id is whatever the caller claimed (a confused client may send its
    # secret or a token there), so it is redacted like any other text.
    found = {"request_id": request_id.get(), "client_id": client_id.get()}
    return {name: _redact_value(value) for name, value in found.items() if value is not None}


def _text_value(value: object) -> str:
    """A field in a text line: quoted when it holds spaces or control characters, so a
    value cannot start a forged line of its own."""
    text = str(value)
    if text and text.isprintable() and " " not in text:
        return text
    return json.dumps(text)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_context_fields())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class Text(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # The same UTC timestamps as the JSON lines and the access log.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = {**_context_fields(), **(getattr(record, "fields", None) or {})}
        if extra:
            text += " " + " ".join(f"{name}={_text_value(value)}" for name, value in extra.items())
        return text


def configure(level: str = "info", fmt: str = "text") -> None:
    """One stderr handler on the root logger, for keyturn's loggers and uvicorn's alike."""
    if level not in LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log_format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else Text())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []  # let them reach the root handler
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # keyturn writes its own
    # asyncpg's pool warns with a traceback each time it fails to reconnect during an
    # outage; keyturn reports the outage itself, once when it starts and once at its end.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


class AccessLog:
    """One line per request, written without the logging machinery.

    It is on every request's path, so it is formatted directly (the same shape as
    every other line, fields redacted like them) and written in batches: lines
    gather for at most FLUSH_SECONDS and go out in one write, instead of a
    LogRecord, a formatter pass and a flushed write each.
    """

    FLUSH_SECONDS = 0.05
    MAX_BUFFERED = 512

    def __init__(self, fmt: str = "text") -> None:
        self.json = fmt == "json"
        self._lines: list[str] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def _ts(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # requests come in bursts within one second
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, fields: dict[str, Any]) -> None:
        for name in ("path", "detail", "ip"):
            value = fields.get(name)
            if isinstance(value, str):
                fields[name] = redact(value)
        context = _context_fields()
        ts = self._ts(time.time())
        if self.json:
            line = _encode_json(
                {"ts": ts, "level": "info", "logger": "keyturn.access", "msg": "request"}
                | context
                | fields
            )
        else:
            pairs = " ".join(
                f"{name}={_text_value(value)}" for name, value in (context | fields).items()
            )
            line = f"{ts} INFO keyturn.access: request {pairs}"
        self._lines.append(line + "\n")
        if len(self._lines) >= self.MAX_BUFFERED:
            self.flush()
        elif self._flush_at is None:
            self._flush_at = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        if self._lines:
            lines, self._lines = self._lines, []
            sys.stderr.write("".join(lines))
            sys.stderr.flush()


_encode_json = json.JSONEncoder(separators=(",", ":"), default=str).encode

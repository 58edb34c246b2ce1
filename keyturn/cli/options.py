"""Command-line flags made from the settings model, so `--help` and the settings agree.

Each setting's flag shows its help, its default and its environment variable.
Values stay strings here: pydantic validates them with the environment and
the file, so a bad value is the same one-line error whichever source it came from.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable
from typing import Any

from keyturn.config import ENV_PREFIX, Settings

# The settings every operator's command takes (the database and what unlocks it).
STORE_SETTINGS = ("database", "data_dir", "config")


def add_settings(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """A flag per setting (all settings that may be flags when `names` is None)."""
    group = parser.add_argument_group("settings (flag, then environment, then config file)")
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if (names is not None and name not in names) or extra.get("flag") is False:
            continue
        flag = "--" + name.replace("_", "-")
        default = "none" if field.default in (None, ()) else str(field.default).lower()
        help_text = f"{field.description} [default {default}; {ENV_PREFIX}{name.upper()}]"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        annotation = field.annotation
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            choices = _choices(annotation)
            if choices:
                kwargs["choices"] = choices
            kwargs["metavar"] = _metavar(name, choices)
        group.add_argument(flag, **kwargs)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags on this command line."""
    return {
        name: getattr(args, name)
        for name in Settings.model_fields
        if getattr(args, name, None) is not None
    }


def _choices(annotation: Any) -> tuple[str, ...] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(choice) for choice in typing.get_args(annotation))
    return None


def _metavar(name: str, choices: tuple[str, ...] | None) -> str | None:
    if choices:
        return None
    if name in ("database", "listen_database", "issuer", "redis"):
        return "URL"
    if name.endswith(("port",)):
        return "PORT"
    if name.endswith(("timeout", "interval")):
        return "SECONDS"
    if name == "trusted_proxies":
        return "CIDR[,CIDR…]"
    if name in ("data_dir",):
        return "DIR"
    if name == "config":
        return "FILE"
    return "N" if name in ("workers", "pool_size", "refresh_token_rate") else name.upper()

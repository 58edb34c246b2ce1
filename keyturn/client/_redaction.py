"""repr() for dataclasses that hold tokens or secrets: the values never reach a log line."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MASK = "***"


def masked_repr(instance: DataclassInstance, hidden: frozenset[str]) -> str:
    """Like the dataclass repr, with the `hidden` fields shown as '***' (or None: absent)."""
    shown = []
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if field.name in hidden and value is not None:
            value = MASK
        shown.append(f"{field.name}={value!r}")
    return f"{type(instance).__name__}({', '.join(shown)})"

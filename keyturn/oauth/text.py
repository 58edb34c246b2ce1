"""What a text field from outside may hold before it goes near a database.

PostgreSQL refuses NUL in text and a lone surrogate cannot be encoded as UTF-8
at all, so either would surface as a driver error; checked at the edge they are
a plain 4xx instead.
"""

from __future__ import annotations

import unicodedata

# Control, format (among them the bidirectional overrides that make an address
# read differently on a page than it is stored), surrogate, private-use and
# unassigned characters.
_NOT_PLAIN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def storable(value: str, max_length: int) -> bool:
    """Valid UTF-8 text without NUL, no longer than `max_length` characters."""
    if len(value) > max_length or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from "\ud800" in JSON
        return False
    return True


def plain_identifier(value: str, max_length: int) -> bool:
    """`storable`, and no control, format or unassigned characters (emails, names)."""
    if not storable(value, max_length):
        return False
    return not any(unicodedata.category(char) in _NOT_PLAIN for char in value)

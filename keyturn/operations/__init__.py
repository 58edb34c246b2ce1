"""Every state change an operator, a user or a client can ask for, as one function.

The pages, the command line and (later) the admin API call these and nothing
else to change state. Each function validates its input, then makes exactly one
store call, which applies the change and records its event — with the actor
who asked — in one transaction. Actors are `cli`, `client:<client_id>` or
`user:<user_id>` (`keyturn.store.records`).
"""

from __future__ import annotations


class OperationError(Exception):
    """A refused operation (invalid input); the message is safe to show as is."""


class NotFound(OperationError):
    """The client, user, grant or key named does not exist."""


class Conflict(OperationError):
    """The change collides with what exists (an email already taken, say)."""


__all__ = ["Conflict", "NotFound", "OperationError"]

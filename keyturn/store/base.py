"""The Store protocol: every atomic state change is one method and one transaction.

Methods are grouped by concern (clients, users, grants, codes, events, keys,
maintenance) and named after the domain action, never after SQL verbs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from keyturn.store.records import (
    AuthorizationCode,
    Client,
    CodeOutcome,
    Delivery,
    Event,
    Grant,
    NewDelivery,
    NewEvent,
    NewGrant,
    NotFound,
    Purged,
    RefreshAttempt,
    RefreshOutcome,
    Rejected,
    Replayed,
    RevocationReason,
    SecondFactor,
    Session,
    StoredKey,
    User,
    Webhook,
)


class StoreUnavailable(Exception):
    """The database could not be reached or answered with an internal error."""


class SchemaTooNew(Exception):
    """The database was migrated by a newer keyturn than this one."""


class EmailTaken(Exception):
    """A user with that email address already exists."""


class ClientStore(Protocol):
    async def create_client(self, client: Client, event: NewEvent | None = None) -> None: ...
    async def get_client(self, client_id: str) -> Client | None: ...
    async def list_clients(self) -> list[Client]: ...
    async def rotate_client_secret(
        self,
        client_id: str,
        secret_hash: bytes,
        now: float,
        *,
        revoke_reason: RevocationReason | None = None,
        event: NewEvent | None = None,
    ) -> int | None:
        """Replace the secret (the old one stops working at once, on every instance) and,
        with `revoke_reason`, revoke every grant of the client in the same transaction.

        None for an unknown client, else the number of grants revoked."""
        ...

    async def disable_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        """Disable the client and revoke its grants (reason `client_disabled`)."""
        ...

    async def update_client(
        self, client: Client, now: float, event: NewEvent | None = None
    ) -> bool:
        """Write the client's settings (not its secret or state); False if it is gone."""
        ...

    async def enable_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> bool: ...

    async def delete_client(
        self, client_id: str, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Revoke its grants (reason `client_deleted`) and hide it from every lookup;
        None for an unknown client, else the number of grants revoked."""
        ...

    async def page_clients(self, *, after: tuple[Any, ...] | None, limit: int) -> list[Client]:
        """Live clients in creation order, after the key (created_at, client_id)."""
        ...


class UserStore(Protocol):
    async def create_user(self, user: User, event: NewEvent | None = None) -> None:
        """Raise `EmailTaken` when the email is in use."""
        ...

    async def get_user(self, user_id: str) -> User | None: ...
    async def get_user_by_email(self, email: str) -> User | None: ...
    async def set_user_disabled(
        self, user_id: str, disabled: bool, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Disabling revokes every grant (reason `account_disabled`) and ends every
        session; None for an unknown user, else the number of grants revoked."""
        ...

    async def delete_user(
        self, user_id: str, now: float, event: NewEvent | None = None
    ) -> int | None:
        """Erase the user's personal data and revoke its grants (reason
        `account_deleted`); events keep the id. None for an unknown user."""
        ...

    async def page_users(
        self, *, email: str | None, after: tuple[Any, ...] | None, limit: int
    ) -> list[User]:
        """Live users in creation order, after the key (created_at, user_id)."""
        ...

    async def claim_user(
        self, user_id: str, password_hash: str, now: float, event: NewEvent | None = None
    ) -> bool:
        """Set the password of an API-created user; its registration code stops working."""
        ...

    async def set_password(self, user_id: str, password_hash: str) -> bool: ...
    async def enable_two_step(
        self,
        user_id: str,
        sealed_secret: bytes,
        step: int,
        recovery_hashes: list[bytes],
        session_hash: bytes,
        now: float,
        event: NewEvent | None = None,
        renamed_to: bytes | None = None,
    ) -> bool:
        """Make `sealed_secret` the user's, with new recovery codes; the session becomes
        level 2 and the user's other sessions end. False if two-step verification is
        on already (a second confirmation, another tab)."""
        ...

    async def disable_two_step(
        self,
        user_id: str,
        factor: SecondFactor | None,
        keep_session_hash: bytes | None,
        now: float,
        event: NewEvent | None = None,
    ) -> bool:
        """Turn two-step verification off, using up `factor` when the user asks;
        other sessions end (all of them without `keep_session_hash`)."""
        ...

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        keep_session_hash: bytes,
        now: float,
        ip: str | None,
    ) -> bool:
        """A person changed their password: set it, end every other session of the user
        (the one that changed it stays) and record a `password_changed` event with the
        number of sessions ended, all in one transaction.

        False, and nothing changed, when there is no such user.
        """
        ...

    async def set_enhanced_security(
        self, user_id: str, enabled: bool, now: float, event: NewEvent | None = None
    ) -> int:
        """Switch enhanced security; turning it on revokes every grant of the user.

        Returns the number of grants revoked.
        """
        ...


class GrantStore(Protocol):
    async def create_grant(self, new: NewGrant) -> Grant: ...
    async def get_grant(self, grant_id: bytes) -> Grant | None: ...
    async def advance_refresh(self, attempt: RefreshAttempt) -> RefreshOutcome:
        """Rotate a grant's generations if `attempt.generation` is current (RFC 6749 §6).

        The success path is one conditional UPDATE of the row (a backend may
        carry several grants in one statement, each at most once), so exactly
        one of many concurrent callers wins. A miss is classified by `classify_miss`;
        an older generation revokes the grant and records a `refresh_token_reuse`
        event in the same transaction (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP
        §4.14.2).
        """
        ...

    async def revoke_grant(
        self,
        grant_id: bytes,
        reason: RevocationReason,
        now: float,
        *,
        client_id: str | None = None,
        event: NewEvent | None = None,
    ) -> bool:
        """Revoke one grant (optionally only if it belongs to `client_id`); the event is
        recorded only when something was revoked."""
        ...

    async def revoke_user_grant(
        self, grant_id: bytes, user_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        """The user revokes one of their own grants; their consent to that client goes too."""
        ...

    async def revoke_grants(
        self,
        reason: RevocationReason,
        now: float,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        event: NewEvent | None = None,
    ) -> int:
        """Revoke every live grant of a user, a client, or a user at a client."""
        ...

    async def revoke_access(self, grant_id: bytes, access_generation: int) -> bool:
        """Retire the grant's current access token (RFC 7009 for an access token)."""
        ...

    async def list_grants(
        self,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        include_inactive: bool = False,
        now: float,
    ) -> list[Grant]: ...

    async def page_grants(
        self,
        *,
        user_id: str | None,
        client_id: str | None,
        active: bool | None,
        now: float,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[Grant]:
        """Grants in creation order after the key (created_at, grant_id); `active`
        True for live ones only, False for revoked or expired ones only."""
        ...


class CodeStore(Protocol):
    """Authorization codes, browser sessions and remembered consent."""

    async def create_code(self, code: AuthorizationCode) -> None: ...
    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None: ...
    async def exchange_code(self, code_hash: bytes, new: NewGrant) -> CodeOutcome:
        """Redeem a code and create its grant in one transaction (RFC 6749 §4.1.2).

        A code that was already used revokes the grant it produced and records
        an `authorization_code_reuse` event; an unknown or expired code is None.
        """
        ...

    async def create_session(
        self,
        session: Session,
        event: NewEvent | None = None,
        factor: SecondFactor | None = None,
    ) -> bool:
        """Start a session; with `factor` only if that second factor is still unused
        (then it is used up in the same transaction). False when it was not, and for a
        level-1 session of a user who has two-step verification (a racing sign-in)."""
        ...

    async def step_up_session(
        self,
        session_hash: bytes,
        user_id: str,
        factor: SecondFactor,
        now: float,
        event: NewEvent | None = None,
        renamed_to: bytes | None = None,
    ) -> bool:
        """Raise a session to level 2 (authenticated now) by using up `factor`; it is
        renamed to `renamed_to`, the hash of the new cookie token it gets."""
        ...

    async def get_session(self, session_hash: bytes, now: float) -> Session | None: ...
    async def end_session(self, session_hash: bytes) -> None: ...
    async def get_consent(self, user_id: str, client_id: str) -> str | None: ...
    async def save_consent(self, user_id: str, client_id: str, scope: str, now: float) -> None: ...
    async def forget_consent(self, user_id: str, client_id: str) -> None: ...


class EventStore(Protocol):
    async def record_event(self, now: float, event: NewEvent) -> None:
        """An event that goes with no state change; changes record theirs themselves."""
        ...

    async def list_events(self, *, after_id: int = 0, limit: int = 100) -> list[Event]: ...
    async def page_events(
        self,
        *,
        kinds: tuple[str, ...],
        user_id: str | None,
        client_id: str | None,
        since: float | None,
        before_id: int | None,
        limit: int,
    ) -> list[Event]:
        """Newest first, before the event id `before_id` (the previous page's last)."""
        ...


class NotificationStore(Protocol):
    """Webhooks, and the outbox of deliveries to them and to people."""

    async def create_webhook(self, webhook: Webhook, event: NewEvent | None = None) -> None: ...
    async def list_webhooks(self) -> list[Webhook]: ...
    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...
    async def delete_webhook(
        self, webhook_id: str, now: float, event: NewEvent | None = None
    ) -> bool:
        """Its pending deliveries are dropped with it."""
        ...

    async def fan_out(
        self,
        now: float,
        targets: Callable[[Event, list[Webhook]], list[NewDelivery]],
        *,
        batch: int = 200,
    ) -> int:
        """Deliveries for the events after the outbox cursor, and the cursor moved, in
        one transaction; nothing while another instance does it. Events fanned out."""
        ...

    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[Delivery]:
        """Due deliveries, leased to the caller: each attempt is made by one instance."""
        ...

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: float,
        now: float,
    ) -> None: ...

    async def page_deliveries(
        self,
        *,
        channel: str,
        target: str,
        state: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[Delivery]:
        """Newest first."""
        ...


class KeyStore(Protocol):
    async def list_keys(self) -> list[StoredKey]: ...
    async def add_key(self, kind: str, sealed: bytes, now: float) -> int: ...
    async def add_keys(
        self, keys: list[tuple[str, bytes]], now: float, event: NewEvent | None = None
    ) -> list[int]:
        """New current keys (a rotation) in one transaction, with its event."""
        ...

    async def retire_key(self, kid: int, now: float, event: NewEvent | None = None) -> bool: ...


class LeaseStore(Protocol):
    async def claim_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        """Take or renew the lease `name` for `seconds`; False while another holds it.
        Background work that must run once per deployment runs only under its lease."""
        ...


class Store(
    LeaseStore,
    ClientStore,
    UserStore,
    GrantStore,
    CodeStore,
    EventStore,
    NotificationStore,
    KeyStore,
    Protocol,
):
    """Everything, plus maintenance; code that needs one concern asks for that protocol."""

    async def purge(
        self,
        now: float,
        *,
        batch: int,
        keep_seconds: float,
        resume: dict[str, float] | None = None,
    ) -> Purged:
        """Delete expired grants, and revoked grants and events older than `keep_seconds`.

        At most `batch` rows per scan per call, so a large backlog never holds long
        locks. Pass the previous call's `resume` to go on where it stopped.
        """
        ...

    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        ...

    async def migration_status(self) -> tuple[list[str], list[str]]:
        """(applied, pending) migration names; `SchemaTooNew` if the database knows
        migrations this code does not."""
        ...

    async def ping(self) -> None:
        """One round trip to the database; `StoreUnavailable` if it does not answer."""
        ...

    def pool_stats(self) -> tuple[int, int]:
        """(connections open, connections in use) of this process's pool."""
        ...

    def observe_events(self, callback: Callable[[str], None]) -> None:
        """Call `callback(kind)` for every event this store records (for metrics)."""
        ...

    async def close(self) -> None: ...


def classify_miss(grant: Grant | None, attempt: RefreshAttempt) -> RefreshOutcome | None:
    """Explain why a conditional refresh UPDATE matched nothing.

    Returns the outcome, or None when the presented generation is stale and the
    caller must revoke the grant for reuse.
    """
    if grant is None or grant.client_id != attempt.client_id or not grant.has_refresh:
        return NotFound()
    if grant.revoked_at is not None:
        return Rejected(grant.revoked_reason or "revoked_by_admin", grant)
    if grant.expires_at <= attempt.now:
        return Rejected("expired", grant)
    if grant.auth_level < attempt.min_auth_level:
        # The store revokes it with this outcome: retries, even in the grace window, fail.
        return Rejected(RevocationReason.POLICY_CHANGED, grant)
    if attempt.generation > grant.refresh_generation:
        # Never issued: only a restored backup could produce it.
        return NotFound()
    if attempt.generation == grant.refresh_generation:
        # Current generation, alive, yet the UPDATE missed: only idleness is left.
        return Rejected("idle_timeout", grant)
    if (
        attempt.generation == grant.refresh_generation - 1
        and grant.rotated_at >= attempt.grace_cutoff
    ):
        return Replayed(grant)
    return None

"""One contract suite for every Store backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import os

import pytest

from keyturn.store.base import EmailTaken, Store
from keyturn.store.records import (
    CLI_ACTOR,
    Advanced,
    Client,
    EventKind,
    NewEvent,
    NewGrant,
    NotFound,
    RefreshAttempt,
    Rejected,
    Replayed,
    ReuseDetected,
    RevocationReason,
    Session,
    User,
)

NOW = 1_800_000_000.0
BY_USER = RevocationReason.REVOKED_BY_USER
BY_ADMIN = RevocationReason.REVOKED_BY_ADMIN


def make_client(client_id: str = "app", **overrides: object) -> Client:
    values: dict[str, object] = {
        "client_id": client_id,
        "name": "App",
        "secret_hash": b"h" * 32,
        "redirect_uris": ("https://app.example/cb",),
        "scope": "openid offline_access",
        "grant_types": ("authorization_code", "refresh_token"),
        "access_ttl": 3600,
        "refresh_ttl": 86400,
        "rotation": True,
        "grace_seconds": 30,
        "idle_ttl": None,
        "always_refresh": False,
        "disabled": False,
        "created_at": NOW,
    }
    values.update(overrides)
    return Client(**values)  # type: ignore[arg-type]


def make_user(user_id: str = "u1", email: str = "ann@example.com") -> User:
    return User(user_id, email, None, None, None, None, False, NOW)


def new_grant(client_id: str = "app", user_id: str | None = "u1", **overrides: object) -> NewGrant:
    values: dict[str, object] = {
        "grant_id": os.urandom(16),
        "client_id": client_id,
        "user_id": user_id,
        "scope": "openid offline_access",
        "auth_time": NOW,
        "created_at": NOW,
        "expires_at": NOW + 86400,
        "access_expires_at": NOW + 3600,
        "has_refresh": True,
        "ip": "192.0.2.1",
    }
    values.update(overrides)
    return NewGrant(**values)  # type: ignore[arg-type]


def attempt(
    grant_id: bytes, generation: int, now: float = NOW + 10, **overrides: object
) -> RefreshAttempt:
    values: dict[str, object] = {
        "grant_id": grant_id,
        "client_id": "app",
        "generation": generation,
        "now": now,
        "rotate": True,
        "access_scope": None,
        "access_ttl": 3600,
        "idle_cutoff": 0.0,
        "grace_cutoff": now - 30,
        "ip": "192.0.2.2",
    }
    values.update(overrides)
    return RefreshAttempt(**values)  # type: ignore[arg-type]


@pytest.fixture
async def seeded(store: Store) -> Store:
    await store.create_client(make_client())
    await store.create_client(make_client("other"))
    await store.create_user(make_user())
    return store


async def test_client_round_trips(seeded: Store) -> None:
    client = await seeded.get_client("app")
    assert client == make_client()
    assert [c.client_id for c in await seeded.list_clients()] == ["app", "other"]
    assert await seeded.get_client("missing") is None


async def test_rotate_client_secret_changes_only_confidential_clients(seeded: Store) -> None:
    assert await seeded.rotate_client_secret("app", b"n" * 32, NOW) == 0
    client = await seeded.get_client("app")
    assert client is not None and client.secret_hash == b"n" * 32
    await seeded.create_client(make_client("public", secret_hash=None))
    assert await seeded.rotate_client_secret("public", b"x" * 32, NOW) is None


async def test_rotating_a_compromised_secret_revokes_and_records_in_one_step(
    seeded: Store,
) -> None:
    grants = [await seeded.create_grant(new_grant()) for _ in range(3)]
    event = NewEvent(EventKind.CLIENT_SECRET_ROTATED, actor=CLI_ACTOR, client_id="app")
    revoked = await seeded.rotate_client_secret(
        "app", b"n" * 32, NOW, revoke_reason=RevocationReason.REVOKED_BY_ADMIN, event=event
    )
    assert revoked == 3
    for grant in grants:
        stored = await seeded.get_grant(grant.grant_id)
        assert stored is not None and stored.revoked_reason == "revoked_by_admin"
    (recorded,) = await seeded.list_events()
    assert (recorded.kind, recorded.actor, recorded.client_id) == (
        "client_secret_rotated",
        "cli",
        "app",
    )
    assert recorded.detail == {"grants_revoked": 3}


async def test_a_failing_change_records_no_event(seeded: Store) -> None:
    """The event is written in the change's transaction: no change, no event."""
    event = NewEvent(EventKind.USER_CREATED, actor=CLI_ACTOR)
    await seeded.create_user(make_user("ua", "a@example.com"), event)
    with pytest.raises(EmailTaken):
        await seeded.create_user(make_user("ua", "a@example.com"), event)
    assert [e.kind for e in await seeded.list_events()] == ["user_created"]
    missing = NewEvent(EventKind.GRANT_REVOKED, actor=CLI_ACTOR)
    reason = RevocationReason.REVOKED_BY_ADMIN
    assert not await seeded.revoke_grant(os.urandom(16), reason, NOW, event=missing)
    assert not await seeded.disable_client("missing", NOW, NewEvent(EventKind.CLIENT_DISABLED))
    assert len(await seeded.list_events()) == 1


async def test_a_user_revoking_a_grant_forgets_consent_in_the_same_step(seeded: Store) -> None:
    user = make_user("uu", "u@example.com")
    await seeded.create_user(user)
    grant = await seeded.create_grant(new_grant(user_id=user.user_id))
    await seeded.save_consent(user.user_id, "app", "openid", NOW)
    assert not await seeded.revoke_user_grant(grant.grant_id, "someone-else", NOW)
    event = NewEvent(EventKind.GRANT_REVOKED, actor=f"user:{user.user_id}")
    assert await seeded.revoke_user_grant(grant.grant_id, user.user_id, NOW, event)
    stored = await seeded.get_grant(grant.grant_id)
    assert stored is not None and stored.revoked_reason == "revoked_by_user"
    assert await seeded.get_consent(user.user_id, "app") is None
    (recorded,) = await seeded.list_events()
    assert recorded.actor == f"user:{user.user_id}"
    assert recorded.client_id == "app"  # taken from the locked row


async def test_duplicate_email_is_refused(seeded: Store) -> None:
    with pytest.raises(EmailTaken):
        await seeded.create_user(make_user("u2", "ann@example.com"))


async def test_advance_refresh_moves_both_generations(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert (grant.refresh_generation, grant.access_generation) == (0, 0)
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0))
    assert isinstance(outcome, Advanced)
    assert (outcome.grant.refresh_generation, outcome.grant.access_generation) == (1, 1)
    assert outcome.grant.rotated_at == NOW + 10
    assert outcome.grant.last_ip == "192.0.2.2"
    assert outcome.grant.access_expires_at == NOW + 10 + 3600


async def test_a_refresh_returns_the_use_it_replaced(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    first = await seeded.advance_refresh(attempt(grant.grant_id, 0, ip="198.51.100.4"))
    assert isinstance(first, Advanced)
    assert (first.grant.prev_ip, first.grant.prev_used_at) == ("192.0.2.1", NOW)
    second = await seeded.advance_refresh(attempt(grant.grant_id, 1, now=NOW + 20))
    assert isinstance(second, Advanced)
    assert (second.grant.prev_ip, second.grant.prev_used_at) == ("198.51.100.4", NOW + 10)
    assert (second.grant.prev_network, second.grant.network) == (
        "198.51.100.0/24",
        "192.0.2.0/24",
    )
    # A plain read knows no previous use.
    read = await seeded.get_grant(grant.grant_id)
    assert read is not None and (read.prev_ip, read.prev_used_at) == (None, None)


@pytest.mark.parametrize(
    ("peer", "stored"),
    [
        ("testclient", None),  # a test client's name
        ("unix:/run/keyturn.sock", None),
        ("", None),
        ("2001:DB8::1", "2001:db8::1"),  # canonical form, as inet gives it back
        ("fe80::1%eth0", "fe80::1"),  # the zone names the server's interface
        ("::ffff:192.0.2.9", "192.0.2.9"),  # an IPv4 client on a dual-stack socket
        ("192.0.2.300", None),
    ],
)
async def test_a_peer_that_is_no_address_is_stored_as_none(
    seeded: Store, peer: str, stored: str | None
) -> None:
    grant = await seeded.create_grant(new_grant(ip=peer))
    assert grant.last_ip == stored
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, ip=peer))
    assert isinstance(outcome, Advanced) and outcome.grant.last_ip == stored


async def test_a_narrowed_access_scope_is_kept_until_the_next_refresh(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert grant.access_scope == "openid offline_access"
    narrowed = await seeded.advance_refresh(attempt(grant.grant_id, 0, access_scope="openid"))
    assert isinstance(narrowed, Advanced) and narrowed.grant.access_scope == "openid"
    read = await seeded.get_grant(grant.grant_id)
    assert read is not None and read.access_scope == "openid"
    widened = await seeded.advance_refresh(attempt(grant.grant_id, 1, now=NOW + 20))
    assert isinstance(widened, Advanced)
    assert widened.grant.access_scope == "openid offline_access"


@pytest.mark.parametrize("grant_id", [b"", b"\x01" * 15, b"\x01" * 17, b"\x01" * 64])
async def test_an_id_of_another_length_names_no_grant(seeded: Store, grant_id: bytes) -> None:
    assert await seeded.get_grant(grant_id) is None
    assert not await seeded.revoke_grant(grant_id, RevocationReason.REVOKED_BY_ADMIN, NOW)
    assert not await seeded.revoke_user_grant(grant_id, "u1", NOW)
    assert not await seeded.revoke_access(grant_id, 0)


async def test_access_expiry_is_capped_by_the_family(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant(expires_at=NOW + 100))
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0))
    assert isinstance(outcome, Advanced)
    assert outcome.grant.access_expires_at == NOW + 100


async def test_without_rotation_refresh_generation_stays(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, rotate=False))
    assert isinstance(outcome, Advanced)
    assert (outcome.grant.refresh_generation, outcome.grant.access_generation) == (0, 1)


async def test_previous_generation_inside_grace_is_replayed(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    await seeded.advance_refresh(attempt(grant.grant_id, 0))
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, now=NOW + 20))
    assert isinstance(outcome, Replayed)
    assert outcome.grant.refresh_generation == 1


async def test_previous_generation_after_grace_revokes_for_reuse(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    await seeded.advance_refresh(attempt(grant.grant_id, 0))
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, now=NOW + 41))
    assert isinstance(outcome, ReuseDetected)
    assert outcome.grant.revoked_reason == "reuse_detected"
    events = await seeded.list_events()
    assert [e.kind for e in events] == ["refresh_token_reuse"]
    assert events[0].detail == {"presented": 0, "current": 1}
    assert events[0].grant_id == grant.grant_id
    # The family is dead: the current generation fails too.
    after = await seeded.advance_refresh(attempt(grant.grant_id, 1, now=NOW + 42))
    assert after == Rejected("reuse_detected", after.grant)  # type: ignore[union-attr]


@pytest.mark.parametrize("older", [0, 1, 2])
async def test_every_older_generation_is_reuse(seeded: Store, older: int) -> None:
    grant = await seeded.create_grant(new_grant())
    for generation in range(4):
        await seeded.advance_refresh(attempt(grant.grant_id, generation, now=NOW + generation))
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, older, now=NOW + 5))
    assert isinstance(outcome, ReuseDetected)


async def test_wrong_client_is_not_found_and_changes_nothing(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, client_id="other"))
    assert outcome == NotFound()
    assert await seeded.get_grant(grant.grant_id) == grant


async def test_unknown_grant_is_not_found(seeded: Store) -> None:
    assert await seeded.advance_refresh(attempt(os.urandom(16), 0)) == NotFound()


async def test_expired_family_is_rejected(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant(expires_at=NOW + 5))
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, now=NOW + 5))
    assert isinstance(outcome, Rejected) and outcome.reason == "expired"


async def test_idle_grant_is_rejected(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0, idle_cutoff=NOW + 1))
    assert isinstance(outcome, Rejected) and outcome.reason == "idle_timeout"


async def test_concurrent_advances_have_exactly_one_winner(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    outcomes = await asyncio.gather(
        *(seeded.advance_refresh(attempt(grant.grant_id, 0)) for _ in range(16))
    )
    assert sum(isinstance(o, Advanced) for o in outcomes) == 1
    assert all(isinstance(o, Advanced | Replayed) for o in outcomes)
    current = await seeded.get_grant(grant.grant_id)
    assert current is not None and current.refresh_generation == 1


async def test_refreshes_arriving_together_each_get_their_own_outcome(seeded: Store) -> None:
    """On PostgreSQL these share one batched UPDATE; each still gets its own answer."""
    current, stale, revoked, expired, wrong_client, repeated = [
        await seeded.create_grant(new_grant()) for _ in range(6)
    ]
    assert isinstance(await seeded.advance_refresh(attempt(stale.grant_id, 0)), Advanced)
    assert isinstance(await seeded.advance_refresh(attempt(stale.grant_id, 1)), Advanced)
    await seeded.revoke_grant(revoked.grant_id, BY_USER, NOW)
    outcomes = await asyncio.gather(
        seeded.advance_refresh(attempt(current.grant_id, 0)),
        seeded.advance_refresh(attempt(stale.grant_id, 0)),
        seeded.advance_refresh(attempt(revoked.grant_id, 0)),
        seeded.advance_refresh(attempt(expired.grant_id, 0, now=NOW + 10**9)),
        seeded.advance_refresh(attempt(wrong_client.grant_id, 0, client_id="other")),
        seeded.advance_refresh(attempt(repeated.grant_id, 0, grace_cutoff=float("inf"))),
        seeded.advance_refresh(attempt(repeated.grant_id, 0, grace_cutoff=float("inf"))),
    )
    assert isinstance(outcomes[0], Advanced) and outcomes[0].grant.refresh_generation == 1
    assert isinstance(outcomes[1], ReuseDetected)
    assert isinstance(outcomes[2], Rejected) and outcomes[2].reason == "revoked_by_user"
    assert isinstance(outcomes[3], Rejected) and outcomes[3].reason == "expired"
    assert isinstance(outcomes[4], NotFound)
    # The same token twice with no grace left: one advances, the other is reuse.
    assert {type(outcome) for outcome in outcomes[5:]} == {Advanced, ReuseDetected}
    assert (await seeded.get_grant(current.grant_id)).refresh_generation == 1  # type: ignore[union-attr]
    assert (await seeded.get_grant(wrong_client.grant_id)).refresh_generation == 0  # type: ignore[union-attr]


async def test_revoke_grant_is_scoped_to_its_client(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert not await seeded.revoke_grant(grant.grant_id, BY_USER, NOW, client_id="other")
    assert await seeded.revoke_grant(grant.grant_id, BY_USER, NOW, client_id="app")
    assert not await seeded.revoke_grant(grant.grant_id, BY_USER, NOW)
    outcome = await seeded.advance_refresh(attempt(grant.grant_id, 0))
    assert isinstance(outcome, Rejected) and outcome.reason == "revoked_by_user"


async def test_revoke_grants_by_user_and_client(seeded: Store) -> None:
    await seeded.create_user(make_user("u2", "bob@example.com"))
    a = await seeded.create_grant(new_grant())
    b = await seeded.create_grant(new_grant("other"))
    c = await seeded.create_grant(new_grant(user_id="u2"))
    assert await seeded.revoke_grants(BY_ADMIN, NOW, user_id="u1", client_id="app") == 1
    assert await seeded.revoke_grants(BY_ADMIN, NOW, user_id="u1") == 1
    live = await seeded.list_grants(now=NOW)
    assert [g.grant_id for g in live] == [c.grant_id]
    everything = await seeded.list_grants(include_inactive=True, now=NOW)
    assert {g.grant_id for g in everything} == {a.grant_id, b.grant_id, c.grant_id}


async def test_enhanced_security_revokes_every_grant_of_the_user(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert await seeded.set_enhanced_security("u1", True, NOW) == 1
    found = await seeded.get_grant(grant.grant_id)
    assert found is not None and found.revoked_reason == "enhanced_security"
    user = await seeded.get_user("u1")
    assert user is not None and user.enhanced_security
    assert await seeded.set_enhanced_security("u1", False, NOW) == 0


async def test_disable_client_revokes_its_grants(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert await seeded.disable_client("app", NOW)
    client = await seeded.get_client("app")
    assert client is not None and client.disabled
    found = await seeded.get_grant(grant.grant_id)
    assert found is not None and found.revoked_reason == "client_disabled"


async def test_revoke_access_retires_only_the_current_generation(seeded: Store) -> None:
    grant = await seeded.create_grant(new_grant())
    assert not await seeded.revoke_access(grant.grant_id, 5)
    assert await seeded.revoke_access(grant.grant_id, 0)
    found = await seeded.get_grant(grant.grant_id)
    assert found is not None and found.access_generation == 1 and found.revoked_at is None


async def test_revoking_the_access_token_keeps_what_the_refresh_issued_for_a_replay(
    seeded: Store,
) -> None:
    grant = await seeded.create_grant(new_grant())
    assert grant.issued_access_generation == 0
    await seeded.advance_refresh(attempt(grant.grant_id, 0))
    assert await seeded.revoke_access(grant.grant_id, 1)
    assert not await seeded.revoke_access(grant.grant_id, 1)  # already retired
    found = await seeded.get_grant(grant.grant_id)
    assert found is not None
    assert (found.access_generation, found.issued_access_generation) == (2, 1)
    replay = await seeded.advance_refresh(attempt(grant.grant_id, 0, now=NOW + 20))
    assert isinstance(replay, Replayed) and replay.grant.issued_access_generation == 1
    # The next refresh issues a fresh, live generation; the marker no longer applies.
    onward = await seeded.advance_refresh(attempt(grant.grant_id, 1, now=NOW + 21))
    assert isinstance(onward, Advanced)
    assert (onward.grant.access_generation, onward.grant.issued_access_generation) == (3, 3)
    assert onward.grant.revoked_access_generation == 1


async def test_a_revocation_before_the_refresh_does_not_leak_into_the_replay(
    seeded: Store,
) -> None:
    grant = await seeded.create_grant(new_grant())
    assert await seeded.revoke_access(grant.grant_id, 0)
    advanced = await seeded.advance_refresh(attempt(grant.grant_id, 0))
    assert isinstance(advanced, Advanced)
    assert (advanced.grant.access_generation, advanced.grant.issued_access_generation) == (2, 2)
    replay = await seeded.advance_refresh(attempt(grant.grant_id, 0, now=NOW + 20))
    assert isinstance(replay, Replayed) and replay.grant == advanced.grant


async def test_claim_user_happens_once(seeded: Store) -> None:
    assert await seeded.claim_user("u1", "hash", NOW)
    assert not await seeded.claim_user("u1", "hash2", NOW)
    user = await seeded.get_user("u1")
    assert user is not None and user.password_hash == "hash" and user.claimed_at == NOW


async def test_change_password_ends_the_other_sessions_and_records_it_at_once(
    seeded: Store,
) -> None:
    await seeded.create_user(make_user("u2", "bob@example.com"))
    here, laptop, phone, bob = (
        Session(bytes([n]) * 32, user, NOW, NOW + 3600)
        for n, user in ((1, "u1"), (2, "u1"), (3, "u1"), (4, "u2"))
    )
    expired = Session(b"\x05" * 32, "u1", NOW - 7200, NOW - 3600)
    for session in (here, laptop, phone, bob, expired):
        await seeded.create_session(session)
    assert await seeded.change_password("u1", "new-hash", here.session_hash, NOW, "192.0.2.9")
    user = await seeded.get_user("u1")
    assert user is not None and user.password_hash == "new-hash"
    assert await seeded.get_session(here.session_hash, NOW) == here
    assert await seeded.get_session(laptop.session_hash, NOW) is None
    assert await seeded.get_session(phone.session_hash, NOW) is None
    assert await seeded.get_session(bob.session_hash, NOW) == bob
    events = await seeded.list_events()
    assert [(e.kind, e.user_id, e.ip, e.at, e.detail) for e in events] == [
        ("password_changed", "u1", "192.0.2.9", NOW, {"sessions_ended": 3})
    ]


async def test_change_password_of_an_unknown_user_changes_nothing(seeded: Store) -> None:
    session = Session(b"\x01" * 32, "u1", NOW, NOW + 3600)
    await seeded.create_session(session)
    assert not await seeded.change_password("nobody", "hash", b"\x09" * 32, NOW, None)
    assert await seeded.get_session(session.session_hash, NOW) == session
    assert await seeded.list_events() == []


async def test_keys_get_increasing_ids_and_retire(seeded: Store) -> None:
    first = await seeded.add_key("mac", b"sealed-1", NOW)
    second = await seeded.add_key("mac", b"sealed-2", NOW)
    assert second == first + 1
    assert await seeded.retire_key(first, NOW)
    assert not await seeded.retire_key(first, NOW)
    keys = {k.kid: k for k in await seeded.list_keys()}
    assert keys[first].retired_at == NOW and keys[second].retired_at is None


async def test_purge_removes_expired_and_old_revoked_in_batches(seeded: Store) -> None:
    expired = [await seeded.create_grant(new_grant(expires_at=NOW - 1)) for _ in range(5)]
    live = await seeded.create_grant(new_grant())
    revoked = await seeded.create_grant(new_grant())
    await seeded.revoke_grant(revoked.grant_id, BY_USER, NOW - 100)
    await seeded.record_event(NOW - 100, NewEvent(EventKind.GRANTS_REVOKED))
    await seeded.record_event(NOW, NewEvent(EventKind.USER_CREATED))
    first = await seeded.purge(NOW, batch=3, keep_seconds=50)
    # Three of the five expired (the batch) and the one revoked long enough ago.
    assert first.deleted == {"grants": 4, "events": 1, "codes": 0, "sessions": 0, "deliveries": 0}
    second = await seeded.purge(NOW, batch=3, keep_seconds=50, resume=first.resume)
    assert second.deleted["grants"] == 2
    assert await seeded.get_grant(live.grant_id) is not None
    assert all([await seeded.get_grant(g.grant_id) is None for g in expired])
    assert [e.kind for e in await seeded.list_events()] == ["user_created"]


async def test_purge_goes_on_where_the_previous_batch_stopped(seeded: Store) -> None:
    expiries = [NOW - 50, NOW - 40, NOW - 40, NOW - 30]
    for expires_at in expiries:
        await seeded.create_grant(new_grant(expires_at=expires_at))
    first = await seeded.purge(NOW, batch=2, keep_seconds=50)
    # In expiry order: the oldest and one of the two that share the next expiry.
    assert first.deleted["grants"] == 2
    assert first.resume["grants_expired"] == NOW - 40
    # A grant that expired before where the batch stopped is not looked for again in
    # this purge (it is the next purge's); the one left at the shared expiry is.
    late = await seeded.create_grant(new_grant(expires_at=NOW - 60))
    second = await seeded.purge(NOW, batch=2, keep_seconds=50, resume=first.resume)
    assert second.deleted["grants"] == 2
    assert second.resume["grants_expired"] == NOW - 30
    assert await seeded.get_grant(late.grant_id) is not None
    assert (await seeded.purge(NOW, batch=2, keep_seconds=50)).deleted["grants"] == 1
    assert await seeded.get_grant(late.grant_id) is None


async def test_purge_walks_revoked_grants_and_events_in_order(seeded: Store) -> None:
    grants = [await seeded.create_grant(new_grant()) for _ in range(3)]
    for offset, grant in zip([300, 200, 100], grants, strict=True):
        await seeded.revoke_grant(grant.grant_id, BY_USER, NOW - offset)
    for offset in [300, 200, 100]:
        await seeded.record_event(NOW - offset, NewEvent(EventKind.USER_CREATED))
    first = await seeded.purge(NOW, batch=2, keep_seconds=50)
    assert first.resume["grants_revoked"] == NOW - 200
    assert first.resume["events"] == NOW - 200
    assert await seeded.get_grant(grants[2].grant_id) is not None
    second = await seeded.purge(NOW, batch=2, keep_seconds=50, resume=first.resume)
    assert second.deleted["grants"] == 1
    assert second.resume["grants_revoked"] == NOW - 100
    assert await seeded.list_events() == []


async def test_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == []


async def test_a_lease_has_one_holder_until_it_expires(store: Store) -> None:
    assert await store.claim_lease("gc", "a", NOW, 10)
    assert not await store.claim_lease("gc", "b", NOW + 1, 10)  # held by a
    assert await store.claim_lease("gc", "a", NOW + 5, 10)  # a renews: now until +15
    assert not await store.claim_lease("gc", "b", NOW + 14, 10)
    assert await store.claim_lease("other", "b", NOW + 14, 10)  # leases are separate
    assert await store.claim_lease("gc", "b", NOW + 16, 10)  # a stopped renewing
    assert not await store.claim_lease("gc", "a", NOW + 17, 10)


async def test_of_many_racing_for_a_lease_one_gets_it(store: Store) -> None:
    won = await asyncio.gather(*(store.claim_lease("race", f"p{i}", NOW, 10) for i in range(8)))
    assert sum(won) == 1

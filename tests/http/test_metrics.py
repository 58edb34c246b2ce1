"""/metrics on a real server: the families an operator alerts on, and several workers."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from keyturn.oauth.context import Context
from tests.http.helpers import make_partner, refresh, user_tokens
from tests.http.oidc_helpers import make_user, sign_in
from tests.support import ServerProcess, running_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_requests_are_timed_by_route_method_and_status(
    server: ServerProcess, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        before = await scrape(http)
        tokens = await user_tokens(http, partner)
        assert (await refresh(http, partner, tokens["refresh_token"])).status_code == 200
        assert (await http.get("/no/such/path/" + "x" * 50)).status_code == 404
        after = await scrape(http)
    count = "keyturn_http_request_duration_seconds_count"
    token = {"endpoint": "/oauth/token", "method": "POST", "status": "200"}
    # A client token, the registration-code grant and the refresh.
    assert value(after, count, **token) - value(before, count, **token) == 3
    unknown = {"endpoint": "other", "method": "GET", "status": "404"}
    assert value(after, count, **unknown) - value(before, count, **unknown) == 1
    # Unknown paths never become series of their own.
    assert not any("/no/such" in str(labels) for _, labels in after)
    inf = value(after, "keyturn_http_request_duration_seconds_bucket", **token, le="+Inf")
    assert inf == value(after, count, **token)
    assert value(after, "keyturn_http_request_duration_seconds_sum", **token) > 0
    grants = "keyturn_token_requests_total"
    refreshed = {"grant_type": "refresh_token", "outcome": "ok"}
    assert value(after, grants, **refreshed) - value(before, grants, **refreshed) == 1


async def test_reuse_counts_as_invalid_grant_and_as_a_security_event(
    server: ServerProcess, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        before = await scrape(http)
        first = (await user_tokens(http, partner))["refresh_token"]
        second = (await refresh(http, partner, first)).json()["refresh_token"]
        assert (await refresh(http, partner, second)).status_code == 200
        assert (await refresh(http, partner, first)).status_code == 400  # an old one: reuse
        after = await scrape(http)
    reuse = ("keyturn_invalid_grant_total", {"reason": "reuse_detected"})
    assert value(after, reuse[0], **reuse[1]) - value(before, reuse[0], **reuse[1]) == 1
    event = ("keyturn_security_events_total", {"kind": "refresh_token_reuse"})
    assert value(after, event[0], **event[1]) - value(before, event[0], **event[1]) == 1
    # Every kind is there from the start, at zero until it happens.
    assert ("keyturn_security_events_total", frozenset({("kind", "key_retired")})) in after


async def test_sign_in_failures_and_rate_limits(server: ServerProcess, admin_ctx: Context) -> None:
    email = await make_user(admin_ctx, "correct horse battery")
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        before = await scrape(browser)
        for _ in range(10):
            assert (await sign_in(browser, email, "wrong password")).status_code == 401
        assert (await sign_in(browser, email, "wrong password")).status_code == 429
        after = await scrape(browser)
    failures = "keyturn_sign_in_failures_total"
    bad = value(after, failures, reason="bad_credentials")
    assert bad - value(before, failures, reason="bad_credentials") == 10
    throttled = value(after, failures, reason="throttled")
    assert throttled - value(before, failures, reason="throttled") == 1
    limited = value(after, "keyturn_rate_limited_total", endpoint="/login")
    assert limited - value(before, "keyturn_rate_limited_total", endpoint="/login") == 1
    for outcome in ("delivered", "failed", "dead"):
        assert ("keyturn_webhook_deliveries_total", frozenset({("outcome", outcome)})) in after


async def test_the_database_pool_is_measured(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        samples = await scrape(http)
    size = value(samples, "keyturn_db_pool_size")
    assert size >= 1
    assert 0 <= value(samples, "keyturn_db_pool_in_use") <= size


async def test_several_workers_report_one_sum_and_each_process(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'workers.db'}"
    before_folders = set(_metric_folders())
    with running_server(database, tmp_path / "data", workers=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            name = "keyturn_http_request_duration_seconds_count"
            healthz = {"endpoint": "/healthz", "method": "GET", "status": "200"}
            start = value(await scrape(http), name, **healthz)  # the test kit's probes
            for _ in range(20):
                assert (await http.get("/healthz")).status_code == 200
            # Whichever worker answers, the scrape is the sum over both.
            scrapes = [await scrape(http) for _ in range(6)]
            assert {value(s, name, **healthz) for s in scrapes} == {start + 20}
            pids = {
                dict(labels)["pid"]
                for s in scrapes
                for (n, labels) in s
                if n == "process_resident_memory_bytes"
            }
            assert len(pids) == 2
            # Both pools, once the second worker has started too: the server answers as
            # soon as one worker is up, and on a busy machine the other follows later.
            deadline = time.monotonic() + 15
            while total(await scrape(http), "keyturn_db_pool_size") < 2:
                assert time.monotonic() < deadline, "the second worker's pool never appeared"
                await asyncio.sleep(0.1)
        server.stop()
    # Nothing left behind: not in the data directory, not in the temporary folder.
    assert not list((tmp_path / "data").glob("metrics-*"))
    assert set(_metric_folders()) == before_folders


def _metric_folders() -> list[str]:
    return [
        name for name in os.listdir(tempfile.gettempdir()) if name.startswith("keyturn-metrics-")
    ]

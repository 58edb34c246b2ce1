"""Prometheus metrics: what an operator alerts on.

Request latency by endpoint, method and status; token requests by grant type
and outcome; invalid_grant by reason; rate-limit rejections; sign-in failures;
security events by kind; webhook deliveries by outcome; the database pool.

With several workers, uvicorn runs separate processes; `keyturn serve` then
points PROMETHEUS_MULTIPROC_DIR at a private temporary folder, every worker
writes its series there, and `/metrics` reports the sum over all of them
whichever worker answers the scrape, plus each live worker's `process_*`
series labelled with its pid.

The hot path pays one dictionary lookup and one observation per request:
children are bound once per label set, since `labels()` takes a lock and
builds a key on every call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from keyturn.http.asgi import Request, Response
from keyturn.oauth.context import Context
from keyturn.oauth.policy import KNOWN_GRANT_TYPES
from keyturn.store.records import EventKind

# From a millisecond (a refresh on a warm server) to a request that timed out.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = Histogram(
    "keyturn_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route, method and status.",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
TOKEN_REQUESTS = Counter(
    "keyturn_token_requests",
    "Requests to the token endpoint by grant type and outcome (ok, or the OAuth error code).",
    ["grant_type", "outcome"],
)
INVALID_GRANTS = Counter(
    "keyturn_invalid_grant",
    "invalid_grant answers by machine-readable reason (reuse_detected is a theft signal).",
    ["reason"],
)
RATE_LIMITED = Counter(
    "keyturn_rate_limited", "Requests answered 429 Too Many Requests, by route.", ["endpoint"]
)
SIGN_IN_FAILURES = Counter(
    "keyturn_sign_in_failures",
    "Failed sign-ins: bad_credentials (wrong email or password), bad_code (a wrong or"
    " reused two-step code) or throttled.",
    ["reason"],
)
SECURITY_EVENTS = Counter("keyturn_security_events", "Security events recorded, by kind.", ["kind"])
WEBHOOK_DELIVERIES = Counter(
    "keyturn_webhook_deliveries",
    "Webhook delivery attempts: delivered, failed (to be retried) or dead (given up).",
    ["outcome"],
)
# Several workers: the sum over the live ones, one series per instance.
POOL_SIZE = Gauge("keyturn_db_pool_size", "Database connections open.", multiprocess_mode="livesum")
POOL_IN_USE = Gauge(
    "keyturn_db_pool_in_use", "Database connections in use.", multiprocess_mode="livesum"
)

SIGN_IN_REASONS = ("bad_credentials", "bad_code", "throttled")
WEBHOOK_OUTCOMES = ("delivered", "failed", "dead")
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"})


def start_series(endpoints: Iterable[str]) -> None:
    """Bind the known label values at zero, so the first real increment is a change
    Prometheus' increase() can see (a series born at 1 shows no increase)."""
    for endpoint in endpoints:
        RATE_LIMITED.labels(endpoint)
    for reason in SIGN_IN_REASONS:
        SIGN_IN_FAILURES.labels(reason)
    for outcome in WEBHOOK_OUTCOMES:
        WEBHOOK_DELIVERIES.labels(outcome)
    for kind in EventKind:
        SECURITY_EVENTS.labels(kind.value)


_durations: dict[tuple[str, str, int], Histogram] = {}
_token_request_counters: dict[tuple[str, str], Counter] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """`endpoint` is a route's path or "other": unknown paths never make new series."""
    key = (endpoint, method, status)
    child = _durations.get(key)
    if child is None:
        shown_method = method if method in METHODS else OTHER
        child = _durations[key] = REQUEST_DURATION.labels(endpoint, shown_method, str(status))
    child.observe(seconds)
    if status == 429:
        RATE_LIMITED.labels(endpoint).inc()


def count_token_request(grant_type: str | None, outcome: str, reason: str | None) -> None:
    label = grant_type if grant_type in KNOWN_GRANT_TYPES else OTHER
    counter = _token_request_counters.get((label, outcome))
    if counter is None:
        # Outcomes are OAuth error codes and "ok": a short, closed set.
        counter = _token_request_counters[(label, outcome)] = TOKEN_REQUESTS.labels(label, outcome)
    counter.inc()
    if reason is not None:
        INVALID_GRANTS.labels(reason).inc()


def count_sign_in_failure(reason: str) -> None:
    SIGN_IN_FAILURES.labels(reason).inc()


def count_security_event(kind: str) -> None:
    SECURITY_EVENTS.labels(kind).inc()


def count_webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def observe_pool(ctx: Context) -> None:
    size, in_use = ctx.store.pool_stats()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(in_use)


async def metrics_endpoint(_request: Request, ctx: Context) -> Response:
    observe_pool(ctx)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]  # untyped upstream
        registry.register(WorkerProcesses(folder))
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])


_WORKER_FILE = re.compile(r"_(\d+)\.db$")


class WorkerProcesses(Collector):
    """`process_*` of every live worker, labelled with its pid.

    prometheus_client's multiprocess mode drops them (they describe one process,
    and the files it sums do not). Workers are found by the pids in the metric
    files' names; a dead worker's live gauges are cleared, so a restarted worker
    is not counted twice.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in self._workers():
            collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in collector.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from families.values()

    def _workers(self) -> list[int]:
        pids = set()
        for name in os.listdir(self.folder):
            match = _WORKER_FILE.search(name)
            if match:
                pids.add(int(match.group(1)))
        alive = []
        for pid in sorted(pids):
            if _alive(pid):
                alive.append(pid)
            else:
                mark_process_dead(pid, self.folder)  # type: ignore[no-untyped-call]  # untyped
        return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

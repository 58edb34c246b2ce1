"""Prometheus metrics: token endpoint traffic by grant type and outcome.

With several workers, uvicorn runs separate processes; `keyturn serve` then
points PROMETHEUS_MULTIPROC_DIR at a fresh folder so `/metrics` reports the
sum over all of them, whichever worker answers the scrape.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from keyturn.http.asgi import Request, Response
from keyturn.oauth.context import Context
from keyturn.oauth.policy import KNOWN_GRANT_TYPES

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


# Bound children by label pair: `labels()` takes a lock and builds a key on every call.
_token_request_counters: dict[tuple[str, str], Counter] = {}


def count_token_request(grant_type: str | None, outcome: str, reason: str | None) -> None:
    label = grant_type if grant_type in KNOWN_GRANT_TYPES else "other"
    counter = _token_request_counters.get((label, outcome))
    if counter is None:
        # Outcomes are OAuth error codes and "ok": a short, closed set.
        counter = _token_request_counters[(label, outcome)] = TOKEN_REQUESTS.labels(label, outcome)
    counter.inc()
    if reason is not None:
        INVALID_GRANTS.labels(reason).inc()


async def metrics_endpoint(_request: Request, _ctx: Context) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

"""Optional OpenTelemetry tracing: a span per request, a child span per store call.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the `keyturn[otel]` extra is
installed; spans then go over OTLP/HTTP, configured by the standard `OTEL_*`
variables (service name, headers, sampler). Off, nothing is imported and the
request path tests one attribute for None: tracing costs nothing.

A caller's W3C `traceparent` is honoured, so a request joins the trace of the
application that made it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from keyturn.store.base import Store

log = logging.getLogger("keyturn.tracing")


class Tracing:
    """A tracer and what must be flushed when the process stops."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.propagate import extract

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("keyturn")
        self._extract = extract

    @contextmanager
    def request_span(self, scope: Mapping[str, Any], route: str) -> Iterator[Span]:
        from opentelemetry.trace import SpanKind

        carrier = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        method = scope["method"]
        with self.tracer.start_as_current_span(
            f"{method} {route}",
            context=self._extract(carrier),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "url.path": scope["path"],
                "network.protocol.version": scope.get("http_version", "1.1"),
            },
        ) as span:
            yield span

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracing_from_environment() -> Tracing | None:
    """Tracing over OTLP if the environment asks for it and the extra is installed."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the keyturn[otel] extra is not installed; "
            "tracing is off"
        )
        return None
    # OTEL_SERVICE_NAME, or a service.name in OTEL_RESOURCE_ATTRIBUTES, wins over this.
    named = "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": "keyturn"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider)


class TracedStore:
    """A store whose every coroutine method runs in a client span named after it.

    Wraps the real store only when tracing is on, so the untraced path has no
    indirection at all.
    """

    def __init__(self, store: Store, tracer: Tracer, system: str) -> None:
        self._store = store
        self._tracer = tracer
        self._system = system

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute
        import inspect

        if not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapped = self._traced(name, attribute)
        setattr(self, name, wrapped)  # wrap once per method
        return wrapped

    def _traced(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        from opentelemetry.trace import SpanKind

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            with self._tracer.start_as_current_span(
                f"store.{name}",
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": self._system, "db.operation.name": name},
            ):
                return await method(*args, **kwargs)

        return call

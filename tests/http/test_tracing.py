"""OpenTelemetry: a span per request with the store calls as children, over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from keyturn.config import Secret, Settings
from keyturn.http.app import KeyturnApp
from keyturn.runtime import open_context
from keyturn.store import open_store
from keyturn.tracing import Tracing
from tests.support import SECRET_KEY, free_port, running_server

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def traced_server(tmp_path: Path) -> Iterator[tuple[str, InMemorySpanExporter]]:
    """keyturn in this process under uvicorn on a loopback port, spans kept in memory."""
    settings = Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY))

    async def prepare() -> None:  # what `keyturn serve` does before it starts workers
        store = await open_store(settings.database_url, listen=False)
        await store.migrate()
        await open_context(settings, store=store)
        await store.close()

    asyncio.run(prepare())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = KeyturnApp(settings, tracing=Tracing(provider))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", exporter
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [span for span in spans if span.name == name]
    return span


def test_a_request_is_a_span_with_its_store_call_as_a_child(
    traced_server: tuple[str, InMemorySpanExporter],
) -> None:
    base_url, exporter = traced_server
    exporter.clear()
    answer = httpx.get(f"{base_url}/readyz", headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    request = by_name(spans, "GET /readyz")
    ping = by_name(spans, "store.ping")
    assert request.attributes is not None and ping.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["http.route"] == "/readyz"
    assert ping.parent is not None and request.context is not None
    assert ping.parent.span_id == request.context.span_id
    assert ping.attributes["db.system.name"] == "sqlite"
    # The caller's trace continues here.
    assert format(request.context.trace_id, "032x") == CALLER_TRACE


def test_an_unknown_path_is_one_route_and_a_failure_still_a_span(
    traced_server: tuple[str, InMemorySpanExporter],
) -> None:
    base_url, exporter = traced_server
    exporter.clear()
    assert httpx.get(f"{base_url}/no/such/thing").status_code == 404
    refused = httpx.post(f"{base_url}/oauth/token", data={"grant_type": "refresh_token"})
    assert refused.status_code == 401
    spans = exporter.get_finished_spans()
    assert by_name(spans, "GET other").attributes == {
        "http.request.method": "GET",
        "http.route": "other",
        "url.path": "/no/such/thing",
        "network.protocol.version": "1.1",
        "http.response.status_code": 404,
    }
    token = by_name(spans, "POST /oauth/token")
    assert token.attributes is not None
    assert token.attributes["http.response.status_code"] == 401


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each export request it is sent."""

    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_serve_exports_over_otlp_when_the_endpoint_is_set(tmp_path: Path) -> None:
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        with running_server(
            f"sqlite:///{tmp_path / 'k.db'}",
            tmp_path / "data",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as server:
            assert httpx.get(f"{server.base_url}/readyz").status_code == 200
            deadline = time.monotonic() + 15
            names: dict[str, tuple[bytes, bytes]] = {}
            service = set()
            while "GET /readyz" not in names and time.monotonic() < deadline:
                time.sleep(0.2)
                for export in list(_Collector.received):
                    for resource_spans in export.resource_spans:
                        for attribute in resource_spans.resource.attributes:
                            if attribute.key == "service.name":
                                service.add(attribute.value.string_value)
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                names[span.name] = (span.span_id, span.parent_span_id)
    finally:
        collector.shutdown()
        collector.server_close()
    assert "GET /readyz" in names and "store.ping" in names
    assert names["store.ping"][1] == names["GET /readyz"][0]
    assert service == {"keyturn"}


def test_tracing_off_imports_nothing_of_opentelemetry() -> None:
    script = (
        "import sys, keyturn.http.app, keyturn.tracing as t; "
        "assert t.tracing_from_environment() is None; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"

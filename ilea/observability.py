"""Metrics and tracing, switched on by settings.

- Worker: Temporal SDK metrics (workflow/activity task latencies, schedule-to-start,
  sticky cache, …) on a Prometheus endpoint when ``ILEA_WORKER_METRICS_PORT`` is set.
- API: ``/metrics`` (Prometheus text) with request counts and latencies per route, on
  ``ILEA_API_METRICS_PORT`` (a port of its own, so whatever routes the API never exposes it).
- Both listen on ``ILEA_METRICS_HOST`` (127.0.0.1 unless a scraper elsewhere needs more).
- Tracing: OpenTelemetry through Temporal's ``TracingInterceptor`` when
  ``ILEA_OTEL_ENABLED`` is true, exported over OTLP/HTTP to the endpoint named by the
  standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` variable.
"""

from __future__ import annotations

import time
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from ilea.settings import Settings


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics for Prometheus, or None (the default runtime)."""
    if settings.worker_metrics_port is None:
        return None
    bind = f"{settings.metrics_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


def tracing_interceptors(settings: Settings, exporter: Any = None) -> list[Interceptor]:
    """Temporal's OpenTelemetry interceptor when tracing is on (client and worker both use it)."""
    if not settings.otel_enabled:
        return []
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [TracingInterceptor(tracer=provider.get_tracer("ilea"))]


class HttpMetrics:
    """Request count and latency per route template (never per raw path: ids stay out)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ilea_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "ilea_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


def serve_metrics(metrics: HttpMetrics, settings: Settings) -> WSGIServer:
    """Serve ``metrics`` at ``/metrics`` on ILEA_METRICS_HOST:ILEA_API_METRICS_PORT (a thread)."""
    assert settings.api_metrics_port is not None
    server, _ = start_http_server(settings.api_metrics_port, settings.metrics_host, metrics.registry)
    return server


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)

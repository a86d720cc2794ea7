"""Metrics and tracing: the API's /metrics, the worker's Temporal SDK metrics, OTel spans."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ilea.devstack import free_port
from ilea.domain import Agency, Role
from ilea.observability import tracing_interceptors, worker_runtime
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.support import fields, running_worker, start_proposal


async def test_api_metrics_count_requests_by_route(pool: asyncpg.Pool, dev_env: WorkflowEnvironment) -> None:
    from api.app import create_app

    port = free_port()
    settings = Settings(env="test", api_metrics_port=port)  # type: ignore[call-arg]
    app = create_app(settings, pool=pool, temporal=dev_env.client)
    token = issue_token(settings, sub="m", agency=Agency.STATE, roles=[Role.auditor])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for _ in range(3):
            assert (await c.get("/v1/proposals/nope", headers={"Authorization": f"Bearer {token}"})).status_code == 404
        # Not on the API's own port, whatever routes it; on the metrics port, loopback only.
        assert (await c.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as h:
            body = (await h.get(f"http://127.0.0.1:{port}/metrics")).text
    line = next(x for x in body.splitlines() if x.startswith("ilea_http_requests_total{") and "404" in x)
    assert 'route="/v1/proposals/{proposal_id}"' in line and line.endswith(" 3.0")
    assert "nope" not in body  # raw ids never become labels


async def test_worker_exports_temporal_sdk_metrics(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    port = free_port()
    runtime = worker_runtime(Settings(worker_metrics_port=port, metrics_host="127.0.0.1"))  # type: ignore[call-arg]
    assert runtime is not None
    client = await Client.connect(
        dev_env.client.service_client.config.target_host, runtime=runtime, data_converter=pydantic_data_converter
    )
    async with running_worker(client, pool, task_queue):
        await start_proposal(client, task_queue, fields())
        async with httpx.AsyncClient() as h:
            text = (await h.get(f"http://127.0.0.1:{port}/metrics")).text
    assert "temporal_workflow_task_execution_latency" in text or "temporal_request" in text, text[:500]


async def test_tracing_records_temporal_spans(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    exporter = InMemorySpanExporter()
    interceptors = tracing_interceptors(Settings(otel_enabled=True), exporter=exporter)  # type: ignore[call-arg]
    assert interceptors
    assert tracing_interceptors(Settings()) == []  # off by default  # type: ignore[call-arg]
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        interceptors=interceptors,
        data_converter=pydantic_data_converter,
    )
    tq = f"tq-{uuid.uuid4()}"
    async with running_worker(client, pool, tq):
        await start_proposal(client, tq, fields())
    names = {s.name for s in exporter.get_finished_spans()}
    assert "StartWorkflow:ProposalWorkflow" in names and "RunWorkflow:ProposalWorkflow" in names, names

"""The Temporal client, made the same way for the API, the worker, the CLI and tests."""

from __future__ import annotations

import socket

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from ilea.observability import tracing_interceptors
from ilea.settings import Settings


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client with the pydantic data converter; TLS/API key for Temporal Cloud when set."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls,
        data_converter=pydantic_data_converter,
        interceptors=tracing_interceptors(settings),
        runtime=runtime,
    )


def worker_identity(settings: Settings) -> str | None:
    """``<ILEA_WORKER_NAME>@<hostname>`` when the worker is named, else None (the SDK's
    ``<pid>@<hostname>``). deploy/worker_probe.py computes the same from the same settings."""
    return f"{settings.worker_name}@{socket.gethostname()}" if settings.worker_name else None

"""Fixtures for the observability tests: the web fixtures (an app around a Gatekeeper, tokens per
role) for the metrics tests, and ``spans``, an OpenTelemetry SDK tracer provider whose finished
spans are kept in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.conftest import client, shipped_policies, web_gk

__all__ = ["client", "shipped_policies", "spans", "web_gk"]


@pytest.fixture
def spans() -> Iterator[object]:
    """The in-memory exporter of a tracer provider set for the test (set it up before ``instrument``)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = trace._TRACER_PROVIDER  # the API sets its provider once per process; tests put it back
    trace._TRACER_PROVIDER = provider
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER = saved

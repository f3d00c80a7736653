"""Prometheus metrics of a node: ``GET /metrics`` on every name node and data node.

Each app owns a registry (not the process-wide default: tests build several apps in one process).
Requests are counted and timed per operation in one place, the WSGI entry (``RequestMetrics``);
what a node knows about itself (blocks, capacity, healing…) is read when scraped, by a collector
the node registers, so a quiet node does no metrics work. Names follow Prometheus conventions:
``dfs_`` prefix, base units (seconds, bytes), ``_total`` for counters. README "Metrics" lists them.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               disable_created_metrics, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from werkzeug.wrappers import Request, Response

disable_created_metrics()  # no ``*_created`` series: half the lines, nothing a dashboard uses

# Latency buckets from 0.5 ms (a cached GETFILESTATUS) to 60 s (a 256 MiB block through a pipeline).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RequestMetrics:
    """Per-operation request counts, latencies and body bytes of one node, plus its collectors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["node", "op"]
        self.requests = Counter("dfs_requests", "HTTP requests answered, by operation and status code",
                                [*labels, "method", "code"], registry=self.registry)
        self.latency = Histogram("dfs_request_duration_seconds",
                                 "Time to answer a request (to its first byte for streamed bodies)",
                                 labels, buckets=BUCKETS, registry=self.registry)
        self.received = Counter("dfs_received_bytes", "Request body bytes received (bodies of known length)",
                                labels, registry=self.registry)
        self.sent = Counter("dfs_sent_bytes", "Response body bytes sent (bodies of known length)",
                            labels, registry=self.registry)

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def measure(self, op: str, request: Request, handle: Callable[[], Response]) -> Response:
        """Run ``handle`` and record the request under ``op`` (a bounded set of names)."""
        started = time.perf_counter()
        response = handle()
        elapsed = time.perf_counter() - started
        self.requests.labels(self.kind, op, request.method, str(response.status_code)).inc()
        self.latency.labels(self.kind, op).observe(elapsed)
        if request.content_length:
            self.received.labels(self.kind, op).inc(request.content_length)
        if response.content_length:
            self.sent.labels(self.kind, op).inc(response.content_length)
        return response

    def respond(self) -> Response:
        return Response(generate_latest(self.registry), status=200, content_type=CONTENT_TYPE_LATEST)


class StateCollector(Collector):
    """Metrics read from a node's state at scrape time: ``read()`` answers (name, help, kind,
    value or {labels tuple: value}, label names) rows, kind ``gauge`` or ``counter``."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, str, Any, tuple[str, ...]]]]) -> None:
        self.read = read

    def describe(self) -> list[Any]:
        return []  # computed at scrape time: nothing to check at registration

    def collect(self) -> Iterable[Any]:
        for name, text, kind, value, label_names in self.read():
            family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            if isinstance(value, dict):
                family = family_class(name, text, labels=list(label_names))
                for labels, number in value.items():
                    family.add_metric(list(labels), number)
            else:
                family = family_class(name, text, value=value)
            yield family

"""Prometheus metrics of the inference process (``GET /metrics``), in a registry of its own.

Labels are endpoint slugs, routes, status codes and refusal reasons: all bounded sets.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, engine=None, in_flight=None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "slm_requests",
            "Requests answered or refused, by endpoint, route and HTTP status.",
            ["endpoint", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slm_request_latency_seconds",
            "Time from the request to the last byte of its answer.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "slm_tokens",
            "Tokens read and written, by endpoint.",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.refused = Counter(
            "slm_refused_requests",
            "Requests refused before reaching an endpoint's model, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.logs_dropped = Counter(
            "slm_request_logs_dropped",
            "Request log rows dropped (queue full or write failed).",
            registry=self.registry,
        )
        self.shadows_skipped = Counter(
            "slm_shadow_requests_skipped", "Shadow requests skipped because the shadow queue was full.",
            registry=self.registry,
        )  # fmt: skip
        self.version_switches = Gauge(
            "slm_version_switches",
            "Production-version switches seen by this process.",
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(_EngineCollector(engine, in_flight))


class _EngineCollector:
    """Queue and batch figures read from the engine at scrape time."""

    def __init__(self, engine, in_flight):
        self.engine = engine
        self.in_flight = in_flight

    def describe(self):
        return []

    def collect(self):
        health = self.engine.health()
        yield GaugeMetricFamily(
            "slm_engine_queued", "Requests waiting for a row in the batch.", value=health.queued
        )
        yield GaugeMetricFamily("slm_engine_active", "Requests in the running batch.", value=health.active)
        yield GaugeMetricFamily(
            "slm_engine_ready", "1 while the engine takes requests.", value=int(health.ready)
        )
        yield GaugeMetricFamily("slm_loaded_versions", "Model versions loaded.", value=len(health.adapters))
        if self.in_flight is not None:
            yield GaugeMetricFamily(
                "slm_in_flight_requests",
                "Requests being answered by this process.",
                value=self.in_flight.count,
            )

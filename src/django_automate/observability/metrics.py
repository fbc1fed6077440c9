"""Prometheus metrics (the ``prometheus`` extra); every function is a no-op without ``prometheus-client``.

Two kinds of metrics, so that the numbers are right however many processes there are:

- **Database-derived** (outbox depth and age, events, runs and steps by status, workers,
  budget blocks) are computed from the database at scrape time by
  :class:`~django_automate.observability.collectors.DatabaseCollector`: whichever process
  answers the scrape gives the same, true value.
- **In-process** counters and histograms (webhook requests by outcome, step durations by
  connector) live in the process that observed them. With several processes (gunicorn
  workers, ``automate worker`` processes) set ``PROMETHEUS_MULTIPROC_DIR`` for all of them
  and prometheus-client's multiprocess mode sums them at scrape time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

try:  # the ``prometheus`` extra
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import choose_encoder
except ImportError:  # pragma: no cover - exercised by the no-extras test in a subprocess
    prometheus_client = None  # type: ignore[assignment]

#: Buckets of ``automate_step_duration_seconds`` (connector calls take milliseconds to minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_lock = threading.Lock()
_metrics: _ProcessMetrics | None = None


def available() -> bool:
    """Whether ``prometheus-client`` is importable (metrics are recorded and served only then)."""
    return prometheus_client is not None


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when prometheus-client's multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


class _ProcessMetrics:
    """The in-process metrics, in a registry of their own (the project's default registry is left alone)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhook_requests = Counter(
            "automate_webhook_requests",
            "Webhook deliveries by endpoint and outcome (accepted, duplicate, or the error code).",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.step_duration = Histogram(
            "automate_step_duration_seconds",
            "Duration of step attempts (connector calls) by connector and outcome.",
            ["connector", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "automate_rate_limited",
            "Step attempts held back by a step rate_limit (delayed, not failed), by connector.",
            ["connector"],
            registry=self.registry,
        )
        self.rate_limit_delay = Counter(
            "automate_rate_limit_delay_seconds",
            "Seconds step attempts were delayed by a step rate_limit (the reschedules' waits), by connector.",
            ["connector"],
            registry=self.registry,
        )
        self.slot_wait = Histogram(
            "automate_concurrency_slot_wait_seconds",
            "Time from a run's creation to its concurrency slot (runs of workflows with a concurrency key).",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )


def _get() -> _ProcessMetrics | None:
    global _metrics
    if prometheus_client is None:
        return None
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _ProcessMetrics()
    return _metrics


def webhook_request(endpoint: str, outcome: str) -> None:
    """Count one webhook delivery; ``outcome`` is ``accepted``, ``duplicate`` or an error code."""
    metrics = _get()
    if metrics is not None:
        metrics.webhook_requests.labels(endpoint=endpoint, outcome=outcome).inc()


def step_attempt(connector: str, outcome: str, seconds: float) -> None:
    """Observe one connector call: ``outcome`` is ``succeeded``, ``retryable_error``, ``permanent_error`` …"""
    metrics = _get()
    if metrics is not None:
        metrics.step_duration.labels(connector=connector, outcome=outcome).observe(max(seconds, 0.0))


def rate_limited(connector: str, seconds: float) -> None:
    """Count one step attempt held back by its ``rate_limit`` for ``seconds`` (its job is rescheduled)."""
    metrics = _get()
    if metrics is not None:
        metrics.rate_limited.labels(connector=connector).inc()
        metrics.rate_limit_delay.labels(connector=connector).inc(max(seconds, 0.0))


def slot_wait(seconds: float) -> None:
    """Observe how long a run waited from its creation to its concurrency slot."""
    metrics = _get()
    if metrics is not None:
        metrics.slot_wait.observe(max(seconds, 0.0))


class _Forward:
    """Exposes another registry's metrics inside the scrape registry."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Any:
        return self._registry.collect()


def scrape_registry(*, using: str | None = None) -> Any:
    """A registry holding everything one scrape shows: process (or multiprocess) metrics and database gauges."""
    from django_automate.observability.collectors import DatabaseCollector

    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        metrics = _get()
        assert metrics is not None
        registry.register(_Forward(metrics.registry))
    registry.register(DatabaseCollector(using=using))
    return registry


def render(accept: str = "", *, using: str | None = None) -> tuple[bytes, str]:
    """The scrape body and its content type (Prometheus text, or OpenMetrics when ``accept`` asks for it)."""
    if prometheus_client is None:
        from django_automate import exceptions

        raise exceptions.ImproperlyConfigured(
            "Metrics need the prometheus extra: pip install django-automate[prometheus]."
        )
    encoder, content_type = choose_encoder(accept)
    return encoder(scrape_registry(using=using)), content_type

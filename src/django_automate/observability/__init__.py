"""Observability: OpenTelemetry spans, Prometheus metrics and health checks (docs/observability.md).

Everything here works without the ``otel`` and ``prometheus`` extras: spans and metrics
then do nothing, and ``metrics/`` answers that the extra is missing.
"""

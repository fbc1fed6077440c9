"""Connectors: where steps reach external systems (``http``, ``log``, …)."""

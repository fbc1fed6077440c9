"""Workflow definitions: validation, templating and publishing of immutable versions."""

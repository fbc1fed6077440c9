"""Shared field definitions: every row carries a tenant, most carry a trace_id."""

from __future__ import annotations

import uuid

from django.db import models

TENANT_MAX_LENGTH = 64
TRACE_ID_MAX_LENGTH = 36


def tenant_field() -> models.CharField:
    return models.CharField(max_length=TENANT_MAX_LENGTH, default="", blank=True, db_index=True)


def trace_id_field() -> models.CharField:
    return models.CharField(max_length=TRACE_ID_MAX_LENGTH, db_index=True)


def uuid_pk() -> models.UUIDField:
    return models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

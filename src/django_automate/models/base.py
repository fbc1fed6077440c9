"""Shared field definitions: every row carries a tenant, most carry a trace_id."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

TENANT_MAX_LENGTH = 64
TRACE_ID_MAX_LENGTH = 36


def tenant_field() -> models.CharField:
    return models.CharField(max_length=TENANT_MAX_LENGTH, default="", blank=True, db_index=True)


def trace_id_field() -> models.CharField:
    return models.CharField(max_length=TRACE_ID_MAX_LENGTH, db_index=True)


def uuid_pk() -> models.UUIDField:
    return models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class JSONField(models.JSONField):
    """A JSONField that can hold documents nested up to our 64-level limit on every backend.

    MariaDB's ``JSON`` type is LONGTEXT plus an implicit ``CHECK (JSON_VALID(...))``, and its
    JSON_VALID rejects documents nested deeper than 32 levels. Values are validated (and
    depth-limited) by the application before they are written, so on MariaDB the column is
    plain LONGTEXT; every other backend keeps its native JSON type.
    """

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False):
            return "longtext"
        return super().db_type(connection)

"""Secrets kept encrypted in the database: create or replace, delete, re-encrypt with the newest key.

The API, the admin and ``manage.py automate rotate-keys`` call these, so every path writes
the same audit entries and never stores or returns a plaintext value.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from django_automate import conf, exceptions
from django_automate.audit import log as audit
from django_automate.models import Secret
from django_automate.models.base import TENANT_MAX_LENGTH
from django_automate.secrets import crypto
from django_automate.secrets.refs import NAME_RE
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

MAX_VALUE_BYTES = 64 * 1024
DESCRIPTION_MAX_LENGTH = 255


def _validate(name: str, value: str, tenant: str, description: str) -> None:
    errors = []
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.append({"field": "name", "message": "Use 1-200 characters from A-Z a-z 0-9 _ . / -."})
    if not isinstance(value, str) or not value:
        errors.append({"field": "value", "message": "The value must be a non-empty string."})
    elif len(value.encode()) > MAX_VALUE_BYTES:
        errors.append({"field": "value", "message": f"The value must be at most {MAX_VALUE_BYTES} bytes."})
    if not isinstance(tenant, str) or len(tenant) > TENANT_MAX_LENGTH:
        errors.append({"field": "tenant", "message": f"At most {TENANT_MAX_LENGTH} characters."})
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX_LENGTH:
        errors.append({"field": "description", "message": f"At most {DESCRIPTION_MAX_LENGTH} characters."})
    if errors:
        # Never echo the value: only which field is wrong and why.
        raise exceptions.ValidationError(f"Invalid secret: {errors[0]['field']}.", details={"errors": errors})


def put_secret(*, name: str, value: str, tenant: str = "", description: str = "", actor: str = "") -> Secret:
    """Create secret ``name`` of ``tenant`` or replace its value; audited as ``secret.created`` / ``secret.updated``."""
    _validate(name, value, tenant, description)
    ciphertext = crypto.encrypt(value)
    for attempt in range(3):
        try:
            with transaction.atomic():
                secret = Secret.objects.select_for_update().filter(tenant=tenant, name=name).first()
                created = secret is None
                if secret is None:
                    secret = Secret.objects.create(
                        tenant=tenant, name=name, ciphertext=ciphertext, description=description
                    )
                else:
                    secret.ciphertext, secret.description = ciphertext, description
                    secret.save(update_fields=["ciphertext", "description", "updated_at"])
                audit.record(
                    "secret.created" if created else "secret.updated",
                    actor=actor or "system",
                    object_type="secret",
                    object_id=str(secret.pk),
                    tenant=tenant,
                    data={"name": name, "description": description},
                )
            return secret
        except IntegrityError:
            if attempt == 2:  # created concurrently, three times in a row: give up loudly
                raise exceptions.Conflict(
                    f"Secret {name!r} is being written concurrently; try again.", details={"name": name}
                ) from None
    raise AssertionError("unreachable")


def delete_secret(secret: Secret, *, actor: str = "") -> None:
    """Delete a stored secret; audited as ``secret.deleted``. References to it fail with ``secret_not_found``."""
    with transaction.atomic():
        deleted, _ = Secret.objects.filter(pk=secret.pk).delete()
        if not deleted:
            raise exceptions.ResourceNotFound(f"Secret {secret.name!r} does not exist.", details={"name": secret.name})
        audit.record(
            "secret.deleted",
            actor=actor or "system",
            object_type="secret",
            object_id=str(secret.pk),
            tenant=secret.tenant,
            data={"name": secret.name},
        )


def rotate_keys(*, batch_size: int = 500, actor: str = "system") -> int:
    """Re-encrypt every stored secret with the first key of ``ENCRYPTION_KEYS``; return how many.

    All or nothing: if any secret cannot be decrypted with the configured keys, nothing is
    changed and :class:`~django_automate.secrets.crypto.SecretDecryptionFailed` is raised.
    Afterwards the other keys can be removed from the settings.
    """
    crypto.multi_fernet()  # fail early, before reading anything, if no valid key is configured
    count = 0
    with transaction.atomic():
        # Read everything first: MySQL cannot run the updates while a result is still streaming.
        rows = list(Secret.objects.select_for_update().order_by("pk").values_list("pk", "name", "ciphertext"))
        pending: list[Secret] = []
        for pk, name, ciphertext in rows:
            pending.append(Secret(pk=pk, ciphertext=crypto.reencrypt(ciphertext, name=name)))
            if len(pending) >= batch_size:
                count += Secret.objects.bulk_update(pending, ["ciphertext"])
                pending = []
        if pending:
            count += Secret.objects.bulk_update(pending, ["ciphertext"])
        audit.record(
            "secret.rotated",
            actor=actor,
            object_type="secret",
            data={"count": count, "fingerprint": crypto.fingerprint(conf.encryption_keys()[0])},
        )
    logger.info("Re-encrypted %s secrets with the first key", count, extra=log_extra("secrets_rotated"))
    return count

"""API tokens: created with a random secret, shown once, stored only as prefix + sha256.

A token reads ``atk_<prefix>_<secret>``: the 12-character ``prefix`` finds the row, the
sha256 of the whole token is compared in constant time. Neither the token nor the secret
is ever stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.audit import log as audit
from django_automate.models import ApiToken
from django_automate.models.base import TENANT_MAX_LENGTH
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

PREFIX_LENGTH = 12
TOKEN_RE = re.compile(rf"^atk_([0-9a-f]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
# last_used_at is refreshed at most this often, so reads do not turn into a write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: ``plaintext`` exists only here, once."""

    token: ApiToken
    plaintext: str


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(user: Any, *, name: str = "", tenant: str = "", actor: str = "system") -> NewToken:
    """Create a token acting as ``user`` within ``tenant``; the plaintext is returned, never stored."""
    if len(name) > 100:
        raise exceptions.ValidationError("Token names are at most 100 characters.", details={"name": name[:100]})
    if len(tenant) > TENANT_MAX_LENGTH:
        raise exceptions.ValidationError(f"Tenants are at most {TENANT_MAX_LENGTH} characters.")
    for _ in range(5):
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        plaintext = f"atk_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user, name=name, tenant=tenant, prefix=prefix, key_hash=hash_token(plaintext)
                )
                audit.record(
                    "api_token.created",
                    actor=actor,
                    object_type="api_token",
                    object_id=str(token.pk),
                    tenant=tenant,
                    data={"prefix": prefix, "name": name, "user": user.get_username()},
                )
        except IntegrityError:
            continue  # prefix collision: draw again
        logger.info("API token %s created", prefix, extra=log_extra("api_token_created", token_id=token.pk))
        return NewToken(token, plaintext)
    raise exceptions.Conflict("Could not allocate a unique token prefix.")


def revoke_token(token: ApiToken, *, actor: str = "system") -> ApiToken:
    """Revoke ``token``; revoking a revoked token changes nothing."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            audit.record(
                "api_token.revoked",
                actor=actor,
                object_type="api_token",
                object_id=str(token.pk),
                tenant=token.tenant,
                data={"prefix": token.prefix},
            )
    token.refresh_from_db()
    return token


def verify_token(plaintext: str) -> ApiToken:
    """The active token for ``plaintext``; raises NotAuthenticated for anything else."""
    match = TOKEN_RE.match(plaintext)
    if match is None:
        raise exceptions.NotAuthenticated("The API token is malformed.")
    token = ApiToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    # Compare even when no row matched, so timing does not reveal which prefixes exist.
    expected = token.key_hash if token is not None else "0" * 64
    if not hmac.compare_digest(expected, hash_token(plaintext)) or token is None:
        raise exceptions.NotAuthenticated("The API token is not valid.")
    if token.revoked_at is not None:
        raise exceptions.NotAuthenticated("The API token has been revoked.")
    if not token.user.is_active:
        raise exceptions.NotAuthenticated("The API token's user is inactive.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token

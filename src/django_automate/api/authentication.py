"""Who is calling and for which tenant: bearer tokens first, then the Django session."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request

from django_automate import conf, exceptions
from django_automate.api import throttling, tokens
from django_automate.models import ApiToken
from django_automate.models.base import TENANT_MAX_LENGTH

REALM = "automate"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer atk_…``: a token created by ``manage.py automate token create``.

    Listed first, so unauthenticated requests answer 401 with ``WWW-Authenticate: Bearer``.
    Failed attempts count against the client's ``API_THROTTLE_RATE`` (see :mod:`..throttling`):
    DRF would only throttle after authentication succeeded.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword:
            return None
        throttling.check_not_blocked(request)
        value = value.strip()
        if not value:
            throttling.record_failure(request)
            raise drf_exceptions.AuthenticationFailed("The Authorization header has no token.")
        try:
            token = tokens.verify_token(value)
        except exceptions.NotAuthenticated as exc:
            throttling.record_failure(request)
            # DRF's request only marks itself unauthenticated for its own exception types.
            raise drf_exceptions.AuthenticationFailed(exc.message) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's session (the admin login), with DRF's CSRF check on unsafe methods."""


def request_tenant(request: Request) -> str:
    """The caller's tenant: the token's, or ``AUTOMATE["TENANT_RESOLVER"](request)`` for sessions."""
    cached = getattr(request, "_automate_tenant", None)
    if cached is not None:
        return str(cached)
    if isinstance(request.auth, ApiToken):
        tenant = request.auth.tenant
    else:
        resolver = conf.tenant_resolver()
        tenant = resolver(request) if resolver is not None else ""
        if tenant is None:
            tenant = ""
        if not isinstance(tenant, str) or len(tenant) > TENANT_MAX_LENGTH:
            raise exceptions.ImproperlyConfigured(
                f"AUTOMATE['TENANT_RESOLVER'] must return a string of at most {TENANT_MAX_LENGTH} characters."
            )
    request._automate_tenant = tenant  # type: ignore[attr-defined]
    return tenant


def actor(request: Request) -> str:
    """How audit entries name the caller: ``<username>`` or ``<username> (token <prefix>)``."""
    username = request.user.get_username() if request.user and request.user.is_authenticated else "anonymous"
    if isinstance(request.auth, ApiToken):
        return f"{username} (token {request.auth.prefix})"[:150]
    return username[:150]

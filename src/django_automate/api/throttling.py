"""Throttling of failed authentication: bad tokens and anonymous calls count against the client's IP.

DRF checks throttles after authentication and permissions (``APIView.initial``), so a request
with a wrong token (401 from authentication) or none at all (401 from the permission check)
never reaches the view's throttles: guessing tokens would never be slowed down. These
failures are counted here instead, per client IP at ``AUTOMATE["API_AUTH_FAILURE_RATE"]`` (on by
default: 30 a minute), and
once a client is over the rate its next attempts answer 429 ``throttled`` without the token
being looked at, so a guess that happens to be right tells the caller nothing.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions as drf_exceptions
from rest_framework.throttling import SimpleRateThrottle

from django_automate import conf


class FailedAuthenticationThrottle(SimpleRateThrottle):
    """Failed authentication attempts per client IP (``X-Forwarded-For`` as DRF's ``NUM_PROXIES`` says)."""

    scope = "automate_auth_failure"

    def get_rate(self) -> str | None:
        return conf.api_auth_failure_rate()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request: Any) -> bool:
        """Read this client's recent failures; false when throttling is off."""
        if self.rate is None:
            return False
        limit, window = self.parse_rate(self.rate)
        self.limit: int = limit or 0
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [at for at in self.cache.get(self.key, []) if at > self.now - (window or 0)]
        return True

    def over_limit(self, request: Any) -> bool:
        return self._load(request) and len(self.history) >= self.limit

    def record_failure(self, request: Any) -> None:
        if self._load(request):
            self.throttle_success()  # stores the attempt in the history


def check_not_blocked(request: Any) -> None:
    """Raise 429 when the client has failed authentication too often within the rate's window."""
    throttle = FailedAuthenticationThrottle()
    if throttle.over_limit(request):
        raise drf_exceptions.Throttled(wait=throttle.wait())


def record_failure(request: Any) -> None:
    """Count one failed authentication attempt of the client (it still answers 401; the next ones 429)."""
    throttle = FailedAuthenticationThrottle()
    throttle.record_failure(request)

"""Exception hierarchy: every error users can catch, each with a stable ``code``.

Each class's docstring is its default message. ``status`` is the HTTP status the error
maps to when it crosses an HTTP boundary (API or webhook), where it is rendered as a
:class:`NormalizedError` body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


class AutomateError(Exception):
    """Something went wrong in django-automate."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details: dict[str, Any] = details or {}
        super().__init__(self.message)

    def normalized(self, trace_id: str = "") -> NormalizedError:
        return NormalizedError(code=self.code, message=self.message, details=self.details, trace_id=trace_id)


class ValidationError(AutomateError):
    """The input is not valid."""

    code = "validation_error"
    status = 400


class MalformedPayload(AutomateError):
    """The request body could not be parsed."""

    code = "malformed_payload"
    status = 400


class NotAuthenticated(AutomateError):
    """Authentication credentials were not provided or are invalid."""

    code = "not_authenticated"
    status = 401


class InvalidSignature(AutomateError):
    """The request signature is missing or does not match."""

    code = "invalid_signature"
    status = 401


class SignatureExpired(AutomateError):
    """The request signature timestamp is outside the allowed tolerance."""

    code = "signature_expired"
    status = 401


class PermissionDenied(AutomateError):
    """You do not have permission to perform this action."""

    code = "permission_denied"
    status = 403


class ResourceNotFound(AutomateError):
    """The requested resource does not exist."""

    code = "resource_not_found"
    status = 404


class MethodNotAllowed(AutomateError):
    """The HTTP method is not allowed here."""

    code = "method_not_allowed"
    status = 405


class Conflict(AutomateError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    """The idempotency key was already used with a different request body."""

    code = "idempotency_conflict"


class PayloadTooLarge(AutomateError):
    """The request body is larger than allowed."""

    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(AutomateError):
    """The request content type is not supported."""

    code = "unsupported_media_type"
    status = 415


class Throttled(AutomateError):
    """Too many requests; retry later."""

    code = "throttled"
    status = 429

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class BudgetExceeded(AutomateError):
    """A budget limit was exceeded."""

    code = "budget_exceeded"
    status = 429


class ServiceUnavailable(AutomateError):
    """The database is unavailable for now; retry later."""

    code = "service_unavailable"
    status = 503

    def __init__(self, message: str | None = None, *, retry_after: int = 2, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ImproperlyConfigured(AutomateError):
    """django-automate is not configured correctly."""

    code = "improperly_configured"


class IllegalTransition(AutomateError):
    """The requested state transition is not allowed."""

    code = "conflict"
    status = 409


class LeaseLost(AutomateError):
    """This worker no longer holds the job's lease; its writes were discarded."""

    code = "lease_lost"
    status = 409


@dataclass(frozen=True)
class NormalizedError:
    """The one error shape of every HTTP response under ``/automate/``."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details, "trace_id": self.trace_id}

"""What every API view shares: authentication, permissions, errors, trace id, tenant scoping.

Everything is set on the views themselves, so the project's ``REST_FRAMEWORK`` settings
neither need changing nor change this API's contract.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from django_automate import conf, exceptions
from django_automate.api import authentication, errors
from django_automate.api.parsers import ContentNegotiation, JSONParser
from django_automate.api.permissions import ModelPermissions
from django_automate.api.schema import AutoSchema
from django_automate.tracing import context


class ApiRateThrottle(UserRateThrottle):
    """Per user (or client IP) rate from ``AUTOMATE["API_THROTTLE_RATE"]``; off when it is ``None``."""

    scope = "automate"

    def get_rate(self) -> str | None:
        return conf.api_throttle_rate()


class ApiView(APIView):
    """The base of every API view: a single-purpose endpoint, and (via :class:`TenantViewSet`) each resource."""

    schema = AutoSchema()  # drf-spectacular, without asking projects to set DEFAULT_SCHEMA_CLASS
    authentication_classes = [authentication.BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [ModelPermissions]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    parser_classes = [JSONParser]
    throttle_classes = [ApiRateThrottle]
    content_negotiation_class = ContentNegotiation
    metadata_class = None  # OPTIONS answers 405: the OpenAPI document describes the API
    versioning_class = None
    #: The model whose view/add/change/delete permission a request needs.
    permission_model: ClassVar[type[Model] | None] = None
    #: Permissions by viewset action, replacing the model permission (e.g. ``replay``).
    action_permissions: ClassVar[dict[str, tuple[str, ...]]] = {}

    def get_exception_handler(self) -> Any:
        return errors.exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
        if repeated:  # every parameter takes one value: which one would count is a guess
            raise exceptions.ValidationError(
                f"Query parameter {repeated[0]!r} is given more than once.",
                details={"fields": {name: ["Give this parameter once."] for name in repeated}},
            )

    def _allowed_methods(self) -> list[str]:
        return [m for m in super()._allowed_methods() if m != "OPTIONS"]  # type: ignore[misc]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with context.bind(trace_id=context.trace_id_from_headers(headers)):
            return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            # Errors are NormalizedError JSON whatever the client accepts (a browser's text/html included).
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        response["X-Trace-Id"] = context.current_trace_id()
        return response

    @property
    def tenant(self) -> str:
        return authentication.request_tenant(self.request)

    @property
    def actor(self) -> str:
        return authentication.actor(self.request)


class TenantViewSet(viewsets.GenericViewSet, ApiView):
    """A resource whose rows belong to tenants; other tenants' rows do not exist here (404)."""

    model: ClassVar[type[Model]]
    filter_backends: list[Any] = []
    pagination_class: Any = None
    lookup_value_regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def get_serializer_context(self) -> dict[str, Any]:
        """Serializers resolve names (a rule's workflow slug, unique names) within the caller's tenant."""
        ctx = dict(super().get_serializer_context())
        if getattr(self, "request", None) is not None and self.request.user.is_authenticated:
            ctx["tenant"] = self.tenant
        return ctx

    def get_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.filter(tenant=self.tenant)

    def get_object(self) -> Any:
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        try:
            obj = self.get_queryset().get(**{self.lookup_field: lookup})
        except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError):
            name = str(self.model._meta.verbose_name).capitalize()
            raise exceptions.ResourceNotFound(
                f"{name} {lookup} does not exist.", details={self.lookup_field: lookup}
            ) from None
        self.check_object_permissions(self.request, obj)
        return obj

"""The API root, the OpenAPI document (``schema/``) and a self-contained HTML reference (``docs/``).

The reference page is rendered on the server from the OpenAPI document, with no scripts
and no assets from a CDN, so it works offline; drf-spectacular's Swagger UI and Redoc
views would need the ``drf-spectacular-sidecar`` package or network access. The DRF
browsable API (open any endpoint in a browser) is the interactive counterpart.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.errors import automate_view
from django_automate.api.schema import api_schema, openapi_document
from django_automate.api.views.base import ApiView
from django_automate.workflows.schema import definition_schema

RESOURCES = (
    "events",
    "endpoints",
    "rules",
    "workflows",
    "runs",
    "schedules",
    "secrets",
    "budgets",
    "audit",
    "approvals",
    "tasks",
)
METHODS = ("get", "post", "put", "patch", "delete")
STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.6em;overflow:auto}"
    "section{border-top:1px solid #ddd;padding:.6em 0}.m{display:inline-block;min-width:4.5em;font-weight:bold}"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}"
)


class SchemaJSONRenderer(JSONRenderer):
    """``application/schema+json``, the media type of JSON Schema documents."""

    media_type = "application/schema+json"


class ApiRootView(ApiView):
    """Links to every resource of the API."""

    permission_classes = [AllowAny]

    @api_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {name: request.build_absolute_uri(f"{request.path}{name}/") for name in RESOURCES}
        links["connectors"] = request.build_absolute_uri(f"{request.path}connectors/")
        links["schema"] = request.build_absolute_uri(reverse("automate:api:schema"))
        links["docs"] = request.build_absolute_uri(reverse("automate:api:docs"))
        return Response(links)


class SchemaView(ApiView):
    """The OpenAPI 3 document: JSON, or YAML with ``?format=yaml`` / ``Accept: application/vnd.oai.openapi``."""

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, OpenApiJsonRenderer, OpenApiYamlRenderer]

    @api_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(openapi_document())


class DefinitionSchemaView(ApiView):
    """The JSON Schema (draft 2020-12) of workflow definitions, for editors and clients (docs/workflows.md)."""

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, SchemaJSONRenderer]

    @api_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(definition_schema())


def _schema_html(schema: Any) -> SafeString:
    if isinstance(schema, dict) and set(schema) == {"$ref"}:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return format_html('<a href="#schema-{}"><code>{}</code></a>', name, name)
    return format_html("<code>{}</code>", json.dumps(schema, sort_keys=True))


def _json_schema(item: dict[str, Any]) -> Any:
    return item.get("content", {}).get("application/json", {}).get("schema", {})


def _operation_html(path: str, method: str, operation: dict[str, Any]) -> SafeString:
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (p["name"], p["in"], _schema_html(p.get("schema", {})), p.get("description", ""))
            for p in operation.get("parameters", [])
        ),
    )
    body = _json_schema(operation.get("requestBody", {})) or None
    responses = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (status, r.get("description", ""), _schema_html(_json_schema(r)))
            for status, r in sorted(operation.get("responses", {}).items())
        ),
    )
    return format_html(
        '<section id="{}"><h3><span class="m">{}</span> <code>{}</code></h3><p>{}</p>{}{}'
        "<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{}</table></section>",
        operation.get("operationId", ""),
        method.upper(),
        path,
        operation.get("description", "") or operation.get("summary", ""),
        format_html("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>{}</table>", rows)
        if rows
        else "",
        format_html("<p>Request body: {}</p>", _schema_html(body)) if body else "",
        responses,
    )


@automate_view
def docs_view(request: HttpRequest) -> HttpResponse:
    """Every operation, its parameters, request body and responses, and every schema, as one HTML page."""
    if request.method not in ("GET", "HEAD"):
        raise exceptions.MethodNotAllowed(
            f"Method {request.method} is not allowed here.", details={"allowed": ["GET", "HEAD"]}
        )
    document = openapi_document()
    operations = [
        _operation_html(path, method, item[method])
        for path, item in document.get("paths", {}).items()
        for method in METHODS
        if method in item
    ]
    schemas = format_html_join(
        "",
        '<section id="schema-{}"><h3>{}</h3><pre>{}</pre></section>',
        (
            (name, name, json.dumps(schema, indent=2, sort_keys=True))
            for name, schema in sorted(document.get("components", {}).get("schemas", {}).items())
        ),
    )
    page = format_html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{}</style></head>'
        '<body><h1>{}</h1><p>{}</p><p>Machine-readable: <a href="{}">OpenAPI 3 document</a>.</p>'
        "<h2>Operations</h2>{}<h2>Schemas</h2>{}</body></html>",
        document["info"]["title"],
        mark_safe(STYLE),  # a constant of this module
        document["info"]["title"],
        document["info"].get("description", ""),
        reverse("automate:api:schema"),
        mark_safe("".join(operations)),  # built with format_html above
        schemas,
    )
    return HttpResponse(page, content_type="text/html; charset=utf-8")

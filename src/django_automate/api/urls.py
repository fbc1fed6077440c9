"""``api/v1/`` URLs, included by :mod:`django_automate.urls` under the namespace ``automate:api``."""

from __future__ import annotations

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from django_automate.api.views.approvals import ApprovalDecisionView, ApprovalViewSet
from django_automate.api.views.backfill import BackfillViewSet
from django_automate.api.views.catalog import ConnectorDetailView, ConnectorListView, TraceView
from django_automate.api.views.control import EndpointViewSet, RuleViewSet, ScheduleViewSet
from django_automate.api.views.docs import ApiRootView, DefinitionSchemaView, SchemaView, docs_view
from django_automate.api.views.events import EventViewSet
from django_automate.api.views.governance import AuditViewSet, BudgetViewSet, SecretViewSet
from django_automate.api.views.runs import RunViewSet
from django_automate.api.views.tasks import TaskViewSet
from django_automate.api.views.workflows import WorkflowViewSet

UUID = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

router = SimpleRouter()
router.register("events/replay", BackfillViewSet, basename="backfill")
router.register("events", EventViewSet, basename="event")
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("rules", RuleViewSet, basename="rule")
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("runs", RunViewSet, basename="run")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("secrets", SecretViewSet, basename="secret")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("audit", AuditViewSet, basename="audit")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("schema/workflow-definition.json", DefinitionSchemaView.as_view(), name="workflow-definition-schema"),
    path("docs/", docs_view, name="docs"),
    path("connectors/", ConnectorListView.as_view(), name="connector-list"),
    path("connectors/<str:type>/", ConnectorDetailView.as_view(), name="connector-detail"),
    re_path(rf"^traces/(?P<trace_id>{UUID})/$", TraceView.as_view(), name="trace"),
    re_path(
        rf"^runs/(?P<pk>{UUID})/approvals/(?P<step_id>[a-z][a-z0-9_]{{0,63}})/$",
        ApprovalDecisionView.as_view(),
        name="run-approval-decide",
    ),
    *router.urls,
]

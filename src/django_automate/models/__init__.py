"""All models of the ``automate`` app."""

from __future__ import annotations

from django_automate.models.audit import AuditEntry
from django_automate.models.backfill import Backfill, BackfillStatus
from django_automate.models.dashboard import Dashboard, MetricKind, MetricRollup, RollupMark
from django_automate.models.debounce import Debounce
from django_automate.models.endpoints import SignatureScheme, WebhookEndpoint
from django_automate.models.events import Event, EventStatus
from django_automate.models.flow import RateLimitBucket
from django_automate.models.governance import Budget, BudgetUsage, Secret
from django_automate.models.outbox import JobKind, JobStatus, OutboxJob
from django_automate.models.rules import RuleGeneration, RuleSpec
from django_automate.models.runs import ExecutionRun, RunStatus, StepRun, StepStatus
from django_automate.models.schedules import Schedule, WorkerHeartbeat
from django_automate.models.tasks import TaskResult, TaskStatus
from django_automate.models.tokens import ApiToken
from django_automate.models.waits import Decision, RunWait, WaitKind, WaitRoute
from django_automate.models.workflows import Workflow, WorkflowVersion

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Backfill",
    "BackfillStatus",
    "Budget",
    "BudgetUsage",
    "Dashboard",
    "Debounce",
    "Decision",
    "Event",
    "EventStatus",
    "ExecutionRun",
    "JobKind",
    "JobStatus",
    "MetricKind",
    "MetricRollup",
    "OutboxJob",
    "RateLimitBucket",
    "RollupMark",
    "RuleGeneration",
    "RuleSpec",
    "RunStatus",
    "RunWait",
    "Schedule",
    "Secret",
    "SignatureScheme",
    "StepRun",
    "StepStatus",
    "TaskResult",
    "TaskStatus",
    "WaitKind",
    "WaitRoute",
    "WebhookEndpoint",
    "WorkerHeartbeat",
    "Workflow",
    "WorkflowVersion",
]

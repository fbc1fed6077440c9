"""``approvals/``: the approvals waiting for a decision; ``runs/{id}/approvals/{step_id}/``: decide one.

Deciding needs the permission the step names (``automate.approve_run`` unless it names
another), checked by :func:`django_automate.runs.approvals.decide` like every other path.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.pagination import ApprovalPagination
from django_automate.api.schema import api_schema
from django_automate.api.serializers.approvals import ApprovalSerializer, DecisionSerializer
from django_automate.api.views.base import ApiView, TenantViewSet
from django_automate.models import ExecutionRun, RunWait
from django_automate.runs import approvals


class ApprovalViewSet(TenantViewSet):
    """Approval steps of waiting runs in your tenant, newest first (``automate.view_executionrun``)."""

    model = RunWait
    permission_model = ExecutionRun
    serializer_class = ApprovalSerializer
    pagination_class = ApprovalPagination

    def get_queryset(self) -> Any:
        return approvals.pending(self.tenant)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApprovalSerializer(page, many=True).data)


class ApprovalDecisionView(ApiView):
    """Approve or reject a waiting approval step, once (needs the permission the step names)."""

    permissions_required: tuple[str, ...] = ()  # authenticated; the step's own permission is checked below

    @api_schema(request=DecisionSerializer, responses={200: ApprovalSerializer}, operation_id="runs_approvals_decide")
    def post(self, request: Request, pk: str, step_id: str) -> Response:
        """Record the decision; the run goes on (approve) or its step fails (reject). A second decision: 409."""
        try:
            run = ExecutionRun.objects.get(pk=pk, tenant=self.tenant)
        except (ExecutionRun.DoesNotExist, ValueError, DjangoValidationError):
            raise exceptions.ResourceNotFound(f"Run {pk} does not exist.", details={"id": pk}) from None
        wait = approvals.open_wait(run, step_id)
        approvals.check_permission(request.user, wait)
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = approvals.decide(
            run,
            step_id,
            body.validated_data["decision"],
            user=request.user,
            actor=self.actor,
            comment=body.validated_data["comment"],
        )
        decided.run = run
        return Response(ApprovalSerializer(decided).data)

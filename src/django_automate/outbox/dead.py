"""Dead letters that are *still* dead: what the admin filter, ``runs/?status=dead``, health and metrics count.

A job is dead-lettered when it cannot make progress; a run's job fails its run. Retrying the
run (:func:`django_automate.runs.operations.retry_run`) does not touch the dead job: it moves
the run back to ``running`` and writes a new job. So a dead job of a run stays dead only while
its run is ``failed`` and no job of the run was written after it was dead-lettered (a retry
that failed again leaves its own dead job, which is the one that counts). A dead job without
a run (event routing, a task) stays dead: nothing retries it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from django_automate.models import ExecutionRun, JobStatus, OutboxJob, RunStatus


def still_dead(jobs: QuerySet[OutboxJob]) -> QuerySet[OutboxJob]:
    """The dead jobs of ``jobs`` that nothing has retried since."""
    later = OutboxJob.objects.filter(run=OuterRef("run"), created_at__gt=OuterRef("finished_at"))
    return jobs.filter(status=JobStatus.DEAD).filter(
        Q(run__isnull=True) | (Q(run__status=RunStatus.FAILED) & ~Exists(later))
    )


def dead_lettered_runs(runs: QuerySet[ExecutionRun]) -> QuerySet[ExecutionRun]:
    """The runs of ``runs`` whose work is dead-lettered now (a failed run with a still-dead job)."""
    dead = still_dead(OutboxJob.objects.filter(run=OuterRef("pk")))
    return runs.filter(status=RunStatus.FAILED).filter(Exists(dead))


def dead_counts(jobs: QuerySet[OutboxJob]) -> dict[str, int]:
    """Still-dead jobs of ``jobs`` per queue."""
    rows: Any = still_dead(jobs).values_list("queue").order_by()
    return {str(queue): int(n) for queue, n in rows.annotate(n=Count("id"))}

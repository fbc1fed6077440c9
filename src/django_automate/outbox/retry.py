"""Retry policy: exponential backoff with full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django_automate import conf


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    initial_seconds: float = 1.0
    max_seconds: float = 600.0
    backoff: str = "exponential"
    jitter: str = "full"

    @classmethod
    def from_step(cls, step: dict[str, Any]) -> RetryPolicy:
        spec = step.get("retry") or {}
        return cls(
            max_attempts=int(spec.get("max_attempts", conf.default_max_attempts())),
            initial_seconds=float(spec.get("initial_seconds", 1.0)),
            max_seconds=float(spec.get("max_seconds", 600.0)),
            backoff=str(spec.get("backoff", "exponential")),
            jitter=str(spec.get("jitter", "full")),
        )

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based)."""
        if self.backoff == "fixed":
            ceiling = self.initial_seconds
        else:
            ceiling = self.initial_seconds * (2 ** max(0, attempt - 1))
        ceiling = min(self.max_seconds, ceiling)
        delay = (rng or random).uniform(0, ceiling) if self.jitter == "full" else ceiling
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_seconds))
        return delay


#: A job whose processing raised waits 1 s before its next claim, doubling to at most 5 minutes.
CRASH_BACKOFF = RetryPolicy(max_attempts=1, initial_seconds=1.0, max_seconds=300.0, jitter="none")


def crash_delay(crashes: int, rng: random.Random | None = None) -> float:
    """Seconds before the next claim of a job that raised on its last ``crashes`` claims in a row.

    Between half and all of the exponential ceiling: the delay always grows (a poison job
    cannot come back at once), and jobs that failed together do not all return together.
    """
    ceiling = CRASH_BACKOFF.delay(crashes)
    return (rng or random).uniform(ceiling / 2, ceiling)

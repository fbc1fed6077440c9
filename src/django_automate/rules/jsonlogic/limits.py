"""Resource limits of the engine, and the per-evaluation context that enforces them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

from django_automate.rules.jsonlogic.errors import JsonLogicLimitExceeded

#: The state of one evaluation, a plain list because it is created for every call:
#: ``context[0]`` is the remaining work budget; the rest is the stack of enclosing scopes (for
#: each enclosing iterator or ``try`` fallback: the data it was called with, then its metadata
#: such as ``{"index": i}``), so ``{"val": [[n], ...]}`` can climb ``n`` levels.
Context: TypeAlias = list[Any]


@dataclass(frozen=True)
class Limits:
    """Bounds that make a hostile rule fail fast with :class:`JsonLogicLimitExceeded`.

    ``max_depth`` counts nested JSON containers of the rule, ``max_nodes`` every JSON value in it;
    both are checked when the rule is compiled. ``max_work`` is the per-evaluation budget: every
    iteration of ``map``/``filter``/``reduce``/``all``/``some``/``none`` costs the size of its body,
    ``missing`` one unit per key, and strings and arrays built or scanned by ``cat``, ``merge``,
    ``substr`` and ``in`` one unit per ``size_unit`` items. ``max_string`` and ``max_array`` cap
    what a single operation may build.
    """

    max_depth: int = 64
    max_nodes: int = 10_000
    max_work: int = 200_000
    max_string: int = 1_000_000
    max_array: int = 100_000
    size_unit: int = 64

    def new_context(self) -> Context:
        """A fresh context with a full work budget."""
        return [self.max_work]

    def exhausted(self) -> NoReturn:
        """Raise the error for an exhausted work budget."""
        raise JsonLogicLimitExceeded(
            f"The rule exceeded its work budget of {self.max_work} units in one evaluation.", limit="max_work"
        )

    def charge(self, context: Context, units: int) -> None:
        """Spend ``units`` of the work budget; raise when it is exhausted."""
        context[0] -= units
        if context[0] < 0:
            self.exhausted()

    def charge_string(self, context: Context, size: int) -> None:
        """Account for building a string of ``size`` characters."""
        if size > self.max_string:
            raise JsonLogicLimitExceeded(
                f"The rule built a string of {size} characters; the limit is {self.max_string}.", limit="max_string"
            )
        self.charge(context, size // self.size_unit)

    def charge_array(self, context: Context, size: int) -> None:
        """Account for building an array of ``size`` items."""
        if size > self.max_array:
            raise JsonLogicLimitExceeded(
                f"The rule built an array of {size} items; the limit is {self.max_array}.", limit="max_array"
            )
        self.charge(context, size // self.size_unit)


DEFAULT_LIMITS = Limits()

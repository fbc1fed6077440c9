"""An in-memory index of one tenant's enabled rules by event type.

Routing an event must only look at rules that can match its type. Exact types go in a dict;
a glob goes in a bucket keyed by its literal prefix (the text before its first wildcard,
``"order."`` for ``"order.*"``), so an event type only visits the buckets of its own prefixes;
globs that start with a wildcard (``"*.failed"``) have the prefix ``""`` and are checked for
every event. The index is immutable once built and safe to share between threads; it knows
nothing of the database (see :mod:`django_automate.rules.cache`).
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django_automate import exceptions
from django_automate.rules.jsonlogic import compile_logic, truthy
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: Characters that make an ``event_type`` a glob (``fnmatch`` syntax).
WILDCARDS = "*?["
#: Event types whose candidate rules an index remembers (the memo is emptied when full).
MEMO_SIZE = 4096


_WILDCARD = re.compile(r"[*?\[]")


def is_glob(pattern: str) -> bool:
    return _WILDCARD.search(pattern) is not None


def literal_prefix(pattern: str) -> str:
    """The text before the first wildcard: every type the glob matches starts with it."""
    cut = min((i for i in (pattern.find(c) for c in WILDCARDS) if i >= 0), default=len(pattern))
    return pattern[:cut]


@functools.lru_cache(maxsize=8192)
def glob_matcher(pattern: str) -> Callable[[str], Any]:
    """``fnmatch.fnmatchcase`` semantics (case-sensitive), compiled once per pattern."""
    return re.compile(fnmatch.translate(pattern)).match


class Condition:
    """A rule's JSON Logic condition, compiled on first use.

    One instance stands for one (rule id, version): successive indexes of a tenant share it
    while the rule's version is unchanged, so a rule compiles once per version, not per rebuild.
    """

    __slots__ = ("_fn", "logic", "name", "rule_id", "version")

    def __init__(self, rule_id: Hashable, version: int, logic: Any, name: str = "") -> None:
        self.rule_id = rule_id
        self.version = version
        self.logic = logic
        self.name = name
        self._fn: Callable[..., Any] | None = None

    @property
    def compiled(self) -> bool:
        """Whether the condition was compiled (it is, on first evaluation)."""
        return self._fn is not None

    def holds(self, data: Any) -> bool:
        """Whether the condition is truthy for ``data``; an invalid rule or a failed evaluation is "no".

        Failures are logged: they mean a rule that cannot match, which an operator should see.
        """
        fn = self._fn
        try:
            if fn is None:
                fn = self._fn = compile_logic(self.logic)
            return truthy(fn(data))
        except exceptions.AutomateError as exc:
            logger.warning(
                "Rule %s (version %s) failed to evaluate: %s",
                self.name,
                self.version,
                exc.message,
                extra=log_extra("rule_error", rule_id=self.rule_id, version=self.version),
            )
            return False


class IndexedRule:
    """What routing needs of one enabled rule; ``rank`` is its place in (-priority, name, id) order.

    ``row`` optionally holds every column value of the rule, for the cache to hand out model
    instances without reading the rule again.
    """

    __slots__ = (
        "condition",
        "event_type",
        "id",
        "name",
        "priority",
        "rank",
        "row",
        "type_match",
        "version",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        id: Hashable,
        name: str,
        event_type: str,
        condition: Condition,
        priority: int = 0,
        version: int = 1,
        workflow_id: Hashable = None,
        row: tuple[Any, ...] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.event_type = event_type
        self.condition = condition
        self.priority = priority
        self.version = version
        self.workflow_id = workflow_id
        self.row = row
        self.rank = 0
        self.type_match: Callable[[str], Any] | None = glob_matcher(event_type) if is_glob(event_type) else None

    @classmethod
    def from_values(
        cls, values: dict[str, Any], *, condition: Condition | None = None, row: tuple[Any, ...] | None = None
    ) -> IndexedRule:
        """From ``RuleSpec`` field values (``id``, ``name``, ``event_type``, ``condition``, ``priority``...)."""
        version = values.get("version", 1)
        if condition is None:
            condition = Condition(values["id"], version, values.get("condition", True), values["name"])
        return cls(
            id=values["id"],
            name=values["name"],
            event_type=values["event_type"],
            condition=condition,
            priority=values.get("priority", 0),
            version=version,
            workflow_id=values.get("workflow_id"),
            row=row,
        )

    def copy(self) -> IndexedRule:
        """A new entry for a later index, sharing the compiled condition."""
        return IndexedRule(
            id=self.id,
            name=self.name,
            event_type=self.event_type,
            condition=self.condition,
            priority=self.priority,
            version=self.version,
            workflow_id=self.workflow_id,
            row=self.row,
        )

    def matches_type(self, event_type: str) -> bool:
        return self.event_type == event_type if self.type_match is None else self.type_match(event_type) is not None

    def __repr__(self) -> str:
        return f"<IndexedRule {self.name!r} {self.event_type!r} v{self.version}>"


def _rank(rule: IndexedRule) -> int:
    return rule.rank


def _order_key(rule: IndexedRule) -> tuple[int, str, Any]:
    return (-rule.priority, rule.name, rule.id)  # names are unique per tenant: ids never compared in practice


class RuleIndex:
    """One tenant's enabled rules, indexed by exact type and by the literal prefix of each glob.

    ``fingerprint`` is whatever identified the rule set it was built from (see the cache).
    """

    def __init__(self, rules: Iterable[IndexedRule], *, fingerprint: Hashable = None) -> None:
        self.fingerprint = fingerprint
        self.rules: tuple[IndexedRule, ...] = tuple(sorted(rules, key=_order_key))
        self._exact: dict[str, list[IndexedRule]] = {}
        self._prefixes: dict[str, list[tuple[Callable[[str], Any], IndexedRule]]] = {}
        for rank, rule in enumerate(self.rules):
            rule.rank = rank
            if rule.type_match is None:
                self._exact.setdefault(rule.event_type, []).append(rule)
            else:
                self._prefixes.setdefault(literal_prefix(rule.event_type), []).append((rule.type_match, rule))
        self._lengths = tuple(sorted({len(prefix) for prefix in self._prefixes}))
        self._memo: dict[str, tuple[IndexedRule, ...]] = {}
        self._by_id = {rule.id: rule for rule in self.rules}

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: Hashable) -> IndexedRule | None:
        return self._by_id.get(rule_id)

    def stats(self) -> dict[str, int]:
        """Sizes of the buckets, for benchmarks and debugging."""
        return {
            "rules": len(self.rules),
            "exact_types": len(self._exact),
            "glob_prefixes": len(self._prefixes),
            "catch_all": len(self._prefixes.get("", ())),
        }

    def candidates(self, event_type: str) -> tuple[IndexedRule, ...]:
        """The rules whose type pattern matches ``event_type``, in priority order (memoised per type)."""
        found = self._memo.get(event_type)
        if found is not None:
            return found
        matched = list(self._exact.get(event_type, ()))
        size = len(event_type)
        for length in self._lengths:
            if length > size:
                break
            bucket = self._prefixes.get(event_type[:length])
            if bucket:
                matched.extend(rule for type_match, rule in bucket if type_match(event_type) is not None)
        matched.sort(key=_rank)
        found = tuple(matched)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[event_type] = found
        return found

    def match(self, event_type: str, data: Any) -> list[IndexedRule]:
        """The rules matching an event: type pattern first, then the condition, in priority order."""
        return [rule for rule in self.candidates(event_type) if rule.condition.holds(data)]

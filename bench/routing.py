"""Benchmark rule matching at scale: 10,000 enabled rules across 1,000 event types.

Usage: ``python bench/routing.py [--db sqlite|postgres|mysql] [--rules N] [--types N] [--events N]``

Measured per routed event, in one run and on one data set:

- ``indexed match``: the in-memory step of routing with a warm per-tenant index
  (``RuleIndex.match(type, event_data(event))``): type lookup plus the conditions of the
  rules whose pattern matches;
- ``naive scan``: the same rules preloaded in memory with compiled conditions, scanned one by
  one (type pattern, then condition): the baseline, also in memory; printed as a ratio;
- ``generation read``: the one query each routing makes to see whether the tenant's rules
  changed (one row of ``automate_rulegeneration`` by its unique key);
- ``matching_rules()``: the whole call routing makes (generation read, match, loading the
  matched rules with their workflows), and the previous implementation that read every rule
  of the tenant from the database on every event;
- index build (cold) and rebuild after one rule changed (reusing every other entry).

Both matchers must return the same rules for every event. Creates a scratch database
(``--db``; PostgreSQL/MariaDB on 127.0.0.1 as in the test settings), prints a table and stores
the run in ``bench/results/routing.json`` (the latest run per database). Exits non-zero unless
the median ``matching_rules()`` (and so the median indexed match) is under 1 ms and the
matchers agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "routing.json"
TARGET_MS = 1.0
TENANT = "bench"
sys.path.insert(0, str(ROOT / "src"))


def configure(db: str) -> None:
    import django
    from django.conf import settings

    name = "automate_bench_routing"
    databases: dict[str, dict[str, Any]] = {
        "sqlite": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(tempfile.gettempdir(), f"{name}.sqlite3"),
            "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"test_{name}.sqlite3")},
        },
        "postgres": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": f"test_{name}"},
        },
        "mysql": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "mysql",
            "USER": os.environ.get("MYSQL_USER", "root"),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": f"test_{name}", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        },
    }
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="bench-only",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_automate"],
        DATABASES={"default": databases[db]},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGGING_CONFIG=None,
    )
    django.setup()


# -- data set ------------------------------------------------------------------------------------
DOMAINS = [f"d{n:02d}" for n in range(20)]
ENTITIES = [f"e{n}" for n in range(10)]
ACTIONS = ["created", "updated", "deleted", "paid", "failed"]


def event_types(count: int) -> list[str]:
    types = [f"{d}.{e}.{a}" for d in DOMAINS for e in ENTITIES for a in ACTIONS]
    return types[:count]


def condition(rng: random.Random) -> Any:
    """Conditions of the kind routing rules have: thresholds, enums, flags, nested and/or."""
    amount = {"var": "event.payload.amount"}
    choices = [
        True,
        {">": [amount, rng.choice([100, 1000, 5000])]},
        {"in": [{"var": "event.payload.status"}, rng.sample(["new", "open", "paid", "failed", "void"], 2)]},
        {"and": [{"==": [{"var": "event.payload.currency"}, rng.choice(["usd", "eur"])]}, {">=": [amount, 50]}]},
        {"or": [{"var": "event.payload.vip"}, {">": [amount, 2000]}]},
        {"!": {"var": "event.payload.test"}},
        {"some": [{"var": "event.payload.tags"}, {"==": [{"var": ""}, rng.choice(["urgent", "eu", "beta"])]}]},
        {"==": [{"var": "event.source"}, "app"]},
    ]
    return rng.choice(choices)


def rule_rows(rng: random.Random, types: list[str], count: int) -> list[dict[str, Any]]:
    """About 90 % exact types, 8 % ``domain.entity.*``, 1.5 % ``domain.*``, 0.5 % ``*.action``."""
    patterns: list[str] = []
    for number in range(count):
        roll = number % 200
        if roll < 180:
            patterns.append(types[number % len(types)])
        elif roll < 196:
            patterns.append(f"{rng.choice(DOMAINS)}.{rng.choice(ENTITIES)}.*")
        elif roll < 199:
            patterns.append(f"{rng.choice(DOMAINS)}.*")
        else:
            patterns.append(f"*.{rng.choice(ACTIONS)}")
    return [
        {
            "name": f"rule-{number:05d}",
            "event_type": pattern,
            "condition": condition(rng),
            "priority": rng.randint(0, 9),
        }
        for number, pattern in enumerate(patterns)
    ]


def payload(rng: random.Random) -> dict[str, Any]:
    return {
        "id": rng.getrandbits(32),
        "amount": rng.choice([5, 80, 250, 1200, 4000, 9000]),
        "currency": rng.choice(["usd", "eur", "gbp"]),
        "status": rng.choice(["new", "open", "paid", "failed", "void"]),
        "vip": rng.random() < 0.1,
        "test": rng.random() < 0.05,
        "tags": rng.sample(["urgent", "eu", "beta", "gift", "b2b"], rng.randint(0, 3)),
        "customer": {"id": f"cus_{rng.randint(1, 999)}", "country": rng.choice(["DE", "US", "FR"])},
    }


def populate(args: argparse.Namespace, rng: random.Random) -> tuple[Any, list[Any]]:
    import uuid

    from django.utils import timezone

    from django_automate.models import Event, RuleSpec
    from django_automate.workflows.publishing import create_workflow

    steps = [{"id": "log", "connector": "log", "action": "write", "with": {"message": "hi"}}]
    workflow = create_workflow(slug="bench", name="Bench", definition={"steps": steps}, tenant=TENANT)
    other = create_workflow(slug="other", name="Other", definition={"steps": steps}, tenant="other")
    types = event_types(args.types)
    rules = [RuleSpec(tenant=TENANT, workflow=workflow, **row) for row in rule_rows(rng, types, args.rules)]
    noise = [RuleSpec(tenant="other", workflow=other, **row) for row in rule_rows(rng, types, args.other_rules)]
    RuleSpec.objects.bulk_create([*rules, *noise], batch_size=1000)
    analyze(RuleSpec._meta.db_table)
    now = timezone.now()
    events = [
        Event(
            id=uuid.uuid4(), tenant=TENANT, source="app", type=rng.choice(types), payload=payload(rng), received_at=now
        )
        for _ in range(args.events)
    ]
    return workflow, events


def analyze(table: str) -> None:
    """Refresh the planner's statistics after the bulk insert, as autovacuum/auto-analyze would."""
    from django.db import connection

    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE TABLE {quoted}" if connection.vendor == "mysql" else f"ANALYZE {quoted}")
        if connection.vendor == "mysql":
            cursor.fetchall()


# -- measurements --------------------------------------------------------------------------------
def per_call(fn: Callable[[Any], Any], items: list[Any]) -> list[float]:
    """Microseconds of ``fn(item)`` for each item."""
    timings = []
    clock = time.perf_counter_ns
    for item in items:
        start = clock()
        fn(item)
        timings.append((clock() - start) / 1000)
    return timings


Timer = Callable[[Any], Any]


def paired(first: Timer, second: Timer, items: list[Any]) -> tuple[list[float], list[float]]:
    """Microseconds of ``first(item)`` and ``second(item)``, timed back to back so both see the same load."""
    one: list[float] = []
    two: list[float] = []
    for item in items:
        one.extend(per_call(first, [item]))
        two.extend(per_call(second, [item]))
    return one, two


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "min_us": ordered[0],
        "median_us": statistics.median(ordered),
        "p95_us": ordered[int(len(ordered) * 0.95) - 1],
        "p99_us": ordered[int(len(ordered) * 0.99) - 1],
        "mean_us": statistics.fmean(ordered),
        "calls": len(ordered),
    }


def old_matching_rules(event: Any) -> list[Any]:
    """The implementation before the index: read every enabled rule of the tenant, scan them all."""
    from django_automate.models import RuleSpec
    from django_automate.rules.matching import condition_holds, event_data, type_matches

    candidates = RuleSpec.objects.filter(tenant=event.tenant, enabled=True).select_related("workflow")
    data = event_data(event)
    ordered = candidates.order_by("-priority", "name")
    return [r for r in ordered if type_matches(r.event_type, event.type) and condition_holds(r, data)]


def index_memory_mb(tenant: str, datas: list[tuple[str, Any]]) -> float:
    """Memory an index holds once built and its conditions compiled (every rule, to bound it)."""
    import gc
    import tracemalloc

    from django_automate.rules import cache

    cache.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = cache.rule_index(tenant)
    for rule in index.rules:
        rule.condition.holds(datas[0][1])
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / 1e6


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from django_automate.models import RuleSpec
    from django_automate.rules import cache, generation
    from django_automate.rules.index import IndexedRule
    from django_automate.rules.matching import event_data, matching_rules, type_matches

    rng = random.Random(20240601)
    _, events = populate(args, rng)
    datas = [(event.type, event_data(event)) for event in events]

    started = time.perf_counter()
    index = cache.rule_index(TENANT)
    build_ms = (time.perf_counter() - started) * 1000
    changed = RuleSpec.objects.filter(tenant=TENANT).order_by("name").first()
    assert changed is not None
    changed.condition = {">": [{"var": "event.payload.amount"}, 3000]}
    changed.save()
    started = time.perf_counter()
    index = cache.rule_index(TENANT)
    rebuild_ms = (time.perf_counter() - started) * 1000

    # naive baseline: every rule in priority order, compiled conditions shared with the index
    naive_rules = [index.get(rule.id) for rule in index.rules]
    preloaded: list[IndexedRule] = [rule for rule in naive_rules if rule is not None]

    def naive(item: tuple[str, Any]) -> list[IndexedRule]:
        event_type, data = item
        return [r for r in preloaded if type_matches(r.event_type, event_type) and r.condition.holds(data)]

    def indexed(item: tuple[str, Any]) -> list[IndexedRule]:
        return index.match(*item)

    def indexed_with_data(event: Any) -> list[IndexedRule]:
        return index.match(event.type, event_data(event))

    mismatches = sum(
        [r.id for r in indexed(item)] != [r.id for r in naive(item)] for item in datas
    )  # also compiles every condition before timing
    candidates = statistics.fmean(len(index.candidates(t)) for t, _ in datas)
    matched = statistics.fmean(len(indexed(item)) for item in datas)

    best: dict[str, list[float]] = {}
    ratios = []
    for _ in range(args.rounds):
        paired_indexed, paired_naive = paired(indexed, naive, datas[: args.naive_events])
        ratios.append(statistics.median(paired_naive) / statistics.median(paired_indexed))
        for name, timings in (
            ("indexed match", per_call(indexed_with_data, events)),
            ("indexed match (data ready)", per_call(indexed, datas)),
            ("naive scan (in memory)", paired_naive),
            ("generation read", per_call(lambda _: generation.read(TENANT), events[: args.query_events])),
            ("matching_rules()", per_call(matching_rules, events[: args.query_events])),
        ):
            if name not in best or statistics.median(timings) < statistics.median(best[name]):
                best[name] = timings
    best["previous matching_rules() (reads all rules)"] = per_call(old_matching_rules, events[: args.old_events])
    memory_mb = index_memory_mb(TENANT, datas)
    results = {name: summary(timings) for name, timings in best.items()}
    ratio = statistics.median(ratios)
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "database": connection.vendor + (" (MariaDB)" if getattr(connection, "mysql_is_mariadb", False) else ""),
        "rules": args.rules,
        "other_tenant_rules": args.other_rules,
        "event_types": args.types,
        "events": args.events,
        "index": index.stats(),
        "mean_candidates_per_event": round(candidates, 2),
        "mean_matches_per_event": round(matched, 2),
        "mismatches_vs_naive": mismatches,
        "index_build_ms": round(build_ms, 1),
        "index_rebuild_after_one_change_ms": round(rebuild_ms, 1),
        "index_memory_mb": round(memory_mb, 1),
        "timings": results,
        "naive_over_indexed": round(ratio, 1),
        "target_ms": TARGET_MS,
        "passed": all(results[step]["median_us"] < TARGET_MS * 1000 for step in ("indexed match", "matching_rules()"))
        and mismatches == 0,
    }


def duration(microseconds: float) -> str:
    return f"{microseconds:,.1f} µs" if microseconds < 1000 else f"{microseconds / 1000:,.2f} ms"


def report(result: dict[str, Any]) -> None:
    print(
        f"Routing one event: {result['rules']:,} enabled rules over {result['event_types']:,} event types "
        f"(+{result['other_tenant_rules']:,} rules of another tenant), {result['database']}, "
        f"Python {result['python']}, {result['cpus']} CPUs, load average {result['load_average_1m']}"
    )
    print(
        f"index: {result['index']}; per event {result['mean_candidates_per_event']} candidate rules, "
        f"{result['mean_matches_per_event']} matches; mismatches vs naive scan: {result['mismatches_vs_naive']}\n"
    )
    print(f"{'step':<48}{'min':>13}{'median':>13}{'p95':>13}{'p99':>13}{'calls':>8}")
    for name, stats in result["timings"].items():
        cells = "".join(f"{duration(stats[key]):>13}" for key in ("min_us", "median_us", "p95_us", "p99_us"))
        print(f"{name:<48}{cells}{stats['calls']:>8}")
    print(
        f"\nnaive scan / indexed match (same events, timed back to back; median of rounds): "
        f"{result['naive_over_indexed']:.0f}x"
    )
    print(
        f"index build {result['index_build_ms']} ms; rebuild after one rule changed "
        f"{result['index_rebuild_after_one_change_ms']} ms; memory with every condition compiled "
        f"{result['index_memory_mb']} MB"
    )
    verdict = "PASS" if result["passed"] else "FAIL"
    timings = result["timings"]
    print(
        f"\n{verdict}: median matching_rules() {duration(timings['matching_rules()']['median_us'])} "
        f"at {result['rules']:,} rules (end to end: generation read, match, matched rules with their workflows; "
        f"indexed match {duration(timings['indexed match']['median_us'])}; target < 1 ms)"
    )


def save(path: Path, db: str, result: dict[str, Any]) -> None:
    """Store the run under its database, keeping the latest run of the other databases."""
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        runs = {}
    runs[db] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": dict(sorted(runs.items()))}, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "mysql"], default="sqlite")
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--other-rules", type=int, default=2_000)
    parser.add_argument("--types", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=5_000, help="events routed in memory per round")
    parser.add_argument("--naive-events", type=int, default=500)
    parser.add_argument("--query-events", type=int, default=300, help="events routed with database queries")
    parser.add_argument("--old-events", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    configure(args.db)

    from django.db import connection

    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        result = run(args)
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
    report(result)
    save(args.output, args.db, result)
    print(f"results written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

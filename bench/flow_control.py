"""Flow control's cost when nothing is held back: a concurrency key and a rate limit on the uncontended pipeline.

Usage (from the repository root): ``python bench/flow_control.py [--runs 1000] [--workers 2] [--rounds 3]``

Creates the scratch database of ``bench/run.py`` on PostgreSQL, starts real
``manage.py automate worker`` processes and drains ``--runs`` one-step ``log`` runs of each
workflow, in interleaved rounds (the order rotates each round, so a noisy machine weighs on all
alike; each workflow's best round counts):

- ``plain``: no flow control (the baseline);
- ``keyed``: ``"concurrency": {"key": "{{ event.payload.n }}", "limit": 1}``, a key per event:
  every run takes a slot at once (the admission's lock and counts, the release after it);
- ``rate_limited``: a step ``rate_limit`` far above the pipeline's rate, keyed per event: a
  token is taken (its bucket created) before every attempt, none is ever missing.

Prints runs/s and each ratio to ``plain``; the target is an overhead of at most 10 % for a
concurrency key (``keyed / plain >= 0.9``). Writes ``bench/results/flow_control.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "src"), str(ROOT)]

STEP = {"id": "note", "connector": "log", "action": "write", "with": {"message": "{{ event.payload.n }}"}}
DEFINITIONS: dict[str, dict[str, Any]] = {
    "plain": {"steps": [STEP]},
    "keyed": {"concurrency": {"key": "{{ event.payload.n }}", "limit": 1}, "steps": [STEP]},
    "rate_limited": {
        "steps": [{**STEP, "rate_limit": {"key": "k{{ event.payload.n }}", "per_second": 10000, "burst": 10}}]
    },
}
TARGET = 0.9  # keyed / plain


def configure() -> None:
    os.environ.setdefault("AUTOMATE_BENCH_DB", "postgres")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()


def drain(name: str, round_: int, runs: int, workers: Any) -> float:
    """Runs/s of one round of ``name``: ``runs`` events emitted at once, timed until every run succeeded."""
    from django.db import transaction

    import django_automate
    import pipeline
    from django_automate.models import RuleSpec
    from django_automate.workflows.publishing import create_workflow

    slug = f"{name.replace('_', '-')}-{round_}"
    created = create_workflow(slug=slug, name=slug, definition=DEFINITIONS[name])
    RuleSpec.objects.create(name=f"rule-{slug}", event_type=f"bench.{slug}", workflow=created)
    started = time.monotonic()
    with transaction.atomic():
        for n in range(runs):
            django_automate.emit(f"bench.{slug}", {"n": f"{round_}-{n}"})
    pipeline.wait_succeeded(created, runs, 900, workers)
    return runs / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "flow_control.json")
    args = parser.parse_args()
    configure()
    from django.db import connection

    import pipeline

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    os.environ["AUTOMATE_BENCH_DB_NAME"] = name
    rates: dict[str, list[float]] = {workflow: [] for workflow in DEFINITIONS}
    load_before = os.getloadavg()[0]
    try:
        workers = pipeline.Workers(args.workers)
        try:
            pipeline.emit_batch("bench.warmup", 20)  # connections and caches warm before the clock starts
            names = list(DEFINITIONS)
            for round_ in range(args.rounds):
                for workflow in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    rates[workflow].append(drain(workflow, round_, args.runs, workers))
        finally:
            workers.stop()
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    best = {workflow: max(values) for workflow, values in rates.items()}
    result: dict[str, Any] = {
        "runs": args.runs,
        "workers": args.workers,
        "rounds": args.rounds,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs_per_second": {workflow: [round(v, 1) for v in values] for workflow, values in rates.items()},
        "ratio_to_plain": {workflow: round(value / best["plain"], 3) for workflow, value in best.items()},
    }
    print(f"{args.runs} one-step runs per round, {args.workers} workers, {args.rounds} rounds (best counts)")
    for workflow, values in rates.items():
        print(
            f"  {workflow:13} {best[workflow]:7.1f} runs/s (rounds: {', '.join(f'{v:.1f}' for v in values)});"
            f" x{result['ratio_to_plain'][workflow]:.3f} plain"
        )
    keyed = result["ratio_to_plain"]["keyed"]
    verdict = "PASS" if keyed >= TARGET else "MISS"
    print(f"concurrency key overhead: {1 - keyed:+.1%} (target: at most {1 - TARGET:.0%}): {verdict}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

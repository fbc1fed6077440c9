"""Graph shapes: what running steps as a graph (each step its own job) costs against an ordered chain.

Usage (from the repository root): ``python bench/graphs.py [--runs 300] [--workers 2]``

Creates the scratch database of ``bench/run.py`` on PostgreSQL (``AUTOMATE_BENCH_SCRATCH_DB``
to run beside it), starts real ``manage.py automate worker`` processes and, in one run, drains
``--runs`` runs of each shape, all with ``log`` steps (so the figures are the engine's own cost):

- ``chain``: four steps in order, one job for the whole run (the baseline);
- ``diamond``: ``a -> (b, c) -> d``, four steps, each a job;
- ``fan_out``: ``a -> 8 parallel steps -> join``, ten steps, each a job.

Prints steps/s for each shape and its ratio to the chain, and writes
``bench/results/graphs.json``. A graph step pays for its own job (a claim, a lock on the run and
an advance) where a chain step shares its run's job, so the ratio is expected below 1: the point
of a graph is the overlap of slow calls, which ``log`` steps do not have.
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


def configure() -> None:
    os.environ.setdefault("AUTOMATE_BENCH_DB", "postgres")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()


def log(step_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "{{ event.type }}"}, **extra}


SHAPES: dict[str, list[dict[str, Any]]] = {
    "chain": [log("a"), log("b"), log("c"), log("d")],
    "diamond": [log("a"), log("b", needs=["a"]), log("c", needs=["a"]), log("d", needs=["b", "c"])],
    "fan_out": [
        log("a"),
        *[log(f"p{n}", needs=["a"]) for n in range(8)],
        log("join", needs=[f"p{n}" for n in range(8)]),
    ],
}


def drain(shape: str, runs: int, workers: Any) -> dict[str, Any]:
    import pipeline
    from django_automate.models import RuleSpec
    from django_automate.workflows.publishing import create_workflow

    created = create_workflow(slug=shape.replace("_", "-"), name=shape, definition={"steps": SHAPES[shape]})
    RuleSpec.objects.create(name=f"rule-{shape}", event_type=f"bench.{shape}", workflow=created)
    started = time.monotonic()
    pipeline.emit_batch(f"bench.{shape}", runs)
    pipeline.wait_succeeded(created, runs, 900, workers)
    seconds = time.monotonic() - started
    steps = runs * len(SHAPES[shape])
    return {"runs": runs, "steps": steps, "seconds": round(seconds, 2), "steps_per_second": round(steps / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "graphs.json")
    args = parser.parse_args()
    configure()
    from django.db import connection

    import pipeline

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    os.environ["AUTOMATE_BENCH_DB_NAME"] = name
    try:
        workers = pipeline.Workers(args.workers)
        try:
            pipeline.emit_batch("bench.warmup", 20)  # connections and caches warm before the clock starts
            result = {shape: drain(shape, args.runs, workers) for shape in SHAPES}
        finally:
            workers.stop()
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    base = result["chain"]["steps_per_second"]
    print(f"{args.runs} runs per shape, {args.workers} workers, log steps")
    for shape, figures in result.items():
        figures["ratio_to_chain"] = round(figures["steps_per_second"] / base, 2)
        print(
            f"  {shape:8} {figures['steps']:6} steps in {figures['seconds']:7.2f} s:"
            f" {figures['steps_per_second']:7.1f} steps/s (x{figures['ratio_to_chain']} the chain)"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"workers": args.workers, **result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

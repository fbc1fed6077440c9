"""The table ``bench/run.py`` prints: Markdown, so that ``docs/performance.md`` can quote it as it is."""

from __future__ import annotations

from typing import Any

COUNTS = ("1", "2", "4")


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def ingest_lines(ingest: dict[str, Any]) -> list[str]:
    header = [f"ingest ({ingest['server']}, {ingest['clients']} clients)", "requests/s", "p50", "p95", "p99"]
    rows = []
    for key, label in (("webhook", "`POST /automate/hooks/<slug>/`"), ("baseline", "minimal view, one INSERT")):
        row = ingest[key]
        cells = [fmt(row[name], " ms") for name in ("p50_ms", "p95_ms", "p99_ms")]
        rows.append([label, fmt(row["per_second"]), *cells])
    rows.append(["webhook / minimal view", times(ingest["ratio"]), "", "", ""])
    return table(header, rows)


def claim_lines(ceiling: dict[str, dict[str, Any]]) -> list[str]:
    keys = [("ours", "ours"), ("psycopg", "psycopg loop"), ("mysql", "mysqlclient loop"), ("pgbench", "pgbench")]
    keys += [("pgbench_indexed", "pgbench `+index`"), ("commits", "insert commits/s")]
    keys = [(key, label) for key, label in keys if any(row.get(key) is not None for row in ceiling.values())]
    rows = []
    for clients, row in ceiling.items():
        top = row.get("pgbench") or row.get("psycopg") or row.get("mysql")
        rows.append([f"{clients} client(s)", *(fmt(row.get(key)) for key, _ in keys), share(row["ours"] / top)])
    return table(["claim+complete jobs/s", *(label for _, label in keys), "ours/ceiling"], rows)


def pipeline_lines(result: dict[str, Any]) -> list[str]:
    header = ["pipeline, 1-step `log` workflow", "events", "events/s", "Procrastinate jobs/s", "ours/Procrastinate"]
    header.append("ours/pgbench claim+complete")
    rows = []
    for count in COUNTS:
        ours, theirs = result.get(f"throughput_{count}"), result.get(f"procrastinate_{count}") or {}
        if ours is None:
            continue
        ratios = result.get("ratios") or {}
        rows.append(
            [
                f"{count} worker process(es)",
                fmt(ours["events"]),
                fmt(ours["per_second"]),
                fmt(theirs.get("per_second")),
                times(ratios.get(f"pipeline_over_procrastinate_{count}")),
                share(ratios.get(f"pipeline_executions_over_ceiling_{count}")),
            ]
        )
    return table(header, rows)


def latency_lines(latency: dict[str, Any], maximum: dict[str, Any] | None = None) -> list[str]:
    sent = "" if latency["mode"] == "one at a time" else f" (sent {latency['rate_sent']}/s)"
    if maximum is not None and latency["mode"] != "one at a time":
        sent += f", half the 3-step maximum of {fmt(maximum['per_second'])}/s"
    title = f"3-step workflow, {latency['webhooks']} webhooks, {latency['mode']}{sent}, {latency['workers']} workers"
    labels = {
        "webhook_response": "`POST` answered (202), test client",
        "to_first_step_started": "event stored → first step started",
        "to_run_succeeded": "event stored → 3-step run succeeded",
    }
    rows = [
        [label, *(fmt(latency[key][name], " ms") for name in ("p50_ms", "p95_ms", "p99_ms"))]
        for key, label in labels.items()
    ]
    return table([title, "p50", "p95", "p99"], rows)


def memory_line(memory: dict[str, Any]) -> str:
    first, last = memory["readings"]
    kib = "n/a" if first["rss_kib"] is None else f"{first['rss_kib'] / 1024:.1f} MiB"
    kib_last = "n/a" if last["rss_kib"] is None else f"{last['rss_kib'] / 1024:.1f} MiB"
    partial = "" if memory["complete"] else f" (stopped by the time budget; {memory['requested_events']:,} requested)"
    growth = "n/a" if memory["growth"] is None else f"{memory['growth']:+.1%}"
    return (
        f"Memory: one worker's RSS {kib} after {first['events']:,} events, {kib_last} after "
        f"{last['events']:,}{partial}: {growth}."
    )


def lines(result: dict[str, Any]) -> list[str]:
    machine = result["machine"]
    out = [
        f"{machine['database']}; {machine['cpus']} CPUs; {machine['memory_gib']} GiB; Python {machine['python']}; "
        f"{machine['platform']}; load average before/after {machine['load_average_before'][0]} / "
        f"{machine['load_average_after'][0]}",
        "",
    ]
    if result.get("experiment_claim_index"):
        out += ["Experiment: automate_outboxjob has an extra index in the claim's order.", ""]
    if result.get("ingest"):
        out += [*ingest_lines(result["ingest"]), ""]
    if result.get("claim_complete_jobs_per_second"):
        out += [*claim_lines(result["claim_complete_jobs_per_second"]), ""]
    out += [*pipeline_lines(result), ""]
    for key, maximum in (("latency", result.get("throughput_3step")), ("latency_serial", None)):
        if result.get(key):
            out += [*latency_lines(result[key], maximum), ""]
    idle = result.get("idle")
    if idle:
        out.append(
            f"Idle: {idle['workers']} idle workers commit {fmt(idle.get('transactions_per_second'))} transactions/s "
            f"({fmt(idle.get('per_worker_per_second'))} per worker)."
        )
    if result.get("memory"):
        out.append(memory_line(result["memory"]))
    out.append("")
    profile = result.get("profile")
    if profile:
        out.append(
            f"Profile (1 in-process worker, {profile['events']} executions): {profile['ms_per_execution']} ms, "
            f"{profile['statements_per_execution']} statements and {profile['commits_per_execution']} commits per "
            f"execution; {profile['database_share']:.0%} of the time waiting for the database."
        )
    for name, error in (result.get("failed_phases") or {}).items():
        out.append(f"FAILED phase {name}: {error}")
    out += ["", *table(["target", "measured", "goal", ""], target_rows(result["targets"]))]
    return out


def target_rows(targets: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, row in targets.items():
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[row["passed"]]
        goal = f"{row['op']} {row['target']}"
        value = row["value"]
        text = f"{value:.2f}" if isinstance(value, float) and abs(value) < 10 else fmt(value)
        rows.append([name, text + (f" ({row['note']})" if row.get("note") else ""), goal, verdict])
    return rows


def detail_lines(profile: dict[str, Any]) -> list[str]:
    out = ["Queries per execution, by shape:"]
    out += [f"  {count:>5} x {text}" for text, count in profile["query_shapes_per_execution"].items()]
    out.append("Hot spots under cProfile (own time per execution):")
    out += [f"  {row['own_ms_per_execution']:>7.3f} ms  {row['function']}" for row in profile["top_own_time"][:8]]
    return out

"""Several processes (gunicorn workers, ``automate worker``s): multiprocess mode sums their counters."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.observability.subprocesses import run_child


def test_counters_of_several_processes_are_summed_and_database_failures_do_not_break_the_scrape(tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    database = tmp_path / "never-migrated.sqlite3"
    run_child("record", database, PROMETHEUS_MULTIPROC_DIR=str(shared), RECORD_TIMES="3")

    result = run_child("record-and-render", database, PROMETHEUS_MULTIPROC_DIR=str(shared), RECORD_TIMES="4")

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(result["body"])
        for sample in family.samples
    }
    accepted = ("automate_webhook_requests_total", (("endpoint", "orders"), ("outcome", "accepted")))
    assert samples[accepted] == 7
    calls = ("automate_step_duration_seconds_count", (("connector", "http"), ("outcome", "succeeded")))
    assert samples[calls] == 7
    # The tables do not exist: the database gauges are left out and say so, the rest is served.
    assert samples[("automate_database_up", ())] == 0
    assert not [name for name, _ in samples if name.startswith("automate_runs")]
    readiness = result["readiness"]
    assert readiness["status"] == "fail"
    assert readiness["checks"]["database"]["status"] == "ok"
    assert readiness["checks"]["migrations"]["status"] == "fail"
    assert "automate.0001_initial" in readiness["checks"]["migrations"]["pending"]
    assert readiness["checks"]["workers"] == {"status": "fail", "error": "OperationalError"}


def test_a_missing_multiprocess_directory_is_a_system_check_error(monkeypatch, tmp_path):
    from django_automate.observability.checks import observability_messages

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    assert [m.id for m in observability_messages()] == ["automate.E074"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert observability_messages() == []

"""The README's demo: a fresh SQLite database, one webhook, a succeeded run, one trace_id."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.acceptance


def run_demo(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "example"), str(ROOT / "src")]),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "automate", "demo"],
        cwd=ROOT / "example",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_demo_prints_a_succeeded_timeline_with_one_trace_id(tmp_path):
    result = run_demo(tmp_path)
    out = result.stdout
    trace_ids = set(re.findall(r'"trace_id": "([0-9a-f-]{36})"', out)) | set(
        re.findall(r"trace_id ([0-9a-f-]{36})", out)
    )
    assert len(trace_ids) == 1
    assert re.search(r"run\s+demo-fulfilment\s+succeeded", out)
    assert re.search(r"step log_order \(log.write\)\s+succeeded", out)
    assert re.search(r"step notify_fulfilment \(http.request\)\s+succeeded", out)
    # The workflow is a graph: two branches after log_order (one of them per order line), then a join.
    assert re.search(r"step reserve_lines\[0\] \(log.write\)\s+succeeded", out)
    assert re.search(r"step reserve_lines\[1\] \(log.write\)\s+succeeded", out)
    assert re.search(r"step reserve_lines \(log.write\)\s+succeeded", out)
    assert re.search(r"step summary \(log.write\)\s+succeeded", out)


def test_running_the_demo_again_reuses_its_workflow_version(tmp_path):
    first, second = run_demo(tmp_path), run_demo(tmp_path)
    versions = [re.findall(r"workflow demo-fulfilment v(\d+)", r.stdout) for r in (first, second)]
    assert versions == [["1"], ["1"]]
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM automate_workflowversion").fetchone() == (1,)

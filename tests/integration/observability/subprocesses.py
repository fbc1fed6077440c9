"""Starting ``child.py`` in a fresh interpreter with its own SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def run_child(mode: str, database: Path, **env: str) -> Any:
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment = {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "AUTOMATE_TEST_DB": "sqlite",
        "AUTOMATE_TEST_DB_NAME": str(database),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.observability.child", mode],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

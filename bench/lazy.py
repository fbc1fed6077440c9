"""Bench-only dependencies, pip-installed on first use into a cache folder of their own.

Each requirement gets its own ``--target`` folder (``~/.cache/django-automate-bench/<name>-<version>``,
``AUTOMATE_BENCH_CACHE`` to move it), put on the ``PYTHONPATH`` of the subprocesses that need it
only: the benchmark itself never imports them, so they cannot change what it measures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("AUTOMATE_BENCH_CACHE", "~/.cache/django-automate-bench")).expanduser()
GUNICORN = "gunicorn==27.0.1"
PROCRASTINATE = "procrastinate==3.10.0"
#: Its dependencies (Django, typing_extensions, django-stubs-ext) are the project's own: installed ``--no-deps``.
TASKS_DB = "django-tasks-db==0.13.0"


def installed(requirement: str, *extras: str, no_deps: bool = False) -> Path:
    """The folder holding ``requirement`` (and ``extras``), installed with the running interpreter.

    ``no_deps``: without its dependencies, for a package whose dependencies (Django) must stay the running ones.
    """
    name, version = requirement.split("==")
    target = CACHE / f"{name}-{version}"
    if not (target / ".installed").exists():
        print(f"  installing {requirement} into {target} (first use) …", flush=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--upgrade",
            "--no-warn-conflicts",
            "--target",
            str(target),
            *(["--no-deps"] if no_deps else []),
        ]
        subprocess.run([*command, requirement, *extras], check=True)
        (target / ".installed").touch()
    return target


def subprocess_env(*folders: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmark subprocess: the repository, ``src`` and ``folders`` importable."""
    paths = [str(folder) for folder in folders] + [str(ROOT), str(ROOT / "src")]
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": os.pathsep.join(paths), **extra}


def log_file() -> IO[bytes]:
    """Where a subprocess writes its stderr: a file, since an unread pipe fills up and blocks the writer."""
    return tempfile.TemporaryFile()


def tail(handle: IO[bytes] | None, size: int = 2000) -> str:
    if handle is None:
        return ""
    handle.seek(0)
    return handle.read().decode(errors="replace")[-size:]

"""Test matrix: the whole suite on the primary Python/Django on every database, a subset elsewhere.

``AUTOMATE_REQUIRE_DATABASES=1`` (set by CI) turns an unreachable PostgreSQL or MariaDB
into a failure; otherwise those sessions are skipped with a message saying so.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "compat", "prepared", "newest"]
nox.options.error_on_missing_interpreters = True

PRIMARY_PYTHON = "3.12"
PRIMARY_DJANGO = "5.2"
PREPARED_DJANGO = "6.1"  # the `prepared` session's (see there)
DATABASES = {
    "sqlite": None,
    "postgres": ("127.0.0.1", 5432, "postgres"),
    "mysql": ("127.0.0.1", 3306, "mysql"),
}
# (python, django) pairs beyond the primary one (3.12 / 5.2): every supported Python and every
# supported Django appears at least once. Django 6 needs Python 3.12+.
COMPAT = [
    ("3.10", "4.2"),
    ("3.11", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.1"),
]
COMPAT_TESTS = ["tests/unit", "tests/integration"]
TASKS_TESTS = ["tests/integration/tasks", "tests/acceptance/test_tasks.py"]
#: What prepared statements can change: the execution plane's SQL (claims, single-statement
#: transitions, routing, waits, tasks, schedules). The API, webhooks, rules and governance run the
#: same ORM statements in every session and stay in the primary PostgreSQL one.
PREPARED_TESTS = [
    "tests/integration/test_*.py",
    "tests/integration/workflows",
    "tests/integration/tasks",
    "tests/integration/triggers",
]
#: The admin's pages, in a browser and through the test client: run on the newest Django as well,
#: the version `pip install django-automate` gives a new project.
ADMIN_TESTS = ["tests/browser", "tests/integration/test_admin_permissions.py", "tests/integration/api"]
#: A project on the public ``django.tasks`` API of the newest Django, with real worker processes (the
#: integration tests of the backend run on Django 6.x in the compat sessions).
NEWEST_TASKS_TESTS = ["tests/acceptance/test_tasks.py"]
# The compat subset leaves out the long generative runs; the primary sessions run them.
COMPAT_EXCLUDED = [
    "--ignore=tests/integration/api/test_schema_fuzz.py",
    "--ignore=tests/integration/webhooks/test_fuzz.py",
    "--ignore=tests/integration/webhooks/test_concurrency.py",
]


def require_databases() -> bool:
    return os.environ.get("AUTOMATE_REQUIRE_DATABASES") == "1"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def django_spec(version: str) -> str:
    major, minor = version.split(".")
    return f"Django>={version},<{major}.{int(minor) + 1}"


@nox.session(python=PRIMARY_PYTHON)
def lint(session: nox.Session) -> None:
    session.install("-e", ".[dev,postgres]", django_spec(PRIMARY_DJANGO))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PRIMARY_PYTHON)
@nox.parametrize("db", list(DATABASES))
def tests(session: nox.Session, db: str) -> None:
    """The whole suite on the primary Python/Django against one database."""
    server = DATABASES[db]
    extras = "dev,tasks"  # Django 5.2: the Tasks framework comes from the backport
    if server is not None:
        host, port, extras_name = server
        if not reachable(host, port):
            message = f"{db} is not reachable at {host}:{port}"
            if require_databases():
                session.error(message)
            session.skip(f"SKIPPED the {db} suite: {message} (set AUTOMATE_REQUIRE_DATABASES=1 to fail instead)")
        extras = f"dev,tasks,{extras_name}"
    session.install("-e", f".[{extras}]", django_spec(PRIMARY_DJANGO), "dj-database-url")
    # The admin's browser tests do not depend on the database engine: they run once, on SQLite.
    markers = [] if db == "sqlite" else ["-m", "not browser"]
    session.run("pytest", *markers, *session.posargs, env={"AUTOMATE_TEST_DB": db})


@nox.session(python=PRIMARY_PYTHON)
def prepared(session: nox.Session) -> None:
    """The execution plane's tests on PostgreSQL with psycopg's prepared statements on (OPTIONS prepare_threshold=0).

    Django leaves them off; a project that turns them on gets its hot statements prepared
    (server-side binding): this runs every statement that way.
    """
    host, port, extras_name = DATABASES["postgres"] or ("", 0, "")
    if not reachable(host, port):
        message = f"postgres is not reachable at {host}:{port}"
        if require_databases():
            session.error(message)
        session.skip(f"SKIPPED the prepared-statement suite: {message}")
    # Django 6.1: before it, the query log has no text for statements bound on the server, which tests read.
    session.install("-e", f".[dev,{extras_name}]", django_spec(PREPARED_DJANGO), "dj-database-url")
    env = {
        "AUTOMATE_TEST_DB": "postgres",
        "AUTOMATE_TEST_PREPARE_THRESHOLD": "0",
        "AUTOMATE_TEST_DB_SUFFIX": "_prepared",
    }
    tests = [str(path) for pattern in PREPARED_TESTS for path in sorted(Path().glob(pattern))]
    session.run("pytest", "-q", "-p", "no:cacheprovider", *tests, *session.posargs, env=env)


@nox.session
@nox.parametrize("python,django", COMPAT)
def compat(session: nox.Session, django: str) -> None:
    """Unit and integration tests on SQLite without the database-driver extras (the oldest Django: browser tests too).

    Before Django 6.0 the ``tasks`` extra brings the django-tasks backport, except on Python 3.10:
    that session proves the package works without it (the Tasks tests skip, saying why), then
    installs it and runs the Tasks tests on Django 4.2.
    """
    extras = "dev,tasks" if django < "6" and session.python != "3.10" else "dev"
    session.install("-e", f".[{extras}]", django_spec(django))
    # Its own SQLite file: scripts/test-matrix runs this beside the SQLite session.
    env = {"AUTOMATE_STATEFUL_EXAMPLES": "100", "AUTOMATE_TEST_DB_SUFFIX": "_compat"}
    # The admin's pages in a browser on the oldest Django too (the newest: the `newest` session).
    browser = ["tests/browser"] if django == COMPAT[0][1] else []
    tests = [*COMPAT_TESTS, *browser, *COMPAT_EXCLUDED]
    session.run("pytest", "-q", "-p", "no:cacheprovider", *tests, *session.posargs, env=env)
    if not extras.endswith("tasks") and django < "6":
        # Then with the backport: Django's Tasks framework on this Django too, with a real worker.
        session.install("django-tasks>=0.12")
        session.run("pytest", "-q", "-p", "no:cacheprovider", *TASKS_TESTS, *session.posargs, env=env)


@nox.session(python="3.13")
def newest(session: nox.Session) -> None:
    """The admin (browser tests included), the API and Django's Tasks framework on the newest Django, on SQLite.

    Unpinned on purpose: this is what a new project gets from pip today.
    """
    session.install("-e", ".[dev]", "--upgrade", "Django")
    session.run("python", "-c", "import django; print('Django', django.get_version())")
    env = {"AUTOMATE_TEST_DB_SUFFIX": "_newest"}
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *ADMIN_TESTS,
        *NEWEST_TASKS_TESTS,
        *COMPAT_EXCLUDED,
        *session.posargs,
        env=env,
    )

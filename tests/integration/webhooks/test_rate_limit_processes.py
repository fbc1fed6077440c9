"""The rate limit is one budget for all server processes when the cache is shared (here: the database cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.integration.webhooks import shared_cache_settings
from tests.integration.webhooks.windows import start_of_a_fresh_window, window

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
URL = "/automate/hooks/orders/"
OTHER_PROCESS = """
import json, sys, django
django.setup()
from django.test import Client
client = Client()
print(json.dumps([
    client.post("/automate/hooks/orders/", {"n": n, "try": sys.argv[1]}, content_type="application/json").status_code
    for n in range(10, 13)
]))
"""


@pytest.fixture
def shared_cache(settings):
    settings.CACHES = shared_cache_settings.CACHES
    call_command("createcachetable", verbosity=0)
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(shared_cache_settings.CACHE_TABLE)}")


def other_process_statuses(attempt: int) -> list[int]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integration.webhooks.shared_cache_settings",
        "AUTOMATE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(attempt)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stderr[-2000:]
    return json.loads(other.stdout.strip().splitlines()[-1])


def test_two_processes_share_one_allowance(client, endpoint_factory, shared_cache):
    endpoint = endpoint_factory(rate_limit_per_minute=4)
    for attempt in range(2):
        # A slow machine may cross into the next minute (a fresh allowance): then try once more.
        start_of_a_fresh_window()
        began = window()
        mine = [client.post(URL, {"n": n, "try": attempt}, content_type="application/json").status_code for n in (0, 1)]
        theirs = other_process_statuses(attempt)
        last = client.post(URL, {"n": 99, "try": attempt}, content_type="application/json")
        if window() == began:
            break
        endpoint.delete()
        endpoint = endpoint_factory(rate_limit_per_minute=4)
    else:
        pytest.fail("Each attempt took longer than a minute.")
    assert mine == [202, 202]
    assert theirs == [202, 202, 429]
    assert last.status_code == 429
    assert last.json()["code"] == "throttled"

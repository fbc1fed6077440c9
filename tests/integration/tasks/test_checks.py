"""System checks of the Tasks settings."""

from __future__ import annotations

import pytest

from django_automate.checks import check_task_settings


@pytest.mark.parametrize(
    ("values", "ids"),
    [
        ({}, []),
        ({"TASKS_ALLOWED": ["myapp.tasks.send", "billing.tasks.*"], "TASK_MAX_RESULT_BYTES": 10}, []),
        ({"TASKS_ALLOWED": "myapp.tasks.*"}, ["automate.E095"]),
        ({"TASKS_ALLOWED": ["ok.task", 3]}, ["automate.E095"]),
        ({"TASK_MAX_RESULT_BYTES": 0}, ["automate.E096"]),
        ({"TASK_MAX_RESULT_BYTES": "1MB"}, ["automate.E096"]),
    ],
)
def test_task_settings_are_checked(settings, values, ids):
    settings.AUTOMATE = {**settings.AUTOMATE, **values}
    assert [message.id for message in check_task_settings()] == ids

"""Audit entries record the id of the ``AUDIT_KEYS`` key that signed them (empty: unkeyed).

Existing entries get ``key_id = ""`` and keep verifying as unkeyed. SQLite adds the column
by rebuilding the table, which drops its triggers: they are installed again right after,
exactly as migration 0002 installs them (and again when it is unapplied).
"""

from importlib import import_module

from django.db import migrations, models


def reinstall_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    guard = import_module("django_automate.migrations.0002_audit_append_only")
    guard.uninstall(apps, schema_editor)
    guard.install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("automate", "0004_rule_generation")]

    operations = [
        # Unapplying removes the column, which rebuilds the table on SQLite too.
        migrations.RunPython(migrations.RunPython.noop, reinstall_sqlite_triggers, elidable=False),
        migrations.AddField(
            model_name="auditentry",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop, elidable=False),
    ]

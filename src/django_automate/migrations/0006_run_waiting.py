"""Runs can be ``waiting`` (a ``sleep`` step), with ``waiting_until``: when their job is due again.

The new status is a choice only (no database change); the new column is nullable, so
existing rows need no rewrite.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("automate", "0005_audit_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="executionrun",
            name="waiting_until",
            field=models.DateTimeField(blank=True, help_text="While waiting: when the run goes on.", null=True),
        ),
        migrations.AlterField(
            model_name="executionrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("running", "Running"),
                    ("waiting", "Waiting"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
    ]

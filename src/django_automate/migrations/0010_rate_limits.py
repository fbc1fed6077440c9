"""The token buckets of step ``rate_limit`` keys (SPEC §14): a new table, nothing existing is rewritten."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('automate', '0009_tasks'),
    ]

    operations = [
        migrations.CreateModel(
            name='RateLimitBucket',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('tenant', models.CharField(blank=True, db_index=True, default='', max_length=64)),
                ('key_hash', models.CharField(help_text='SHA-256 of the rendered key.', max_length=64)),
                ('key', models.CharField(help_text='The rendered key (its start, if longer).', max_length=255)),
                ('tokens', models.FloatField()),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'ordering': ('tenant', 'key'),
                'constraints': [models.UniqueConstraint(fields=('tenant', 'key_hash'), name='automate_ratelimitbucket_unique_key')],
            },
        ),
    ]

"""The per-tenant routing generations, and the database triggers that bump them.

Every INSERT, UPDATE and DELETE of ``automate_rulespec`` bumps ``generation`` of each tenant it
touches (both tenants when a rule moves), and every write to ``automate_workflow`` bumps
``workflow_generation``, in the same transaction, whatever issued it (``save()``,
``QuerySet.update()``, ``bulk_create()``, raw SQL). A tenant's first generations are random,
so a row deleted and created again (a flushed test database) does not repeat a value that a
process may have cached. An UPDATE of a rule that leaves ``version`` alone
(``QuerySet.update(priority=5)``) bumps it, so a rule's (id, version) always names one content.

- PostgreSQL: statement triggers with transition tables (one upsert per tenant and
  statement, however many rows); TRUNCATE bumps every tenant.
- MySQL/MariaDB: row triggers (MySQL has no statement triggers and none on TRUNCATE).
- SQLite: row triggers (SQLite has no TRUNCATE statement).

The SQL is spelled out here, not imported, so that this migration keeps doing what it did
when it was written.
"""

from django.db import migrations, models

GENERATIONS = "automate_rulegeneration"
VERSION_FUNCTION = "automate_rulespec_bump_version"
# (table, column bumped, trigger name prefix, PostgreSQL function)
WATCHED = [
    ("automate_rulespec", "generation", "automate_rulespec_generation_", "automate_rulespec_bump_generation"),
    ("automate_workflow", "workflow_generation", "automate_workflow_generation_", "automate_workflow_bump_generation"),
]
# First generation of a tenant: random in [1, 2**52].
START = {
    "postgresql": "floor(random() * 4503599627370496)::bigint + 1",
    "mysql": "FLOOR(1 + RAND() * 4503599627370496)",
    "sqlite": "abs(random() % 4503599627370496) + 1",
}


def _postgresql():
    statements = []
    for table, column, prefix, function in WATCHED:
        upsert = (
            f"INSERT INTO {GENERATIONS} (tenant, generation, workflow_generation) "
            f"SELECT tenant, {START['postgresql']}, {START['postgresql']} FROM ({{tenants}}) AS t ORDER BY tenant "
            f"ON CONFLICT (tenant) DO UPDATE SET {column} = {GENERATIONS}.{column} + 1;"
        )
        tail = f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        statements += [
            f"""
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    {upsert.format(tenants="SELECT DISTINCT tenant FROM new_rows")}
                ELSIF TG_OP = 'UPDATE' THEN
                    {upsert.format(tenants="SELECT tenant FROM new_rows UNION SELECT tenant FROM old_rows")}
                ELSIF TG_OP = 'DELETE' THEN
                    {upsert.format(tenants="SELECT DISTINCT tenant FROM old_rows")}
                ELSE
                    UPDATE {GENERATIONS} SET {column} = {column} + 1;
                END IF;
                RETURN NULL;
            END;
            $$
            """,
            f"CREATE TRIGGER {prefix}insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {tail}",
            f"CREATE TRIGGER {prefix}update AFTER UPDATE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {tail}",
            f"CREATE TRIGGER {prefix}delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {tail}",
            f"CREATE TRIGGER {prefix}truncate AFTER TRUNCATE ON {table} {tail}",
        ]
    rules, _, prefix, _ = WATCHED[0]
    return [
        *statements,
        f"""
        CREATE OR REPLACE FUNCTION {VERSION_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.version = OLD.version THEN
                NEW.version := OLD.version + 1;
            END IF;
            RETURN NEW;
        END;
        $$
        """,
        f"CREATE TRIGGER {prefix}version BEFORE UPDATE ON {rules} FOR EACH ROW EXECUTE FUNCTION {VERSION_FUNCTION}()",
    ]


def _mysql():
    statements = []
    for table, column, prefix, _ in WATCHED:

        def bump(tenant, column=column):
            return (
                f"INSERT INTO {GENERATIONS} (tenant, generation, workflow_generation) "
                f"VALUES ({tenant}, {START['mysql']}, {START['mysql']}) "
                f"ON DUPLICATE KEY UPDATE {column} = {column} + 1"
            )

        statements += [
            f"CREATE TRIGGER {prefix}insert AFTER INSERT ON {table} FOR EACH ROW {bump('NEW.tenant')}",
            f"CREATE TRIGGER {prefix}update AFTER UPDATE ON {table} FOR EACH ROW BEGIN "
            f"{bump('NEW.tenant')}; "
            f"IF NOT (OLD.tenant <=> NEW.tenant) THEN {bump('OLD.tenant')}; END IF; "
            "END",
            f"CREATE TRIGGER {prefix}delete AFTER DELETE ON {table} FOR EACH ROW {bump('OLD.tenant')}",
        ]
    rules, _, prefix, _ = WATCHED[0]
    return [
        *statements,
        f"CREATE TRIGGER {prefix}version BEFORE UPDATE ON {rules} FOR EACH ROW "
        "BEGIN IF NEW.version = OLD.version THEN SET NEW.version = OLD.version + 1; END IF; END",
    ]


def _sqlite():
    statements = []
    for table, column, prefix, _ in WATCHED:

        def bump(tenant, where="true", column=column):
            # INSERT ... SELECT needs its WHERE clause before an upsert's ON CONFLICT.
            return (
                f"INSERT INTO {GENERATIONS} (tenant, generation, workflow_generation) "
                f"SELECT {tenant}, {START['sqlite']}, {START['sqlite']} WHERE {where} "
                f"ON CONFLICT (tenant) DO UPDATE SET {column} = {column} + 1;"
            )

        statements += [
            f"CREATE TRIGGER {prefix}insert AFTER INSERT ON {table} BEGIN {bump('NEW.tenant')} END",
            f"CREATE TRIGGER {prefix}update AFTER UPDATE ON {table} BEGIN "
            f"{bump('NEW.tenant')} {bump('OLD.tenant', 'OLD.tenant IS NOT NEW.tenant')} END",
            f"CREATE TRIGGER {prefix}delete AFTER DELETE ON {table} BEGIN {bump('OLD.tenant')} END",
        ]
    rules, _, prefix, _ = WATCHED[0]
    return [
        *statements,
        # SQLite cannot assign NEW: a second UPDATE, which fires no trigger recursively.
        f"CREATE TRIGGER {prefix}version AFTER UPDATE ON {rules} WHEN NEW.version = OLD.version "
        f"BEGIN UPDATE {rules} SET version = version + 1 WHERE id = NEW.id; END",
    ]


def _statements(vendor):
    return {"postgresql": _postgresql, "mysql": _mysql, "sqlite": _sqlite}.get(vendor, list)()


def _reverse_statements(vendor):
    names = ("insert", "update", "delete", "version", "truncate")
    if vendor == "postgresql":
        return [
            *(f"DROP TRIGGER IF EXISTS {prefix}{name} ON {table}" for table, _, prefix, _ in WATCHED for name in names),
            *(f"DROP FUNCTION IF EXISTS {function}()" for *_, function in WATCHED),
            f"DROP FUNCTION IF EXISTS {VERSION_FUNCTION}()",
        ]
    if vendor in ("mysql", "sqlite"):
        return [f"DROP TRIGGER IF EXISTS {prefix}{name}" for _, _, prefix, _ in WATCHED for name in names]
    return []


def install(apps, schema_editor):
    for sql in _statements(schema_editor.connection.vendor):
        schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    for sql in _reverse_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("automate", "0003_claim_order_index")]

    operations = [
        migrations.CreateModel(
            name="RuleGeneration",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tenant", models.CharField(max_length=64, unique=True)),
                ("generation", models.BigIntegerField(help_text="Bumped by every write to the tenant's rules.")),
                ("workflow_generation", models.BigIntegerField(help_text="Bumped by every write to the tenant's workflows.")),
            ],
        ),
        # MySQL cannot run DDL inside a transaction; PostgreSQL and SQLite still run the whole
        # migration in one.
        migrations.RunPython(install, uninstall, atomic=False, elidable=False),
    ]

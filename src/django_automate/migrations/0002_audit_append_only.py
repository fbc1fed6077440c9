"""Database triggers that keep the audit log append-only.

- PostgreSQL: a row trigger rejects UPDATE and DELETE, a statement trigger rejects TRUNCATE.
- MySQL/MariaDB: row triggers reject UPDATE and DELETE (DELETE is allowed only to a session
  that set ``@automate_audit_maintenance = 1``, which Django's ``flush`` does through
  django-automate). MySQL cannot attach a trigger to TRUNCATE.
- SQLite: row triggers reject UPDATE and DELETE; SQLite has no TRUNCATE statement (a
  ``DELETE`` without ``WHERE`` fires the DELETE trigger).

The SQL is spelled out here, not imported, so that this migration keeps doing what it did
when it was written.
"""

from django.db import migrations

FUNCTION = "automate_auditentry_reject"
MESSAGE = "automate_auditentry is append-only"


def _statements(vendor, table):
    if vendor == "postgresql":
        return [
            f"""
            CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION USING
                    ERRCODE = 'restrict_violation',
                    MESSAGE = '{MESSAGE}: ' || TG_OP || ' rejected';
            END;
            $$
            """,
            f"CREATE TRIGGER automate_auditentry_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
            f"CREATE TRIGGER automate_auditentry_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        ]
    if vendor == "mysql":
        return [
            f"CREATE TRIGGER automate_auditentry_no_update BEFORE UPDATE ON {table} FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{MESSAGE}: UPDATE rejected'",
            f"CREATE TRIGGER automate_auditentry_no_delete BEFORE DELETE ON {table} FOR EACH ROW "
            "BEGIN "
            "IF @automate_audit_maintenance IS NULL OR @automate_audit_maintenance <> 1 THEN "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{MESSAGE}: DELETE rejected'; "
            "END IF; "
            "END",
        ]
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER automate_auditentry_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE rejected'); END",
            f"CREATE TRIGGER automate_auditentry_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE rejected'); END",
        ]
    return []


def _reverse_statements(vendor, table):
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS automate_auditentry_no_truncate ON {table}",
            f"DROP TRIGGER IF EXISTS automate_auditentry_append_only ON {table}",
            f"DROP FUNCTION IF EXISTS {FUNCTION}()",
        ]
    if vendor in ("mysql", "sqlite"):
        return [
            "DROP TRIGGER IF EXISTS automate_auditentry_no_delete",
            "DROP TRIGGER IF EXISTS automate_auditentry_no_update",
        ]
    return []


def _table(apps, schema_editor):
    return schema_editor.quote_name(apps.get_model("automate", "AuditEntry")._meta.db_table)


def install(apps, schema_editor):
    for sql in _statements(schema_editor.connection.vendor, _table(apps, schema_editor)):
        schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    for sql in _reverse_statements(schema_editor.connection.vendor, _table(apps, schema_editor)):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("automate", "0001_initial")]

    # MySQL cannot run DDL inside a transaction; PostgreSQL and SQLite still run the whole
    # migration in one.
    operations = [migrations.RunPython(install, uninstall, atomic=False, elidable=False)]

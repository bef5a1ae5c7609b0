"""Database-level guard: audit events cannot be updated (any backend) or deleted (PostgreSQL).

SQLite keeps DELETE open because Django's test flush empties tables with DELETE; PostgreSQL flushes
with TRUNCATE, which row triggers do not see.
"""

from django.db import migrations

TABLE = "governance_auditevent"

POSTGRES_FORWARD = [
    """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only';
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
]
POSTGRES_REVERSE = [
    f"DROP TRIGGER IF EXISTS audit_event_no_update ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_event_no_delete ON {TABLE}",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
]
SQLITE_FORWARD = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS audit_event_no_update"]


def forward(apps, schema_editor):
    for statement in {"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}.get(
        schema_editor.connection.vendor, []
    ):
        schema_editor.execute(statement, params=None)


def reverse(apps, schema_editor):
    for statement in {"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}.get(
        schema_editor.connection.vendor, []
    ):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]

"""The audit log moves to the `audit` app: the table is renamed in place, rows and triggers included.

The database keeps the table (renamed to `audit_auditevent`; PostgreSQL and SQLite both carry its
triggers and indexes over on ALTER TABLE … RENAME); only Django's state forgets the model here, and
`audit.0001_initial` adopts it without touching the database.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_audit_event_append_only_triggers")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable(name="auditevent", table="audit_auditevent")],
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
        )
    ]

"""The audit log becomes a hash chain: two nullable columns (added in place, triggers kept), then every
existing event hashed in `id` order. The rows are append-only, so the update trigger is lifted for the
one backfill and put back exactly as it was."""

from django.db import migrations, models

TABLE = "audit_auditevent"
SQLITE_TRIGGER = f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"""


def hash_existing_events(apps, schema_editor):
    from audit import chain

    AuditEvent = apps.get_model("audit", "AuditEvent")
    vendor = schema_editor.connection.vendor
    rows = AuditEvent.objects.order_by("id").values("id", *chain.CHAINED_FIELDS)
    if not rows.exists():
        return
    if vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_event_no_update")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    previous = chain.GENESIS
    with schema_editor.connection.cursor() as cursor:
        for row in rows.iterator(chunk_size=2000):
            digest = chain.event_hash(row, previous)
            cursor.execute(
                f"UPDATE {TABLE} SET prev_hash = %s, hash = %s WHERE id = %s", [previous, digest, row["id"]]
            )
            previous = digest
    if vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_event_no_update")
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        # Its backfill writes an audit event: hash it with the rest.
        ("projects", "0003_dataset_retention_days_bounded"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(
                blank=True, help_text="The hash of the event before this one.", max_length=64, null=True
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(
                blank=True,
                help_text="SHA-256 of this event's content and prev_hash.",
                max_length=64,
                null=True,
            ),
        ),
        migrations.RunPython(hash_existing_events, migrations.RunPython.noop),
    ]

"""Adopt the audit log's table from `governance` (renamed there by governance.0003): state only.

Its content type moves with it, so the permissions (and the reviewers' group) attached to it stay.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="governance", target="audit"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=target, model="auditevent").exists():
        ContentType.objects.filter(app_label=source, model="auditevent").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="audit", target="governance")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("governance", "0003_move_audit_event_to_audit"),
        ("projects", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "occurred_at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                        (
                            "actor_label",
                            models.CharField(
                                blank=True, help_text="The actor's username when written.", max_length=150
                            ),
                        ),
                        ("action", models.CharField(db_index=True, max_length=80)),
                        ("target_type", models.CharField(blank=True, max_length=80)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("payload", models.JSONField(blank=True, default=dict)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "team",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="projects.team",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-occurred_at", "-id"],
                        "indexes": [
                            models.Index(fields=["target_type", "target_id"], name="audit_target_idx")
                        ],
                    },
                )
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]

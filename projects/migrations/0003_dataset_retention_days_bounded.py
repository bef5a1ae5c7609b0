"""Retention is bounded to 36,500 days; a data card saved before the bound with a larger value (which made
its dataset, the project's dataset list and the project page fail with a date overflow) is clamped to the
bound, and each repair is recorded in the audit log as a system event."""

import logging

import django.core.validators
from django.db import migrations, models
from django.utils import timezone

MAX_RETENTION_DAYS = 36_500
logger = logging.getLogger(__name__)


def clamp_retention_days(apps, schema_editor):
    Dataset = apps.get_model("projects", "Dataset")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    broken = Dataset.objects.filter(retention_days__gt=MAX_RETENTION_DAYS).select_related("project")
    for dataset in broken:
        previous = dataset.retention_days
        # .update(), not .save(): the migration must not touch updated_at (the card did not change by hand).
        Dataset.objects.filter(pk=dataset.pk).update(retention_days=MAX_RETENTION_DAYS)
        AuditEvent.objects.create(
            occurred_at=timezone.now(),
            team_id=dataset.project.team_id,
            action="dataset.retention_repaired",
            target_type="projects.dataset",
            target_id=str(dataset.pk),
            payload={"retention_days": [previous, MAX_RETENTION_DAYS], "reason": "above the bound"},
        )
        logger.warning(
            "Dataset %s: retention_days %s clamped to %s.", dataset.pk, previous, MAX_RETENTION_DAYS
        )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_projects_charters_datasets"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dataset",
            name="retention_days",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Days the data may be kept after upload; empty for no limit.",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1, message="Keep the data at least 1 day."),
                    django.core.validators.MaxValueValidator(
                        36500, message="Retention is at most 36,500 days (100 years)."
                    ),
                ],
            ),
        ),
        migrations.RunPython(clamp_retention_days, migrations.RunPython.noop),
    ]

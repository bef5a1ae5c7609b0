"""The append-only audit log: one row per thing that happened, written by `audit_event_record` only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit import chain
from studio.tenancy import member_team_ids, sees_every_team


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def for_user(self, user) -> AuditEventQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if sees_every_team(user):
            return self.all()
        return self.filter(models.Q(team_id__in=member_team_ids(user)) | models.Q(actor_id=user.pk))

    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One thing that happened, by whom, to what, in which team; never changed once written.

    Every column is known before the INSERT (`occurred_at` included), rows are ordered by `id`, and
    database triggers refuse UPDATE (and DELETE on PostgreSQL). The log is a hash chain (`audit.chain`):
    `hash` covers the row's content and `prev_hash`, the hash of the row before it in `id` order, both
    filled by `audit_event_record`, the only writer. The columns are nullable so that adding them was an
    ALTER TABLE ADD COLUMN on both backends, which keeps the table and its triggers.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="The actor's username when written.")
    team = models.ForeignKey(
        "projects.Team",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(
        max_length=64, null=True, blank=True, help_text="The hash of the event before this one."
    )
    hash = models.CharField(
        max_length=64, null=True, blank=True, help_text="SHA-256 of this event's content and prev_hash."
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    def chained_fields(self) -> dict:
        """The row as `audit.chain` reads it."""
        return {"id": self.pk, "hash": self.hash, "prev_hash": self.prev_hash} | {
            name: getattr(self, name) for name in chain.CHAINED_FIELDS
        }

"""The abstract base every studio model shares."""

from django.db import models

from studio.tenancy import TeamScopedQuerySet

# What the integer columns hold on every backend, so inputs can be bounded before a lookup or a save
# overflows: a BigAutoField primary key, and a PositiveIntegerField (a 4-byte integer on PostgreSQL).
MAX_OBJECT_ID = 2**63 - 1
MAX_POSITIVE_INTEGER = 2**31 - 1


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TeamOwnedModel(TimeStampedModel):
    """A model that belongs to a team; `team_path` is the lookup from this model to its Team."""

    team_path = "team"

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        abstract = True

"""The abstract base every studio model shares."""

from django.db import models

from studio.tenancy import TeamScopedQuerySet


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

"""Reads for teams and people; every function takes the acting user and goes through `for_user`."""

from __future__ import annotations

from django.db.models import Count, Max, OuterRef, Prefetch, QuerySet, Subquery

from projects.choices import ImportStatus
from projects.models import (
    Charter,
    Dataset,
    DatasetImport,
    DatasetVersion,
    Membership,
    PersonalAccessToken,
    Project,
    Team,
)
from studio.tenancy import get_for_user


def team_list(*, user) -> QuerySet[Team]:
    return Team.objects.for_user(user).order_by("name")


def team_get(*, user, slug: str) -> Team:
    return get_for_user(Team.objects.all(), user, slug=slug)


def membership_list(*, user, team: Team | None = None) -> QuerySet[Membership]:
    qs = (
        Membership.objects.for_user(user)
        .select_related("team", "user")
        .order_by("team__name", "user__username")
    )
    return qs.filter(team=team) if team is not None else qs


def membership_get(*, user, pk) -> Membership:
    return get_for_user(Membership.objects.select_related("team", "user"), user, pk=pk)


def personal_access_token_list(*, user) -> QuerySet[PersonalAccessToken]:
    return PersonalAccessToken.objects.for_user(user)


def personal_access_token_get(*, user, pk) -> PersonalAccessToken:
    return get_for_user(PersonalAccessToken.objects.all(), user, pk=pk)


def project_list(*, user, team: Team | None = None) -> QuerySet[Project]:
    qs = Project.objects.for_user(user).select_related("team", "owner")
    return qs.filter(team=team) if team is not None else qs


def project_summary_list(*, user, team: Team) -> QuerySet[Project]:
    """Projects with `charter_version` (latest, or None) and `dataset_count` annotated, in one query."""
    return project_list(user=user, team=team).annotate(
        charter_version=Max("charters__version"), dataset_count=Count("datasets", distinct=True)
    )


def project_get(*, user, pk) -> Project:
    return get_for_user(Project.objects.select_related("team", "owner"), user, pk=pk)


def charter_list(*, user, project: Project | None = None) -> QuerySet[Charter]:
    qs = Charter.objects.for_user(user).select_related("project", "author")
    return qs.filter(project=project) if project is not None else qs


def charter_latest(*, project: Project) -> Charter | None:
    """The project's current charter (its highest version), or None before the first is written."""
    return project.charters.order_by("-version").first()


def charters_latest(*, project_ids) -> dict[int, Charter]:
    """The current charter of each of these projects, in one query (projects without one are absent)."""
    newest = Charter.objects.filter(project=OuterRef("project")).order_by("-version").values("pk")[:1]
    charters = Charter.objects.filter(project_id__in=set(project_ids), pk=Subquery(newest))
    return {charter.project_id: charter for charter in charters}


def dataset_list(*, user, project: Project | None = None) -> QuerySet[Dataset]:
    qs = Dataset.objects.for_user(user).select_related("project__team", "created_by")
    return qs.filter(project=project) if project is not None else qs


def dataset_get(*, user, pk) -> Dataset:
    return get_for_user(Dataset.objects.select_related("project__team", "created_by"), user, pk=pk)


def dataset_version_list(*, user, dataset: Dataset | None = None) -> QuerySet[DatasetVersion]:
    qs = DatasetVersion.objects.for_user(user).select_related(
        "dataset__project__team", "created_by", "parent"
    )
    return qs.filter(dataset=dataset) if dataset is not None else qs


def dataset_version_get(*, user, pk) -> DatasetVersion:
    return get_for_user(
        DatasetVersion.objects.select_related(
            "dataset__project__team", "created_by", "parent", "merged_from"
        ),
        user,
        pk=pk,
    )


def dataset_list_with_versions(*, user, project: Project) -> QuerySet[Dataset]:
    """A project's datasets with their versions prefetched newest first (`dataset.versions.all()[0]`)."""
    return dataset_list(user=user, project=project).prefetch_related(
        Prefetch("versions", queryset=DatasetVersion.objects.order_by("-number"))
    )


def dataset_import_list(*, user, project: Project | None = None) -> QuerySet[DatasetImport]:
    qs = DatasetImport.objects.for_user(user).select_related("project__team", "dataset", "created_by")
    return qs.filter(project=project) if project is not None else qs


def dataset_import_get(*, user, pk) -> DatasetImport:
    return get_for_user(
        DatasetImport.objects.select_related("project__team", "dataset", "created_by", "dataset_version"),
        user,
        pk=pk,
    )


def dataset_imports_in_progress(*, user, project: Project) -> list[DatasetImport]:
    """The project's uploads still being checked (queued or running), oldest first."""
    return list(
        dataset_import_list(user=user, project=project)
        .filter(status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING))
        .order_by("created_at")
    )

"""Data repairs shipped as migrations: a project broken by a stored out-of-range value opens again."""

import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent
from projects import services
from projects.models import MAX_RETENTION_DAYS, Dataset
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

BEFORE_BOUND = [("projects", "0002_projects_charters_datasets")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_a_retention_stored_before_the_bound_is_clamped_audited_and_the_project_opens(
    api, client, team, owner
):
    project = ProjectFactory(team=team, owner=owner)
    CharterFactory(project=project, author=owner, version=1)
    rows = io.BytesIO(jsonl_bytes(classification_rows(12)))
    dataset = services.dataset_upload(project=project, user=owner, file=rows, filename="i.jsonl").dataset
    try:
        _migrate(BEFORE_BOUND)
        # What the old bug stored: accepted by the API, then every page reading the dataset failed.
        Dataset.objects.filter(pk=dataset.pk).update(retention_days=10_000_000)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert Dataset.objects.get(pk=dataset.pk).retention_days == MAX_RETENTION_DAYS
    event = AuditEvent.objects.get(action="dataset.retention_repaired")
    assert (event.team_id, event.target_id, event.actor_label) == (team.pk, str(dataset.pk), "")
    assert event.payload["retention_days"] == [10_000_000, MAX_RETENTION_DAYS]
    assert api.as_user(owner).get(f"/api/v1/datasets/{dataset.pk}/").status_code == 200
    client.force_login(owner)
    assert client.get(f"/projects/{project.pk}/").status_code == 200

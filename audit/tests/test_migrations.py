"""The audit log's move out of `governance`: every row, its triggers and its permissions come along."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify

BEFORE_MOVE = [("governance", "0002_audit_event_append_only_triggers"), ("audit", None)]
TRIGGERS = {
    "sqlite": {"audit_event_no_update"},  # DELETE stays open: the test flush empties tables with it
    "postgresql": {"audit_event_no_update", "audit_event_no_delete"},
}


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _triggers_on(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table]
            )
        return {row[0] for row in cursor.fetchall()}


def _assert_append_only(event_id: int) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [event_id])
    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event_id])


@pytest.mark.django_db
def test_a_fresh_database_has_the_audit_table_with_its_triggers(team):
    assert _triggers_on("audit_auditevent") == TRIGGERS[connection.vendor]
    event = AuditEvent.objects.create(action="team.create", team=team)
    _assert_append_only(event.pk)
    assert AuditEvent.objects.get(pk=event.pk).action == "team.create"


@pytest.mark.django_db(transaction=True)
def test_rows_triggers_and_permissions_written_before_the_move_survive_it():
    from django.contrib.auth.models import Permission

    view_permission = Permission.objects.get(content_type__app_label="audit", codename="view_auditevent")
    try:
        _migrate(BEFORE_MOVE)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO governance_auditevent (occurred_at, actor_label, action, target_type, target_id,"
                " payload, request_id) VALUES (%s, 'olivia', 'team.create', 'projects.team', '7', %s, 'r-1')",
                ["2026-01-02 03:04:05+00:00", '{"name": "Support"}'],
            )
            cursor.execute("SELECT id FROM governance_auditevent WHERE request_id = 'r-1'")
            (event_id,) = cursor.fetchone()
        assert Permission.objects.get(pk=view_permission.pk).content_type.app_label == "governance"
    finally:
        _migrate(_latest())

    event = AuditEvent.objects.get(pk=event_id)
    assert (event.actor_label, event.action, event.target_id, event.payload) == (
        "olivia",
        "team.create",
        "7",
        {"name": "Support"},
    )
    assert event.occurred_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert _triggers_on("audit_auditevent") == TRIGGERS[connection.vendor]
    _assert_append_only(event_id)
    assert event.hash and audit_chain_verify().ok  # hashed into the chain by audit.0002
    assert Permission.objects.get(pk=view_permission.pk).content_type.app_label == "audit"

"""The tamper-evident audit chain: every change made directly in the database is found, and the first
broken link named; the export carries the chain so that it verifies outside the studio."""

from __future__ import annotations

import io
import itertools
import json
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from audit import chain, exports
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_event_record

pytestmark = pytest.mark.django_db


def _write_events(team, actor, count: int = 5) -> list[AuditEvent]:
    events = []
    for number in range(count):
        with transaction.atomic():
            events.append(
                audit_event_record(
                    actor=actor,
                    action="team.update",
                    team=team,
                    payload={"n": number, "text": "é ✓", "f": 0.1},
                )
            )
    return events


def _tamper(sql: str, params=()) -> None:
    """Run `sql` past the append-only triggers, as someone with direct database access could."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_event_no_update'"
            )
            (trigger,) = cursor.fetchone()
            cursor.execute("DROP TRIGGER audit_event_no_update")
            cursor.execute(sql, params)
            cursor.execute(trigger)


def _verify_command() -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_events_written_by_the_service_form_a_chain_that_verifies(team, owner):
    events = _write_events(team, owner)
    assert events[0].prev_hash == (
        AuditEvent.objects.filter(id__lt=events[0].id).order_by("-id").values_list("hash", flat=True).first()
        or ""
    )
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    verdict = audit_chain_verify()
    assert verdict.ok and verdict.checked == AuditEvent.objects.count()
    assert "chain intact" in _verify_command()


def test_a_row_altered_in_the_database_is_found(team, owner):
    events = _write_events(team, owner)
    _tamper("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE id = %s", [events[2].id])
    verdict = audit_chain_verify()
    assert (verdict.first_break.event_id, verdict.first_break.kind) == (events[2].id, "altered")
    with pytest.raises(CommandError, match=f"Event #{events[2].id} does not match its hash"):
        _verify_command()


def test_a_row_altered_together_with_its_own_hash_is_found_at_the_next_link(team, owner):
    events = _write_events(team, owner)
    forged = events[2].chained_fields() | {"payload": {"n": 99}}
    _tamper(
        "UPDATE audit_auditevent SET payload = %s, hash = %s WHERE id = %s",
        [json.dumps({"n": 99}), chain.event_hash(forged, events[2].prev_hash), events[2].id],
    )
    verdict = audit_chain_verify()
    assert (verdict.first_break.event_id, verdict.first_break.kind) == (events[3].id, "link")


def test_a_deleted_row_is_found(team, owner):
    events = _write_events(team, owner)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    verdict = audit_chain_verify()
    assert (verdict.first_break.event_id, verdict.first_break.previous_id) == (events[2].id, events[0].id)
    with pytest.raises(CommandError, match=f"Event #{events[2].id} does not follow event #{events[0].id}"):
        _verify_command()


def test_a_row_inserted_in_the_database_is_found(team, owner):
    events = _write_events(team, owner)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_label, action, target_type, target_id, payload,"
            " request_id) VALUES (%s, 'mallory', 'team.update', '', '', '{}', '')",
            [events[-1].occurred_at],
        )
    verdict = audit_chain_verify()
    assert verdict.first_break.kind == "unchained" and verdict.first_break.previous_id == events[-1].id


def test_a_row_inserted_with_a_forged_hash_but_no_true_link_is_found(team, owner):
    events = _write_events(team, owner)
    forged = events[1].chained_fields() | {"action": "team.delete"}
    digest = chain.event_hash(forged, events[0].hash)  # linked to an old event, not the head
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_label, action, target_type, target_id, payload,"
            " request_id, team_id, actor_id, prev_hash, hash) VALUES (%s, %s, 'team.delete', '', '', %s, '',"
            " %s, %s, %s, %s)",
            [
                events[1].occurred_at,
                owner.username,
                json.dumps(events[1].payload),
                team.pk,
                owner.pk,
                events[0].hash,
                digest,
            ],
        )
    verdict = audit_chain_verify()
    assert verdict.first_break.kind == "link" and verdict.first_break.previous_id == events[-1].id


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_carries_the_chain_and_verifies_outside_the_studio(tmp_path, team, owner, fmt):
    _write_events(team, owner)
    text = "".join(exports.lines(AuditEvent.objects.all(), fmt))
    rows = list(exports.parse(io.StringIO(text, newline=""), fmt))
    assert len(rows) == AuditEvent.objects.count()
    assert all(row["hash"] for row in rows)
    assert chain.verify(rows).ok

    path = tmp_path / f"audit.{fmt}"
    path.write_text(text, encoding="utf-8", newline="")
    out = io.StringIO()
    call_command("audit_verify", file=path, stdout=out)
    assert "chain intact" in out.getvalue()

    path.write_text(text.replace('"n": 3', '"n": 4').replace('""n"": 3', '""n"": 4'), encoding="utf-8")
    with pytest.raises(CommandError, match="does not match its hash"):
        call_command("audit_verify", file=path, stdout=io.StringIO())


def test_the_admin_console_reports_the_first_broken_link_and_exports_with_filters(
    client, team, owner, reviewer
):
    events = _write_events(team, owner)
    client.force_login(reviewer)
    page = client.get("/admin/audit/auditevent/verify/")
    assert page.status_code == 200 and b'data-chain="intact"' in page.content
    listing = client.get("/admin/audit/auditevent/")
    assert b"/admin/audit/auditevent/export/jsonl/" in listing.content
    assert b"/admin/audit/auditevent/verify/" in listing.content

    exported = client.get("/admin/audit/auditevent/export/jsonl/", {"action": "team.update"})
    rows = [json.loads(line) for line in b"".join(exported.streaming_content).decode().splitlines()]
    assert [row["id"] for row in rows] == [event.id for event in events]
    assert {row["team"] for row in rows} == {"support"}
    csv_export = client.get("/admin/audit/auditevent/export/csv/")
    assert csv_export["Content-Type"].startswith("text/csv")
    assert b"prev_hash,hash" in b"".join(csv_export.streaming_content)

    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[3].id])
    page = client.get("/admin/audit/auditevent/verify/")
    assert b'data-chain="broken"' in page.content
    assert f"Event #{events[4].id} does not follow event #{events[2].id}".encode() in page.content


def test_team_members_cannot_open_the_whole_log_verification(client, team, owner):
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    assert client.get("/admin/audit/auditevent/verify/").status_code in (302, 403, 404)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Concurrent writers need PostgreSQL (SQLite has one writer at a time); CI runs it on PostgreSQL.",
)
def test_concurrent_writers_on_postgresql_keep_one_chain(team, owner):
    writers, per_writer = 8, 15
    barrier = threading.Barrier(writers)
    errors = []

    def write(number: int) -> None:
        try:
            barrier.wait()
            for index in range(per_writer):
                with transaction.atomic():
                    audit_event_record(
                        actor=None, action="test.concurrent", team=team, payload={"w": number, "i": index}
                    )
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEvent.objects.filter(action="test.concurrent").count() == writers * per_writer
    verdict = audit_chain_verify()
    assert verdict.ok, verdict.first_break
    assert "chain intact" in _verify_command()

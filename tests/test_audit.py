"""The audit log: written with each change, in its transaction; never changed through admin, API or ORM."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditEvent
from projects.models import Membership

pytestmark = pytest.mark.django_db


def test_membership_changes_are_audited_with_actor_team_payload_and_request_id(api, team, owner, outsider):
    api.as_user(owner)
    added = api.post(
        "/api/v1/members/",
        {"team": team.slug, "user": "oscar", "role": "viewer"},
        format="json",
        HTTP_X_REQUEST_ID="req-123",
    ).json()
    api.patch(f"/api/v1/members/{added['id']}/", {"role": "ml_engineer"}, format="json")
    api.delete(f"/api/v1/members/{added['id']}/")
    events = list(
        AuditEvent.objects.filter(action__startswith="membership.", target_id=str(added["id"])).order_by("id")
    )
    assert [e.action for e in events] == ["membership.add", "membership.change_role", "membership.remove"]
    assert all(e.actor == owner and e.team == team for e in events)
    assert events[0].payload == {"user": "oscar", "role": "viewer"}
    assert events[0].request_id == "req-123"
    assert events[1].payload["role"] == ["viewer", "ml_engineer"]
    assert events[0].occurred_at.utcoffset().total_seconds() == 0


def test_a_refused_change_leaves_no_audit_event(api, team, owner, viewer):
    before = AuditEvent.objects.count()
    api.as_user(viewer).post(
        "/api/v1/members/", {"team": team.slug, "user": "olivia", "role": "owner"}, format="json"
    )
    assert AuditEvent.objects.count() == before


def test_sign_ins_and_failed_sign_ins_are_audited(client, owner):
    client.post("/accounts/login/", {"username": "olivia", "password": "wrong"})
    client.post("/accounts/login/", {"username": "olivia", "password": "pw-for-tests"})
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_label"))
    assert ("auth.sign_in_failed", "") in actions
    assert ("auth.sign_in", "olivia") in actions


def test_audit_events_cannot_be_changed_through_the_api(api, team, owner):
    api.as_user(owner)
    event = AuditEvent.objects.create(action="team.create", team=team)
    url = f"/api/v1/audit-events/{event.pk}/"
    assert api.get(url).status_code == 200
    assert api.patch(url, {"action": "forged"}, format="json").status_code == 405
    assert api.put(url, {"action": "forged"}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    assert api.post("/api/v1/audit-events/", {"action": "forged"}, format="json").status_code == 405
    event.refresh_from_db()
    assert event.action != "forged"


def test_audit_events_cannot_be_changed_through_the_admin(client, django_user_model, team):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    event = AuditEvent.objects.create(action="team.create", team=team)
    client.force_login(admin)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "forged"})
    event.refresh_from_db()
    assert event.action == "team.create"
    listing = client.get("/admin/audit/auditevent/", {"q": "team.create"})
    assert b"team.create" in listing.content


def test_audit_events_are_append_only_in_the_orm_and_database(team):
    event = AuditEvent.objects.create(action="team.create", team=team)
    event.action = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "team.create"


def test_reviewer_reads_the_audit_log_of_every_team_but_members_only_their_own(
    api, team, owner, outsider, reviewer
):
    from projects.services import team_create, team_update

    outsiders = team_create(user=outsider, name="Outsiders")
    team_update(team=team, user=owner, description="Routes e-mails")
    api.as_user(owner)
    own = api.get("/api/v1/audit-events/").json()["results"]
    assert own and all(e["team"] in (team.slug, None) for e in own)
    api.as_user(reviewer)
    teams = {e["team"] for e in api.get("/api/v1/audit-events/", {"page_size": 500}).json()["results"]}
    assert outsiders.slug in teams
    assert Membership.objects.filter(user=reviewer).count() == 0


def test_governance_reviewers_use_the_admin_console_read_only(client, team, owner, other_team, reviewer):
    from projects.services import team_update

    team_update(team=team, user=owner, description="Routes e-mails")
    client.force_login(reviewer)
    listing = client.get("/admin/audit/auditevent/", {"action": "team.update"})
    assert listing.status_code == 200
    assert b"team.update" in listing.content
    assert client.get("/admin/projects/team/").status_code == 200
    assert b"Legal" in client.get("/admin/projects/team/").content
    event = AuditEvent.objects.get(action="team.update")
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_update_records_what_changed_and_an_unchanged_one_records_nothing(api, team, owner):
    from projects.tests.factories import ProjectFactory

    project = ProjectFactory(team=team, owner=owner, name="Intents", description="old")
    url = f"/api/v1/projects/{project.pk}/"
    api.as_user(owner)
    assert api.patch(url, {"description": "old", "name": "Intents"}, format="json").status_code == 200
    assert not AuditEvent.objects.filter(action="project.update").exists()

    before = project.updated_at
    response = api.patch(url, {"description": "Routes e-mails", "name": "Intents"}, format="json")
    assert response.json()["description"] == "Routes e-mails"
    event = AuditEvent.objects.get(action="project.update", target_id=str(project.pk))
    assert event.payload == {"description": ["old", "Routes e-mails"]}
    project.refresh_from_db()
    assert project.description == "Routes e-mails" and project.updated_at > before

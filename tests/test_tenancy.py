"""Another team's object is a 404 — exactly like a missing one — in the API and in the browser."""

import pytest
from django.urls import reverse

from projects.choices import Role
from projects.models import Membership

pytestmark = pytest.mark.django_db


def test_outsider_gets_404_for_team_api(api, team, owner, outsider):
    api.as_user(outsider)
    assert api.get(f"/api/v1/teams/{team.slug}/").status_code == 404
    assert api.patch(f"/api/v1/teams/{team.slug}/", {"name": "Hijacked"}, format="json").status_code == 404
    missing = api.get("/api/v1/teams/no-such-team/")
    assert missing.status_code == 404
    assert api.get(f"/api/v1/teams/{team.slug}/").json() == missing.json()
    listed = [t["slug"] for t in api.get("/api/v1/teams/").json()["results"]]
    assert team.slug not in listed


def test_outsider_gets_404_for_member_api(api, team, owner, outsider):
    membership = Membership.objects.get(team=team, user=owner)
    api.as_user(outsider)
    assert api.get(f"/api/v1/members/{membership.pk}/").status_code == 404
    assert (
        api.patch(f"/api/v1/members/{membership.pk}/", {"role": "viewer"}, format="json").status_code == 404
    )
    assert api.delete(f"/api/v1/members/{membership.pk}/").status_code == 404
    created = api.post(
        "/api/v1/members/", {"team": team.slug, "user": "oscar", "role": "owner"}, format="json"
    )
    assert created.status_code == 404
    assert api.get("/api/v1/members/", {"team": team.slug}).json()["results"] == []
    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    assert not Membership.objects.filter(team=team, user=outsider).exists()


def test_outsider_gets_404_for_team_pages(client, team, owner, outsider):
    membership = Membership.objects.get(team=team, user=owner)
    client.force_login(outsider)
    assert client.get(reverse("projects:team_detail_slug", args=[team.slug])).status_code == 404
    assert client.post(reverse("projects:team_update", args=[team.slug]), {"name": "x"}).status_code == 404
    assert (
        client.post(
            reverse("projects:member_change_role", args=[membership.pk]), {"role": "viewer"}
        ).status_code
        == 404
    )
    assert client.post(reverse("projects:member_remove", args=[membership.pk])).status_code == 404
    assert client.post(reverse("projects:team_switch"), {"team": team.slug}).status_code == 404
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_another_users_token_is_404(api, owner, outsider):
    from projects.services import personal_access_token_create

    token, _ = personal_access_token_create(user=owner, name="ci")
    api.as_user(outsider)
    assert api.get(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert api.post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_anonymous_api_gets_401_and_pages_redirect_to_sign_in(client, team):
    response = client.get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    page = client.get(reverse("projects:team_detail"))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("login"))


def test_governance_reviewer_reads_every_team_but_cannot_manage(api, team, owner, other_team, reviewer):
    api.as_user(reviewer)
    slugs = {t["slug"] for t in api.get("/api/v1/teams/").json()["results"]}
    assert {team.slug, other_team.slug} <= slugs
    response = api.post(
        "/api/v1/members/", {"team": team.slug, "user": "rita", "role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_team_list_uses_a_constant_number_of_queries(api, django_assert_max_num_queries, owner):
    from projects.services import team_create

    api.as_user(owner)
    for n in range(3):
        team_create(user=owner, name=f"Team {n}")
    with django_assert_max_num_queries(6) as few:
        api.get("/api/v1/teams/")
    baseline = len(few)
    for n in range(3, 12):
        team_create(user=owner, name=f"Team {n}")
    with django_assert_max_num_queries(baseline):
        assert len(api.get("/api/v1/teams/").json()["results"]) == 13


def test_member_list_uses_a_constant_number_of_queries(api, django_assert_max_num_queries, team, owner):
    from projects.tests.factories import MembershipFactory

    api.as_user(owner)
    with django_assert_max_num_queries(6) as few:
        api.get("/api/v1/members/", {"team": team.slug})
    baseline = len(few)
    MembershipFactory.create_batch(10, team=team)
    with django_assert_max_num_queries(baseline):
        assert api.get("/api/v1/members/", {"team": team.slug}).json()["count"] == 11

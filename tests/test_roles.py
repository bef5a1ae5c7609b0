"""What each role may and may not do, through the same services the UI and API call."""

import pytest

from projects.choices import Role
from projects.models import Membership
from projects.roles import ROLE_ACTIONS, Action, can

pytestmark = pytest.mark.django_db

EXPECTED = {
    Role.OWNER: set(Action) - {Action.APPROVE_GOVERNANCE_TIER},
    Role.PRODUCT_OWNER: {
        Action.VIEW,
        Action.EDIT_PROJECT,
        Action.EDIT_CHARTER,
        Action.MANAGE_DATASETS,
        Action.EDIT_EVAL_SPEC,
        Action.SIGN_EVAL_SPEC,
        Action.RUN_JOBS,
        Action.RUN_EVALS,
        Action.REQUEST_PROMOTION,
        Action.APPROVE_PRODUCT_TIER,
        Action.REVIEW_ESCALATIONS,
    },
    Role.ML_ENGINEER: {
        Action.VIEW,
        Action.MANAGE_DATASETS,
        Action.RUN_JOBS,
        Action.RUN_EVALS,
        Action.REQUEST_PROMOTION,
        Action.APPROVE_ML_TIER,
        Action.PUBLISH_ENDPOINTS,
        Action.REVIEW_ESCALATIONS,
    },
    Role.VIEWER: {Action.VIEW},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_exactly_its_actions(role, team, member_by_role):
    user = member_by_role[role]
    allowed = {action for action in Action if can(user, team, action)}
    assert allowed == EXPECTED[role]
    assert ROLE_ACTIONS[role] == EXPECTED[role]


def test_reviewer_may_view_and_approve_governance_tier_only(team, reviewer):
    assert {a for a in Action if can(reviewer, team, a)} == {Action.VIEW, Action.APPROVE_GOVERNANCE_TIER}


def test_outsider_may_do_nothing(team, outsider):
    assert not any(can(outsider, team, action) for action in Action)


@pytest.mark.parametrize("role", [Role.PRODUCT_OWNER, Role.ML_ENGINEER, Role.VIEWER])
def test_only_owners_manage_members_over_the_api(api, role, team, member_by_role, outsider):
    api.as_user(member_by_role[role])
    viewer_membership = Membership.objects.get(team=team, role=Role.VIEWER)
    add = api.post("/api/v1/members/", {"team": team.slug, "user": "oscar", "role": "viewer"}, format="json")
    assert add.status_code == 403
    assert add.json()["error"]["code"] == "permission_denied"
    assert (
        api.patch(f"/api/v1/members/{viewer_membership.pk}/", {"role": "owner"}, format="json").status_code
        == 403
    )
    assert api.delete(f"/api/v1/members/{viewer_membership.pk}/").status_code == 403
    assert api.patch(f"/api/v1/teams/{team.slug}/", {"name": "Renamed"}, format="json").status_code == 403
    viewer_membership.refresh_from_db()
    assert viewer_membership.role == Role.VIEWER
    assert not Membership.objects.filter(team=team, user=outsider).exists()


def test_owner_adds_changes_and_removes_members_over_the_api(api, team, owner, viewer, outsider):
    api.as_user(owner)
    added = api.post(
        "/api/v1/members/", {"team": team.slug, "user": "oscar", "role": "ml_engineer"}, format="json"
    )
    assert added.status_code == 201, added.json()
    assert added.json()["user"]["username"] == "oscar"
    changed = api.patch(f"/api/v1/members/{added.json()['id']}/", {"role": "viewer"}, format="json")
    assert changed.json()["role"] == "viewer"
    assert api.delete(f"/api/v1/members/{added.json()['id']}/").status_code == 204
    assert not Membership.objects.filter(team=team, user=outsider).exists()


def test_a_team_keeps_at_least_one_owner(api, team, owner):
    api.as_user(owner)
    membership = Membership.objects.get(team=team, user=owner)
    demote = api.patch(f"/api/v1/members/{membership.pk}/", {"role": "viewer"}, format="json")
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    assert api.delete(f"/api/v1/members/{membership.pk}/").status_code == 409


def test_adding_unknown_user_or_bad_role_is_a_clear_400(api, team, owner):
    api.as_user(owner)
    unknown = api.post(
        "/api/v1/members/", {"team": team.slug, "user": "ghost", "role": "viewer"}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_user"
    assert "user" in unknown.json()["error"]["details"]
    bad_role = api.post(
        "/api/v1/members/", {"team": team.slug, "user": "olivia", "role": "admin"}, format="json"
    )
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()["error"]["details"]


def test_viewer_sees_members_page_without_management_controls(client, team, owner, viewer):
    client.force_login(viewer)
    page = client.get(f"/teams/{team.slug}/")
    assert page.status_code == 200
    assert b"olivia" in page.content
    assert b"Add a member" not in page.content
    assert client.post(f"/teams/{team.slug}/", {"login": "x", "role": "viewer"}).status_code == 403


def test_owner_manages_members_in_the_browser(client, team, owner, outsider):
    client.force_login(owner)
    response = client.post(f"/teams/{team.slug}/", {"login": "oscar", "role": "product_owner"}, follow=True)
    assert b"oscar joined as Product owner" in response.content
    membership = Membership.objects.get(team=team, user=outsider)
    client.post(f"/members/{membership.pk}/role/", {"role": "ml_engineer"})
    membership.refresh_from_db()
    assert membership.role == Role.ML_ENGINEER
    client.post(f"/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_a_refused_page_says_which_role_and_action_keeps_the_navigation_and_logs_no_traceback(
    client, team, viewer, caplog
):
    from django.urls import reverse

    client.force_login(viewer)
    client.raise_request_exception = False
    with caplog.at_level("WARNING", logger="django.request"):
        response = client.get(reverse("projects:project_create"))
    assert response.status_code == 403
    page = response.content.decode()
    reason = page[page.index('data-testid="forbidden-reason"') :]
    assert "Your role (Viewer) cannot" in reason[: reason.index("</p>")]
    assert 'aria-label="Main"' in page and reverse("projects:project_list") in page  # the studio's nav
    refused = [r for r in caplog.records if r.name == "django.request" and r.status_code == 403]
    assert refused and all(r.exc_info is None for r in refused)

"""Tier policies: staff set the global one; a team owner may make the team's stricter, never looser; the
effective policy decides who must approve."""

from __future__ import annotations

import pytest

from governance import services
from governance.selectors import tier_policy_effective
from studio.errors import Forbidden, InvalidInput

pytestmark = pytest.mark.django_db

DEFAULT = {
    "0": [],
    "1": ["ml_engineer"],
    "2": ["ml_engineer", "product_owner"],
    "3": ["ml_engineer", "product_owner", "governance_reviewer"],
}


def test_only_staff_set_the_global_policy(owner, django_user_model):
    with pytest.raises(Forbidden):
        services.tier_policy_set_global(user=owner, roles=DEFAULT)
    staff = django_user_model.objects.create_user("sam", is_staff=True)
    services.tier_policy_set_global(user=staff, roles={**DEFAULT, "1": ["ml_engineer", "product_owner"]})
    from governance.selectors import tier_policy_global

    assert tier_policy_global().required_roles(1) == ("ml_engineer", "product_owner")


def test_a_team_owner_makes_the_policy_stricter_never_looser(team, owner, ml_engineer):
    with pytest.raises(InvalidInput, match="never looser") as refused:
        services.tier_policy_set_team(team=team, user=owner, roles={**DEFAULT, "2": ["ml_engineer"]})
    assert refused.value.details == {"roles": {"2": ["Keeps fewer approvers than the global policy."]}}
    with pytest.raises(Forbidden):
        services.tier_policy_set_team(
            team=team, user=ml_engineer, roles={**DEFAULT, "1": ["ml_engineer", "product_owner"]}
        )
    services.tier_policy_set_team(
        team=team, user=owner, roles={**DEFAULT, "1": ["ml_engineer", "product_owner"]}, automatic_tier0=False
    )
    effective = tier_policy_effective(team)
    assert effective.required_roles(1) == ("ml_engineer", "product_owner")
    assert effective.required_roles(0) == ("ml_engineer",)


def test_a_stricter_team_policy_asks_more_approvals(team, owner, candidate, product_owner, ml_engineer):
    services.tier_policy_set_team(
        team=team, user=owner, roles={**DEFAULT, "1": ["ml_engineer", "product_owner"]}
    )
    promotion = services.promotion_request_create(
        user=ml_engineer, model_version=candidate, target_stage="production"
    )
    assert (promotion.tier, promotion.required_roles) == (1, ["ml_engineer", "product_owner"])


def test_the_policy_page_saves_a_team_policy(client, team, owner):
    client.force_login(owner)
    page = client.get("/approvals/policy/")
    assert b'data-testid="team-policy-form"' in page.content
    client.post(
        "/approvals/policy/",
        {
            "team": "support",
            "tier1": ["ml_engineer", "governance_reviewer"],
            "tier2": DEFAULT["2"],
            "tier3": DEFAULT["3"],
            "automatic_tier0": "1",
        },
    )
    assert tier_policy_effective(team).required_roles(1) == ("ml_engineer", "governance_reviewer")

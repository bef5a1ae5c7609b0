"""Each tier computed from constructed changes, and policies: stricter per team, never looser."""

import pytest

from governance import tiers
from governance.tiers import Change, compute_tier

SAME = {"has_production": True, "weights_changed": True}


@pytest.mark.parametrize(
    ("change", "tier"),
    [
        (Change(has_production=True, weights_changed=False), 0),
        (Change(**SAME), 1),
        (Change(**SAME, base_family_changed=True), 2),
        (Change(**SAME, new_data_sources=("Chats",)), 3),
        (Change(**SAME, new_data_classes=("payment",)), 3),
        (Change(**SAME, personal_data=("email found in Intents v2",)), 3),
        (Change(has_production=True, weights_changed=False, personal_data=("lawful basis: consent",)), 3),
        (Change(**SAME, base_family_changed=True, new_data_sources=("Chats",)), 3),
        (Change(has_production=False, weights_changed=True), 3),
    ],
)
def test_tier_follows_what_changed(change, tier):
    assert compute_tier(change).tier == tier


@pytest.mark.parametrize(
    ("change", "tier"), [({"weights_changed": False}, 1), ({}, 2), ({"base_family_changed": True}, 3)]
)
def test_a_risk_acceptance_raises_the_tier_by_one(change, tier):
    decision = compute_tier(Change(**{**SAME, **change, "gates_passed": False, "risk_accepted": True}))
    assert decision.tier == tier
    assert any("Risk accepted" in reason for reason in decision.reasons)


def test_tier_three_stays_three_with_a_risk_acceptance():
    assert (
        compute_tier(Change(**SAME, new_data_sources=("x",), gates_passed=False, risk_accepted=True)).tier
        == 3
    )


def test_same_weights_with_failing_gates_is_never_automatic():
    assert compute_tier(Change(has_production=True, weights_changed=False, gates_passed=False)).tier == 1


def test_reasons_are_plain_words_naming_each_fact():
    decision = compute_tier(
        Change(**SAME, new_data_sources=("Chats",), personal_data=("email found in Chats v1",))
    )
    assert "New data source: Chats." in decision.reasons
    assert "Personal data: email found in Chats v1." in decision.reasons


def test_the_default_policy_asks_more_people_at_each_tier():
    policy = tiers.GLOBAL_DEFAULT
    assert [policy.required_roles(t) for t in range(4)] == [
        (),
        ("ml_engineer",),
        ("ml_engineer", "product_owner"),
        ("ml_engineer", "product_owner", "governance_reviewer"),
    ]


def test_a_team_policy_can_only_make_the_global_one_stricter():
    looser = tiers.Policy(roles={1: (), 2: ("ml_engineer",)}, automatic_tier0=True)
    stricter = tiers.Policy(roles={1: ("ml_engineer", "product_owner")}, automatic_tier0=False)
    assert not tiers.is_at_least_as_strict(looser, tiers.GLOBAL_DEFAULT)
    effective = tiers.policy_for_team(tiers.GLOBAL_DEFAULT, looser)
    assert effective.required_roles(2) == ("ml_engineer", "product_owner")  # the team's omission is ignored
    effective = tiers.policy_for_team(tiers.GLOBAL_DEFAULT, stricter)
    assert effective.required_roles(1) == ("ml_engineer", "product_owner")
    assert effective.required_roles(0) == ("ml_engineer",)  # tier 0 no longer automatic
    assert tiers.is_at_least_as_strict(effective, tiers.GLOBAL_DEFAULT)

"""Fixtures shared by every test: people in each role, API clients, and (opt-in) a real Celery worker."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from projects.roles import Role
from projects.tests.factories import MembershipFactory, TeamFactory, UserFactory

pytest_plugins = ["tests.worker"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
PASSWORD = "pw-for-tests"


@pytest.fixture
def team(db):
    return TeamFactory(name="Support", slug="support")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Legal", slug="legal")


def _member(team, username: str, role: str):
    return MembershipFactory(team=team, user=UserFactory(username=username), role=role).user


@pytest.fixture
def owner(team):
    return _member(team, "olivia", Role.OWNER)


@pytest.fixture
def product_owner(team):
    return _member(team, "pablo", Role.PRODUCT_OWNER)


@pytest.fixture
def ml_engineer(team):
    return _member(team, "mia", Role.ML_ENGINEER)


@pytest.fixture
def viewer(team):
    return _member(team, "victor", Role.VIEWER)


@pytest.fixture
def member_by_role(owner, product_owner, ml_engineer, viewer):
    return {
        Role.OWNER: owner,
        Role.PRODUCT_OWNER: product_owner,
        Role.ML_ENGINEER: ml_engineer,
        Role.VIEWER: viewer,
    }


@pytest.fixture
def outsider(other_team):
    """Owner of another team: sees nothing of `team`."""
    return _member(other_team, "oscar", Role.OWNER)


@pytest.fixture
def reviewer(db):
    from governance.services import governance_reviewer_grant

    return governance_reviewer_grant(user=UserFactory(username="rita"))


@pytest.fixture
def api():
    """An API client; `api.as_user(user)` authenticates it."""

    class StudioAPIClient(APIClient):
        def as_user(self, user):
            self.force_authenticate(user=user)
            return self

    return StudioAPIClient()

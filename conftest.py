"""Fixtures shared by every test: people in each role, API clients, and (opt-in) a real Celery worker.

Django-dependent imports live inside the fixtures, so the Django-free engine and ingest tests can also
run with `-p no:django`.
"""

from __future__ import annotations

import logging
import os

import pytest

pytest_plugins = ["tests.worker"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# fp32 unless a test asks for bf16: the suite compares batched with unbatched numbers to 1e-4, which bf16
# autocast (chosen automatically on CPUs with AVX512-BF16 or AMX) does not hold to. The bf16 path has its
# own tests (training/tests/test_number_format.py, tests/test_training.py), which set STUDIO_ML_DTYPE.
os.environ.setdefault("STUDIO_ML_DTYPE", "fp32")
PASSWORD = "pw-for-tests"


def _team(name: str, slug: str):
    from projects.tests.factories import TeamFactory

    return TeamFactory(name=name, slug=slug)


def _member(team, username: str, role: str):
    from projects.tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(team=team, user=UserFactory(username=username), role=role).user


@pytest.fixture
def team(db):
    return _team("Support", "support")


@pytest.fixture
def other_team(db):
    return _team("Legal", "legal")


@pytest.fixture
def owner(team):
    return _member(team, "olivia", "owner")


@pytest.fixture
def product_owner(team):
    return _member(team, "pablo", "product_owner")


@pytest.fixture
def ml_engineer(team):
    return _member(team, "mia", "ml_engineer")


@pytest.fixture
def viewer(team):
    return _member(team, "victor", "viewer")


@pytest.fixture
def member_by_role(owner, product_owner, ml_engineer, viewer):
    return {"owner": owner, "product_owner": product_owner, "ml_engineer": ml_engineer, "viewer": viewer}


@pytest.fixture
def outsider(other_team):
    """Owner of another team: sees nothing of `team`."""
    return _member(other_team, "oscar", "owner")


@pytest.fixture
def reviewer(db):
    from projects.services import governance_reviewer_grant
    from projects.tests.factories import UserFactory

    return governance_reviewer_grant(user=UserFactory(username="rita"))


@pytest.fixture
def api():
    """An API client; `api.as_user(user)` authenticates it."""
    from rest_framework.test import APIClient

    class StudioAPIClient(APIClient):
        def as_user(self, user):
            self.force_authenticate(user=user)
            return self

    return StudioAPIClient()


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    """Every log record any logger handles: its message, arguments, extra fields and traceback."""
    seen: list[str] = []
    handle = logging.Logger.handle

    def recording(self, record):
        text = f"{record.name} {record.getMessage()} {record.__dict__!r}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        seen.append(text)
        return handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", recording)
    return seen

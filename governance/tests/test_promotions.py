"""Promotion requests through the services: tiers, four-eyes, rejection, stale evidence, risk acceptance,
exactly-once promotion, rollback and retirement, notifications."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection, connections, transaction

from audit.models import AuditEvent
from governance import services
from governance.choices import PromotionStatus, StageChangeKind
from governance.models import Notification, StageChange
from governance.selectors import production_version
from governance.signals import stage_changed
from governance.tests.helpers import GATE_LABEL, record_run, sign_spec, version_with_weights
from studio.errors import Conflict, Forbidden, InvalidInput

pytestmark = pytest.mark.django_db


def _stage(version) -> str:
    version.refresh_from_db()
    return version.stage


def test_an_ml_engineer_approves_a_tier_one_request_and_the_version_goes_to_production(
    candidate, production, product_owner, ml_engineer, django_capture_on_commit_callbacks
):
    received = []
    stage_changed.connect(lambda **kw: received.append((kw["model_version"].pk, kw["to_stage"])), weak=False)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        promotion = services.promotion_request_create(
            user=product_owner, model_version=candidate, target_stage="production", reason="Better on refunds"
        )
    assert (promotion.tier, promotion.required_roles) == (1, ["ml_engineer"])
    assert promotion.evidence["eval_run"]["gates_passed"] is True
    assert promotion.evidence["data_cards"][0]["dataset"] == "Intents"
    assert Notification.objects.filter(recipient=ml_engineer, promotion=promotion).exists()
    assert [message.to for message in mail.outbox] == [[ml_engineer.email, "olivia@example.test"]]

    with django_capture_on_commit_callbacks(execute=True):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    promotion.refresh_from_db()
    assert promotion.status == PromotionStatus.APPROVED
    assert (_stage(candidate), _stage(production)) == ("production", "candidate")
    assert production_version(candidate.project) == candidate
    assert (candidate.pk, "production") in received
    history = StageChange.objects.filter(model_version=candidate).values_list(
        "from_stage", "to_stage", "kind"
    )
    assert list(history) == [("candidate", "production", "promotion")]
    actions = set(
        AuditEvent.objects.filter(target_type="governance.promotionrequest").values_list("action", flat=True)
    )
    assert {"promotion.request", "promotion.approve", "promotion.approved"} <= actions


def test_the_requester_never_approves_their_own_request(candidate, ml_engineer):
    promotion = services.promotion_request_create(
        user=ml_engineer, model_version=candidate, target_stage="production"
    )
    with pytest.raises(Forbidden, match="someone else"):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert _stage(candidate) == "candidate"


def test_one_person_fills_one_role(make_version, signed_spec, production, ml_engineer, owner):
    from training.tests.factories import BaseModelFactory

    other_family = BaseModelFactory(key="qwen-tiny", architecture="Qwen2ForCausalLM")
    version = make_version(3, weights=b"qwen", base=other_family)
    record_run(version, signed_spec)
    promotion = services.promotion_request_create(
        user=ml_engineer, model_version=version, target_stage="production"
    )
    assert (promotion.tier, promotion.required_roles) == (2, ["ml_engineer", "product_owner"])
    services.promotion_approve(
        promotion=promotion, user=owner, role="ml_engineer"
    )  # an owner may fill either
    with pytest.raises(Conflict, match="each role needs a different person"):
        services.promotion_approve(promotion=promotion, user=owner, role="product_owner")
    assert _stage(version) == "candidate"


def test_a_rejection_ends_the_request_and_needs_a_comment(candidate, product_owner, ml_engineer):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    with pytest.raises(InvalidInput):
        services.promotion_reject(promotion=promotion, user=ml_engineer, comment=" ")
    services.promotion_reject(promotion=promotion, user=ml_engineer, comment="Billing slice too weak")
    promotion.refresh_from_db()
    assert (promotion.status, promotion.decision_comment) == ("rejected", "Billing slice too weak")
    with pytest.raises(Conflict, match="already rejected"):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert _stage(candidate) == "candidate"
    assert Notification.objects.filter(recipient=product_owner, subject__startswith="Rejected").exists()


def test_newer_evidence_voids_the_approvals_given_before(
    make_version, signed_spec, production, ml_engineer, product_owner, owner
):
    from training.tests.factories import BaseModelFactory

    version = make_version(3, weights=b"qwen", base=BaseModelFactory(key="qwen-tiny", architecture="Qwen2"))
    record_run(version, signed_spec)
    promotion = services.promotion_request_create(
        user=owner, model_version=version, target_stage="production"
    )
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    newer = record_run(version, signed_spec, accuracy=0.93)  # a newer eval run arrives

    with pytest.raises(Conflict, match="evidence changed") as refused:
        services.promotion_approve(promotion=promotion, user=product_owner)
    assert refused.value.code == "evidence_stale"
    assert _stage(version) == "candidate"  # the last approval cannot land on stale evidence

    assert services.promotion_evidence_refresh(promotion=promotion, user=product_owner) is True
    promotion.refresh_from_db()
    assert promotion.evidence["eval_run"]["id"] == newer.pk
    assert [a.void_reason for a in promotion.approvals.all()] == [
        "The evidence changed before the final approval."
    ]
    assert promotion.missing_roles() == ["ml_engineer", "product_owner"]
    assert services.promotion_evidence_refresh(promotion=promotion, user=product_owner) is False

    services.promotion_approve(promotion=promotion, user=product_owner)
    assert _stage(version) == "candidate"  # the ML engineer must approve again
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert _stage(version) == "production"


def test_a_new_spec_version_makes_the_evidence_stale(candidate, product_owner, ml_engineer, project):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    newer_spec = sign_spec(project, product_owner)
    with pytest.raises(Conflict, match="evidence changed"):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    services.promotion_evidence_refresh(promotion=promotion, user=ml_engineer)
    with pytest.raises(Conflict, match="No eval run against the current signed spec"):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    record_run(candidate, newer_spec)
    with pytest.raises(Conflict, match="evidence changed"):
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    services.promotion_evidence_refresh(promotion=promotion, user=ml_engineer)
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert _stage(candidate) == "production"


def test_failing_gates_are_refused_without_a_risk_acceptance(
    make_version, signed_spec, production, product_owner
):
    version = make_version(3, weights=b"weak")
    record_run(version, signed_spec, passed=False)
    with pytest.raises(Conflict, match="Gates fail") as refused:
        services.promotion_request_create(
            user=product_owner, model_version=version, target_stage="production"
        )
    assert refused.value.details == {"failing_gates": [GATE_LABEL]}
    with pytest.raises(InvalidInput, match="Name every failing gate"):
        services.promotion_request_create(
            user=product_owner,
            model_version=version,
            target_stage="production",
            risk_acceptance={"gates": [], "reason": "Seasonal", "until": "2099-01-01"},
        )
    promotion = services.promotion_request_create(
        user=product_owner,
        model_version=version,
        target_stage="production",
        risk_acceptance={
            "gates": [GATE_LABEL],
            "reason": "Seasonal dip, human review on",
            "until": "2099-01-01",
        },
    )
    assert promotion.tier == 2  # tier 1, raised by one
    assert promotion.risk_acceptance == {
        "gates": [GATE_LABEL],
        "reason": "Seasonal dip, human review on",
        "until": "2099-01-01",
    }


def test_same_weights_with_passing_gates_are_approved_by_the_policy(
    make_version, signed_spec, production, ml_engineer
):
    same = make_version(3, weights=b"v1")  # only serving configuration differs
    record_run(same, signed_spec)
    promotion = services.promotion_request_create(
        user=ml_engineer, model_version=same, target_stage="production"
    )
    assert (promotion.tier, promotion.status) == (0, "approved")
    assert _stage(same) == "production"
    assert AuditEvent.objects.filter(action="promotion.auto_approve", target_id=str(promotion.pk)).exists()


def test_personal_data_needs_a_governance_reviewer(
    project, owner, signed_spec, production, make_version, ml_engineer, product_owner, reviewer
):
    import io

    from projects import services as project_services
    from projects.tests.factories import jsonl_bytes

    rows = [
        {"input": f"Mail me at person{i}@example.org about order {i}", "output": "billing"} for i in range(12)
    ]
    rows += [{"input": f"Where is parcel {i}?", "output": "shipping"} for i in range(12)]
    chats = project_services.dataset_upload(
        project=project, user=owner, file=io.BytesIO(jsonl_bytes(rows)), filename="c.jsonl", name="Chats"
    )
    version = make_version(3, weights=b"chats", dataset_version=chats)
    record_run(version, signed_spec)
    promotion = services.promotion_request_create(
        user=owner, model_version=version, target_stage="production"
    )
    assert promotion.tier == 3
    assert "New data source: Chats." in promotion.tier_reasons
    assert promotion.required_roles == ["ml_engineer", "product_owner", "governance_reviewer"]
    assert Notification.objects.filter(recipient=reviewer, promotion=promotion).exists()
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    services.promotion_approve(promotion=promotion, user=product_owner)
    assert _stage(version) == "candidate"
    services.promotion_approve(promotion=promotion, user=reviewer)
    assert _stage(version) == "production"


def test_viewers_cannot_request_or_approve(candidate, viewer, product_owner):
    with pytest.raises(Forbidden):
        services.promotion_request_create(user=viewer, model_version=candidate, target_stage="production")
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    with pytest.raises(Forbidden):
        services.promotion_approve(promotion=promotion, user=viewer)


def test_rollback_restores_the_previous_production_version_and_is_audited(
    candidate, production, product_owner, ml_engineer, owner, django_capture_on_commit_callbacks
):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    received = []
    stage_changed.connect(lambda **kw: received.append((kw["model_version"].pk, kw["to_stage"])), weak=False)
    with pytest.raises(InvalidInput):
        services.production_rollback(project=candidate.project, user=ml_engineer, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        services.production_rollback(
            project=candidate.project, user=ml_engineer, reason="Refund answers wrong"
        )
    assert (_stage(production), _stage(candidate)) == ("production", "candidate")
    assert (production.pk, "production") in received
    event = AuditEvent.objects.get(action="model_version.rollback")
    assert event.actor == ml_engineer and event.payload["reason"] == "Refund answers wrong"
    assert Notification.objects.filter(recipient=owner, subject__contains="rolled back").exists()


def test_a_rollback_drill_on_staging_records_its_time(
    make_version, signed_spec, production, product_owner, ml_engineer
):
    first, second = make_version(3, weights=b"s1"), make_version(4, weights=b"s2")
    for version in (first, second):
        record_run(version, signed_spec)
        promotion = services.promotion_request_create(
            user=product_owner, model_version=version, target_stage="staging"
        )
        services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert (_stage(first), _stage(second)) == ("candidate", "staging")
    drill = services.staging_rollback_drill(project=first.project, user=ml_engineer)
    assert (
        drill.kind == StageChangeKind.DRILL and drill.duration_ms is not None and drill.model_version == first
    )
    assert (_stage(first), _stage(second), _stage(production)) == ("staging", "candidate", "production")
    assert AuditEvent.objects.filter(action="model_version.rollback_drill").exists()


def test_retired_versions_cannot_be_promoted_and_production_cannot_be_retired(
    candidate, production, product_owner
):
    with pytest.raises(Conflict, match="cannot be retired"):
        services.model_version_retire(version=production, user=product_owner)
    pending = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="staging"
    )
    services.model_version_retire(version=candidate, user=product_owner, reason="Superseded")
    pending.refresh_from_db()
    assert (_stage(candidate), pending.status) == ("retired", "withdrawn")
    with pytest.raises(Conflict, match="retired") as refused:
        services.promotion_request_create(
            user=product_owner, model_version=candidate, target_stage="production"
        )
    assert refused.value.code == "version_retired"


def test_a_version_without_an_eval_run_against_the_signed_spec_cannot_be_requested(
    make_version, production, product_owner
):
    version = make_version(3, weights=b"x")
    with pytest.raises(Conflict) as refused:
        services.promotion_request_create(
            user=product_owner, model_version=version, target_stage="production"
        )
    assert refused.value.code == "evaluation_required"


def test_the_withdrawal_ends_a_request(candidate, product_owner, ml_engineer):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    with pytest.raises(Forbidden):
        services.promotion_withdraw(promotion=promotion, user=ml_engineer)
    services.promotion_withdraw(promotion=promotion, user=product_owner)
    with pytest.raises(Conflict):
        services.promotion_approve(promotion=promotion, user=ml_engineer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Row locks are PostgreSQL's (SQLite serialises writers); CI runs this on PostgreSQL.",
)
def test_two_simultaneous_final_approvals_promote_once(team, owner, product_owner, ml_engineer):
    from projects.tests.factories import MembershipFactory, UserFactory
    from training.tests.factories import BaseModelFactory

    second_po = MembershipFactory(team=team, user=UserFactory(username="paula"), role="product_owner").user
    project = _project_with_production(team, owner, product_owner)
    spec = project.eval_specs.get()
    version = version_with_weights(
        project,
        owner,
        3,
        weights=b"q",
        base=BaseModelFactory(key="q", architecture="Q"),
        dataset_version=project.datasets.get().versions.get(),
    )
    record_run(version, spec)
    promotion = services.promotion_request_create(
        user=owner, model_version=version, target_stage="production"
    )
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    barrier, outcomes = threading.Barrier(2), []

    def approve(user) -> None:
        try:
            barrier.wait()
            services.promotion_approve(promotion=promotion, user=user, role="product_owner")
            outcomes.append("approved")
        except Conflict as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (product_owner, second_po)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved", "not_pending"]
    assert StageChange.objects.filter(model_version=version, kind="promotion").count() == 1
    assert project.model_versions.filter(stage="production").count() == 1
    promotion.refresh_from_db()
    assert promotion.approvals.filter(voided_at__isnull=True).count() == 2


def _project_with_production(team, owner, product_owner):
    import io

    from projects import services as project_services
    from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

    project = ProjectFactory(team=team, owner=owner, name="Intents", slug="intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    dv = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="i.jsonl",
        name="Intents",
    )
    spec = sign_spec(project, product_owner)
    first = version_with_weights(project, owner, 1, weights=b"1", dataset_version=dv)
    record_run(first, spec)
    with transaction.atomic():
        services.stage_set(version=first, to_stage="production", kind="promotion", actor=owner)
    return project

"""Model cards: generated from the studio's records (charter, data cards, lineage, evaluation, risks
accepted, approvals, stage history) plus the team's own words; draft → in review → approved."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from governance.choices import ModelCardStatus, PromotionStatus
from governance.models import ModelCard, PromotionRequest, StageChange
from projects.roles import Action, can, require
from projects.selectors import charter_latest
from studio.errors import Conflict, Forbidden
from training.models import ModelVersion

MAX_TEXT = 10_000


def _evaluation(version: ModelVersion) -> dict:
    from evaluation.selectors import eval_run_latest, eval_spec_current_signed

    spec = eval_spec_current_signed(version.project)
    run = eval_run_latest(None, version, spec) if spec else None
    if run is None:
        return {}
    from governance.evidence import gate_label

    verdicts = (run.gate_report or {}).get("verdicts", [])
    slices = {name: values for name, values in (run.metrics or {}).items() if name != "all"}
    weak = sorted(
        (
            (name, values.get("accuracy"))
            for name, values in slices.items()
            if isinstance(values, dict) and isinstance(values.get("accuracy"), int | float)
        ),
        key=lambda item: item[1],
    )[:3]
    return {
        "run": run.pk,
        "spec_version": spec.version,
        "gates": [
            {"label": gate_label(v.get("gate", {})), "passed": bool(v.get("passed"))} for v in verdicts
        ],
        "metrics": (run.metrics or {}).get("all", {}),
        "weakest_slices": [{"slice": name, "accuracy": value} for name, value in weak],
    }


def _known_weaknesses(promotions) -> dict:
    """From the newest request's release diff: the cases the production version got right and this one
    gets wrong (broken flips)."""
    for promotion in sorted(promotions, key=lambda p: p.created_at, reverse=True):
        flips = ((promotion.evidence or {}).get("release_diff") or {}).get("flips") or {}
        if "broken_count" in flips:
            return {
                "against_version": (promotion.evidence.get("production") or {}).get("number"),
                "broken_count": flips["broken_count"],
                "compared": flips.get("compared"),
                "examples": [
                    {
                        "input": str(f.get("input"))[:300],
                        "expected": f.get("expected"),
                        "output": f.get("output_a"),
                    }
                    for f in flips.get("broken", [])[:5]
                ],
            }
    return {}


def model_card_build(version: ModelVersion) -> dict:
    """The generated sections, from what the studio recorded about the version."""
    from governance.evidence import data_card

    charter = charter_latest(project=version.project)
    promotions = PromotionRequest.objects.filter(model_version=version).prefetch_related(
        "approvals__approver"
    )
    return {
        "model": {
            "project": version.project.name,
            "version": version.number,
            "kind": version.kind,
            "base_model": version.base_model.name,
            "stage": version.stage,
        },
        "intended_use": {
            "problem": charter.problem_statement if charter else "",
            "business_metric": charter.business_metric if charter else "",
            "non_goals": charter.non_goals if charter else "",
            "charter_version": charter.version if charter else None,
        },
        "training_data": [data_card(version.dataset_version)] if version.dataset_version_id else [],
        "lineage": {key: version.lineage.get(key) for key in sorted(version.lineage or {})[:20]},
        "evaluation": _evaluation(version),
        "known_weaknesses": _known_weaknesses(promotions),
        "risks_accepted": [{"promotion": p.pk, **p.risk_acceptance} for p in promotions if p.risk_acceptance],
        "approvals": [
            {
                "promotion": p.pk,
                "stage": p.target_stage,
                "by": a.approver.get_username(),
                "role": a.role,
                "at": a.created_at.isoformat(),
            }
            for p in promotions
            if p.status == PromotionStatus.APPROVED
            for a in p.approvals.all()
            if a.voided_at is None
        ],
        "stage_history": [
            {
                "from": c.from_stage,
                "to": c.to_stage,
                "kind": c.kind,
                "by": c.actor.get_username() if c.actor_id else "",
                "at": c.created_at.isoformat(),
                "reason": c.reason,
            }
            for c in StageChange.objects.filter(model_version=version)
            .select_related("actor")
            .order_by("created_at", "id")
        ],
    }


def model_card_current(version: ModelVersion) -> ModelCard:
    """The card to show: the stored one (or an unsaved draft) with its generated sections rebuilt now.
    Reading never writes."""
    card = ModelCard.objects.filter(model_version=version).first() or ModelCard(model_version=version)
    card.generated = model_card_build(version)
    return card


def model_card_get_or_create(version: ModelVersion) -> ModelCard:
    card = ModelCard.objects.filter(model_version=version).first()
    if card is None:
        card, _ = ModelCard.objects.get_or_create(
            model_version=version, defaults={"generated": model_card_build(version)}
        )
    return card


def _for_write(version: ModelVersion) -> ModelCard:
    """The version's card, locked (created as a draft the first time it is written)."""
    model_card_get_or_create(version)
    return ModelCard.objects.select_for_update().get(model_version=version)


def model_card_refresh(version: ModelVersion) -> ModelCard:
    """Regenerate the generated sections (after a stage change, an approval…); the team's text stays."""
    card = model_card_get_or_create(version)
    card.generated = model_card_build(version)
    card.save(update_fields=["generated", "updated_at"])
    return card


def model_card_summary(version: ModelVersion) -> dict:
    """What a promotion's evidence keeps of the card."""
    card = ModelCard.objects.filter(model_version=version).first()
    if card is None:
        return {"status": ModelCardStatus.DRAFT.value, "intended_use": "", "limitations": ""}
    return {"status": card.status, "intended_use": card.intended_use, "limitations": card.limitations}


def card_writer(user, version: ModelVersion) -> bool:
    """Who writes a model card: whoever may request the version's promotion (the card goes with it)."""
    return can(user, version.project.team, Action.REQUEST_PROMOTION)


def card_approver(user, version: ModelVersion) -> bool:
    """Who approves a card: an ML engineer, product owner or governance reviewer (not its last editor)."""
    team = version.project.team
    return any(
        can(user, team, action)
        for action in (Action.APPROVE_ML_TIER, Action.APPROVE_PRODUCT_TIER, Action.APPROVE_GOVERNANCE_TIER)
    )


def _require_card_writer(user, version: ModelVersion) -> None:
    require(user, version.project.team, Action.REQUEST_PROMOTION, doing="write model cards")


@transaction.atomic
def model_card_update(
    *, version: ModelVersion, user, intended_use: str | None = None, limitations: str | None = None
) -> ModelCard:
    """Edit the team's words; an approved card goes back to draft."""
    _require_card_writer(user, version)
    card = _for_write(version)
    changes = {}
    for name, value in (("intended_use", intended_use), ("limitations", limitations)):
        if value is not None and value != getattr(card, name):
            changes[name] = [getattr(card, name), value[:MAX_TEXT]]
            setattr(card, name, value[:MAX_TEXT])
    if not changes:
        return card
    if card.status == ModelCardStatus.APPROVED:
        card.status, card.approved_by, card.approved_at = ModelCardStatus.DRAFT, None, None
    card.updated_by = user
    card.generated = model_card_build(card.model_version)
    card.full_clean()
    card.save()
    audit_event_record(actor=user, action="model_card.update", target=card, payload=changes)
    return card


@transaction.atomic
def model_card_submit(*, version: ModelVersion, user) -> ModelCard:
    _require_card_writer(user, version)
    card = _for_write(version)
    if card.status != ModelCardStatus.DRAFT:
        raise Conflict("Only a draft card goes to review.", code="not_draft")
    card.status = ModelCardStatus.IN_REVIEW
    card.generated = model_card_build(card.model_version)
    card.save(update_fields=["status", "generated", "updated_at"])
    audit_event_record(actor=user, action="model_card.submit", target=card)
    return card


@transaction.atomic
def model_card_approve(*, version: ModelVersion, user) -> ModelCard:
    """An ML engineer, product owner or governance reviewer other than the last editor approves it."""
    if not card_approver(user, version):
        raise Forbidden("Your role cannot approve model cards.", code="cannot_approve")
    card = _for_write(version)
    if card.status != ModelCardStatus.IN_REVIEW:
        raise Conflict("Only a card in review can be approved.", code="not_in_review")
    if card.updated_by_id == user.pk:
        raise Forbidden("You wrote this card: someone else approves it.", code="self_approval")
    card.status, card.approved_by, card.approved_at = ModelCardStatus.APPROVED, user, timezone.now()
    card.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    audit_event_record(actor=user, action="model_card.approve", target=card)
    return card


def model_card_markdown(card: ModelCard) -> str:
    """The card as Markdown, for download."""
    g = model_card_build(card.model_version)
    model, use, ev = g["model"], g["intended_use"], g["evaluation"]
    lines = [
        f"# Model card: {model['project']} v{model['version']}",
        "",
        f"- Status: {card.get_status_display()}",
        f"- Stage: {model['stage']}",
        f"- Base model: {model['base_model']} ({model['kind']})",
        "",
        "## Intended use",
        "",
        card.intended_use or use["problem"] or "_Not stated._",
        "",
        f"Business metric: {use['business_metric'] or '—'}",
        "",
        "## Non-goals and limitations",
        "",
        use["non_goals"] or "_No non-goals stated in the charter._",
        "",
        card.limitations or "_No known limitations written yet._",
        "",
        "## Training data",
        "",
    ]
    for data in g["training_data"]:
        pii = ", ".join(f"{k}: {v}" for k, v in sorted(data["pii_summary"].items())) or "none found"
        lines.append(
            f"- {data['dataset']} v{data['version']}: {data['rows']} rows, source: {data['source'] or '—'}, "
            f"lawful basis: {data['lawful_basis']}, "
            f"data classes: {', '.join(data['data_classes_found']) or '—'}, "
            f"PII: {pii}"
        )
    if not g["training_data"]:
        lines.append("_No training data (a baseline version)._")
    lines += ["", "## Evaluation", ""]
    if ev:
        lines.append(f"Eval run #{ev['run']} against eval spec v{ev['spec_version']}.")
        lines += [f"- {'PASS' if gate['passed'] else 'FAIL'}: {gate['label']}" for gate in ev["gates"]]
        lines += [f"- {name}: {value}" for name, value in sorted(ev["metrics"].items())]
        if ev["weakest_slices"]:
            lines.append("")
            lines.append(
                "Weakest slices: "
                + ", ".join(f"{s['slice']} ({s['accuracy']:.3f})" for s in ev["weakest_slices"])
            )
    else:
        lines.append("_No eval run against the current signed spec._")
    weak = g["known_weaknesses"]
    lines += ["", "## Known weaknesses", ""]
    if weak:
        lines.append(
            f"{weak['broken_count']} of {weak['compared']} cases that version {weak['against_version']} "
            "answered right are answered wrong by this version."
        )
        lines += [
            f"- `{w['input']}`: expected {w['expected']!r}, got {w['output']!r}" for w in weak["examples"]
        ]
    else:
        lines.append("_No comparison with a production version yet._")
    lines += ["", "## Risks accepted", ""]
    lines += [
        f"- Gates {', '.join(r['gates'])}: {r['reason']} (until {r['until']})" for r in g["risks_accepted"]
    ] or ["_None._"]
    lines += ["", "## Approvals", ""]
    lines += [
        f"- {a['by']} as {a['role'].replace('_', ' ')} ({a['stage']}), {a['at'][:10]}" for a in g["approvals"]
    ] or ["_None yet._"]
    lines += ["", "## Stage history", ""]
    lines += [
        f"- {c['at'][:19]}: {c['from']} → {c['to']} ({c['kind']}) by {c['by'] or 'system'}"
        + (f": {c['reason']}" if c["reason"] else "")
        for c in g["stage_history"]
    ] or ["_Never promoted._"]
    return "\n".join(lines) + "\n"

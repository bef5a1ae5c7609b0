from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from audit.services import audit_event_record
from projects.charters import CHARTER_FIELDS, charter_diff
from projects.models import Charter, Project
from projects.roles import Action, require
from projects.schemas import CharterDocument
from projects.selectors import charter_latest
from studio.errors import InvalidInput
from studio.validation import parse


@transaction.atomic
def charter_create_version(*, project: Project, user, change_note: str = "", **fields) -> Charter:
    """Write the next charter version. Earlier versions stay as they were, so every change is traceable."""
    require(user, project.team, Action.EDIT_CHARTER)
    unknown = set(fields) - set(CHARTER_FIELDS)
    if unknown:
        raise InvalidInput(
            "Unknown charter fields.", details={field: ["Unknown field."] for field in sorted(unknown)}
        )
    document = parse(
        CharterDocument,
        {key: fields.get(key) for key in ("data_classes", "success_measures", "confidence_threshold")},
        what="charter",
    )
    Project.objects.select_for_update().filter(pk=project.pk).first()  # serialises concurrent edits
    previous = charter_latest(project=project)
    version = (project.charters.aggregate(top=Max("version"))["top"] or 0) + 1
    charter = Charter(
        project=project,
        version=version,
        author=user,
        change_note=change_note,
        **{**fields, **document.model_dump(mode="json")},
    )
    if charter.automation == "human_review" and charter.confidence_threshold is None:
        raise InvalidInput(
            "Human review needs a confidence threshold below which answers go to a person.",
            details={"confidence_threshold": ["Required when answers below a threshold go to human review."]},
        )
    charter.full_clean()
    charter.save()
    changes = charter_diff(previous, charter) if previous else []
    audit_event_record(
        actor=user,
        action="charter.create_version",
        target=charter,
        payload={"version": version, "changed": [change["field"] for change in changes], "note": change_note},
    )
    return charter

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from audit.services import audit_event_record
from projects.choices import TaskType
from projects.ingest.schema import SchemaError, check_schema
from projects.models import Project, Team
from projects.roles import Action, require
from studio.errors import Conflict, InvalidInput
from studio.services import model_update

EDITABLE_FIELDS = ("name", "description", "instructions", "output_schema")


def _check_output_schema(task_type: str, output_schema) -> None:
    """Extraction only; a JSON Schema of an object that the ingest validator accepts (see `check_schema`)."""
    if output_schema is None:
        return
    if task_type != TaskType.EXTRACTION:
        raise InvalidInput(
            "Only extraction projects take an output schema.",
            details={"output_schema": ["Only for extraction."]},
        )
    if not isinstance(output_schema, dict) or output_schema.get("type", "object") != "object":
        raise InvalidInput(
            "The output schema must be a JSON Schema describing an object.",
            details={"output_schema": ["Must be a JSON Schema with type “object”."]},
        )
    try:
        check_schema(output_schema, "output_schema")
    except SchemaError as error:
        raise InvalidInput(
            str(error), code="invalid_schema", details={"output_schema": [str(error)]}
        ) from None


@transaction.atomic
def project_create(
    *,
    team: Team,
    user,
    name: str,
    task_type: str,
    instructions: str,
    description: str = "",
    output_schema=None,
) -> Project:
    require(user, team, Action.EDIT_PROJECT)
    if task_type not in TaskType.values:
        raise InvalidInput(
            f"“{task_type}” is not a task type.",
            details={"task_type": [f"Choose one of {', '.join(TaskType.values)}."]},
        )
    _check_output_schema(task_type, output_schema)
    slug = slugify(name)[:60] or "project"
    if Project.objects.filter(team=team, slug=slug).exists():
        raise Conflict(
            f"The team already has a project called “{name}”.", code="duplicate", details={"name": [name]}
        )
    project = Project(
        team=team,
        name=name.strip(),
        slug=slug,
        task_type=task_type,
        instructions=instructions.strip(),
        description=description,
        output_schema=output_schema,
        owner=user,
    )
    project.full_clean()
    project.save()
    audit_event_record(
        actor=user,
        action="project.create",
        target=project,
        payload={"name": project.name, "task_type": task_type},
    )
    return project


@transaction.atomic
def project_update(*, project: Project, user, **changes) -> Project:
    require(user, project.team, Action.EDIT_PROJECT)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            "These fields cannot be changed.", details={field: ["Read-only."] for field in unknown}
        )
    if "output_schema" in changes:
        _check_output_schema(project.task_type, changes["output_schema"])
    diff = model_update(instance=project, fields=EDITABLE_FIELDS, data=changes)
    if diff:
        audit_event_record(actor=user, action="project.update", target=project, payload=diff)
    return project

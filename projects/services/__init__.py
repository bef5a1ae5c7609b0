"""Writes for the projects app. Each service runs in one transaction and records its audit event."""

from projects.services.charters import charter_create_version
from projects.services.datasets import (
    CARD_FIELDS,
    dataset_card_update,
    dataset_file_check_text,
    dataset_upload,
    dataset_version_add_reviewed,
    dataset_version_download,
    dataset_version_merge,
    dataset_version_redact,
    dataset_version_resplit,
)
from projects.services.imports import dataset_import_create
from projects.services.projects import project_create, project_update
from projects.services.reviewers import governance_reviewer_grant, reviewer_group_ensure
from projects.services.teams import (
    membership_add,
    membership_change_role,
    membership_remove,
    personal_access_token_create,
    personal_access_token_revoke,
    personal_access_token_scope_require,
    team_create,
    team_update,
)

__all__ = [
    "CARD_FIELDS",
    "charter_create_version",
    "dataset_card_update",
    "dataset_file_check_text",
    "dataset_import_create",
    "dataset_upload",
    "dataset_version_add_reviewed",
    "dataset_version_download",
    "dataset_version_merge",
    "dataset_version_redact",
    "dataset_version_resplit",
    "governance_reviewer_grant",
    "membership_add",
    "membership_change_role",
    "membership_remove",
    "personal_access_token_create",
    "personal_access_token_revoke",
    "personal_access_token_scope_require",
    "project_create",
    "project_update",
    "reviewer_group_ensure",
    "team_create",
    "team_update",
]

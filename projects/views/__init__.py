"""Browser pages for the projects app, one module per entity; `projects/urls.py` routes to these names."""

from projects.views.charters import charter_edit, charter_history
from projects.views.datasets import (
    dataset_card_edit,
    dataset_detail,
    dataset_import_detail,
    dataset_inspect,
    dataset_upload,
    dataset_version_detail,
    dataset_version_download,
    dataset_version_redact,
    dataset_version_resplit,
    dataset_version_upload,
)
from projects.views.projects import project_create, project_detail, project_edit, project_list
from projects.views.teams import (
    member_change_role,
    member_remove,
    team_create,
    team_detail,
    team_switch,
    team_update,
    token_list,
    token_revoke,
)

__all__ = [
    "charter_edit",
    "charter_history",
    "dataset_card_edit",
    "dataset_detail",
    "dataset_import_detail",
    "dataset_inspect",
    "dataset_upload",
    "dataset_version_detail",
    "dataset_version_download",
    "dataset_version_redact",
    "dataset_version_resplit",
    "dataset_version_upload",
    "member_change_role",
    "member_remove",
    "project_create",
    "project_detail",
    "project_edit",
    "project_list",
    "team_create",
    "team_detail",
    "team_switch",
    "team_update",
    "token_list",
    "token_revoke",
]

"""Model version downloads: the adapter (with tokenizer and config), or the merged standalone weights."""

from __future__ import annotations

import zipfile

from studio.downloads import ExportedFile, built_file
from studio.errors import Conflict, InvalidInput
from training.models import ModelVersion


def model_version_export(version: ModelVersion, artifact: str = "adapter") -> ExportedFile:
    folder = version.artifacts_dir
    if folder is None or not folder.exists():
        raise Conflict(
            "This model version has no stored weights (a baseline is the prompted base model).",
            code="no_artifacts",
        )
    if artifact == "adapter":
        files = [(folder / item["path"], item["path"]) for item in version.artifacts]
    elif artifact == "merged":
        merged = version.merged_dir
        if not merged.exists():
            raise Conflict(
                "The merged weights are not exported yet: POST export-merged first.", code="not_exported"
            )
        files = [
            (path, str(path.relative_to(merged))) for path in sorted(merged.rglob("*")) if path.is_file()
        ]
    else:
        raise InvalidInput(
            "Choose artifact=adapter or artifact=merged.", details={"artifact": ["adapter or merged"]}
        )

    def write(spool):
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, arcname in files:
                archive.write(path, arcname=arcname)

    name = f"{version.project.slug}-model-v{version.number}-{artifact}.zip"
    return built_file(write, filename=name, content_type="application/zip")

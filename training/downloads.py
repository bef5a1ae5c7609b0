"""Model version downloads: the adapter (or full weights) folder as a zip."""

from __future__ import annotations

import tempfile
import zipfile

from django.http import FileResponse

from studio.errors import Conflict
from training.models import ModelVersion


def model_version_zip_response(version: ModelVersion) -> FileResponse:
    folder = version.artifacts_dir
    if folder is None or not folder.exists():
        raise Conflict(
            "This model version has no stored weights (a baseline is the prompted base model).",
            code="no_artifacts",
        )
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for artifact in version.artifacts:
            archive.write(folder / artifact["path"], arcname=artifact["path"])
    spool.seek(0)
    name = f"{version.project.slug}-model-v{version.number}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")

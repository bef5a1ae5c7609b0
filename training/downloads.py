"""Model version downloads: the adapter (with tokenizer and config), or the merged standalone weights."""

from __future__ import annotations

import json
import zipfile

from studio.downloads import ExportedFile, built_file
from studio.errors import Conflict, InvalidInput
from training.catalog import public_base_model_id
from training.model_card import model_card_markdown
from training.models import ModelVersion

ADAPTER_CONFIG = "adapter_config.json"
MODEL_CARD = "README.md"


def _portable_adapter_config(path, base_model_id: str) -> str:
    """The stored adapter config, naming the base model by its public id instead of a server path."""
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base_model_id
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


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
    base_model_id = public_base_model_id(version.base_model)

    def write(spool):
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, arcname in files:
                if artifact == "adapter" and arcname == ADAPTER_CONFIG:
                    archive.writestr(arcname, _portable_adapter_config(path, base_model_id))
                elif arcname != MODEL_CARD:  # PEFT's empty template; the studio's card replaces it
                    archive.write(path, arcname=arcname)
            if artifact == "adapter":
                archive.writestr(MODEL_CARD, model_card_markdown(version, base_model_id=base_model_id))

    name = f"{version.project.slug}-model-v{version.number}-{artifact}.zip"
    return built_file(write, filename=name, content_type="application/zip")

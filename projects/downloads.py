"""Dataset version exports as JSONL (the stored file) or CSV (formulas neutralised)."""

from __future__ import annotations

from django.utils.text import slugify

from projects.ingest.export import read_jsonl, write_csv
from projects.models import DatasetVersion
from studio.downloads import ExportedFile, built_file, stored_file
from studio.errors import InvalidInput

EXPORTS = ("jsonl", "csv")


def dataset_version_export(version: DatasetVersion, export: str) -> ExportedFile:
    stem = f"{slugify(version.dataset.name) or 'dataset'}-v{version.number}"
    if export == "jsonl":
        return stored_file(version.rows_path, filename=f"{stem}.jsonl", content_type="application/x-ndjson")
    if export == "csv":

        def write(spool):
            with open(version.rows_path, "rb") as source:
                write_csv(read_jsonl(source), spool, fieldnames=["input", "output"])

        return built_file(write, filename=f"{stem}.csv", content_type="text/csv")
    raise InvalidInput("Choose export=jsonl or export=csv.", details={"export": ["Must be jsonl or csv."]})

"""Dataset version downloads as JSONL (the stored file) or CSV (formulas neutralised)."""

from __future__ import annotations

import tempfile

from django.http import FileResponse
from django.utils.text import slugify

from projects.ingest.export import read_jsonl, write_csv
from projects.models import DatasetVersion
from studio.errors import InvalidInput


def dataset_version_file_response(version: DatasetVersion, export: str) -> FileResponse:
    stem = f"{slugify(version.dataset.name) or 'dataset'}-v{version.number}"
    if export == "jsonl":
        return FileResponse(
            open(version.rows_path, "rb"),
            as_attachment=True,
            filename=f"{stem}.jsonl",
            content_type="application/x-ndjson",
        )
    if export == "csv":
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
        with open(version.rows_path, "rb") as source:
            write_csv(read_jsonl(source), spool, fieldnames=["input", "output"])
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=f"{stem}.csv", content_type="text/csv")
    raise InvalidInput("Choose export=jsonl or export=csv.", details={"export": ["Must be jsonl or csv."]})

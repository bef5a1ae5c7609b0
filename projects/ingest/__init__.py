"""Dataset ingestion core: format detection, streaming validation and normalisation, statistics,
PII scanning and redaction, splits and export. Plain Python: no Django, no torch."""

from .core import TaskType, TokenCounter, ingest
from .formats import (
    ColumnMapping,
    Format,
    binary_kind,
    detect_format,
    head_encoding_problem,
    not_text_message,
    preview_rows,
    read_header,
    suggest_column_mapping,
)
from .issues import ERROR_CODES, WARNING_CODES, IngestReport, Issue
from .pii import Finding, Match

__all__ = [
    "ERROR_CODES",
    "WARNING_CODES",
    "ColumnMapping",
    "Finding",
    "Format",
    "IngestReport",
    "Issue",
    "Match",
    "TaskType",
    "TokenCounter",
    "binary_kind",
    "detect_format",
    "head_encoding_problem",
    "ingest",
    "not_text_message",
    "preview_rows",
    "read_header",
    "suggest_column_mapping",
]

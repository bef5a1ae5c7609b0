"""Logging filters the settings' LOGGING names."""

from __future__ import annotations

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """``django.request`` logs a refused request (a 403 for a role, a 404 for another team's object) with
    the exception's whole traceback. A refusal is the studio working, not failing: keep the line, which
    names the status and the path, and drop the traceback. 5xx records keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True

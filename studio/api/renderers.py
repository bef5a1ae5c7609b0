"""Renderers for the API actions that answer with a file or a text other than JSON (downloads, Markdown).

Such an action returns its file itself; what reaches these renderers otherwise is an error, which stays
the standard JSON error body (and says so in its Content-Type) whatever the client asked for.
"""

from __future__ import annotations

from rest_framework.renderers import BaseRenderer, JSONRenderer


def _error_as_json(data, renderer_context) -> bytes:
    response = (renderer_context or {}).get("response")
    if response is not None:
        response["Content-Type"] = "application/json"
    return JSONRenderer().render(data, "application/json", renderer_context)


class FileRenderer(BaseRenderer):
    """Lets a client ask for a file by its own media type (``Accept: application/zip``): without it DRF's
    content negotiation knew only JSON and answered such a request 406 before the view ran."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return _error_as_json(data, renderer_context)


class MarkdownRenderer(BaseRenderer):
    """``?format=md`` or ``Accept: text/markdown``: a view's Markdown text as a download."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        return _error_as_json(data, renderer_context)


# For file actions: JSON first (what a client that asks for nothing in particular is negotiated), then
# any media type, so the file's own is accepted.
FILE_RENDERERS = [JSONRenderer, FileRenderer]

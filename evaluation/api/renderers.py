import json

from rest_framework.renderers import BaseRenderer


class MarkdownRenderer(BaseRenderer):
    """`?format=md`: a view's Markdown text as a download; errors stay the standard JSON body."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if isinstance(data, str):
            return data.encode(self.charset)
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode(self.charset)

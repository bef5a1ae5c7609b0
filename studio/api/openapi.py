"""The OpenAPI schema's view of the API: drf-spectacular's, plus the refusals every operation can answer.

Every refusal has the one error body of `studio.errors` ({"error": {"code", "message", "details"}}), so it
is documented once, as the `Error` component, and listed on each operation by what the operation takes:
any request can be unauthenticated (401), ask for a media type the operation does not answer (406) or be
throttled (429); an id in the path or the body can name nothing the caller may see (404, another team's
object included), and so can a list's `page`; a body or query can be invalid (400), a body too large (413)
or of a type the operation does not read (415); a write can be refused by the caller's role (403), by the
state of the objects it touches (409) or because storage refused it (503). Generated clients then know
every status they may meet and the body it carries.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable and machine-readable, e.g. `invalid`, `not_found`, `spec_signed`, `throttled`."
    )
    message = serializers.CharField(help_text="For a person: what went wrong, and what to do where it helps.")
    details = serializers.JSONField(
        help_text="What the refusal is about: {field: [reasons]} for invalid fields, the line, field and "
        "reason of each bad row for a dataset, other facts by code; {} when there is nothing more."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}
REFUSALS = {
    "400": "Invalid input: `details` names each field (or line) and why.",
    "401": "No valid credentials: a personal access token as `Authorization: Bearer …`, or a session.",
    "403": "The caller's role, the token's scope or the project's data policy does not allow this.",
    "404": "An object the path or the body names does not exist, or is in a team the caller is not a member "
    "of (the same answer for both).",
    "406": "The `Accept` header asks for a media type this operation does not answer (it answers JSON, "
    "and its file's own type where it sends a file).",
    "409": "The state of the objects involved refuses this now (the code says which, e.g. `job_finished`).",
    "413": "The request body is larger than the studio accepts; nothing of it was read.",
    "415": "The body's `Content-Type` is not one this operation reads (JSON, a form or multipart).",
    "429": "Too many failed attempts from this address; wait `Retry-After` seconds.",
    "503": "Storage refused the write; nothing was kept. Try again after `Retry-After` seconds.",
}
PAST_THE_LAST_PAGE = "`page` is past the last page (an empty list has one page)."
HEADERS = {
    "401": {"WWW-Authenticate": {"description": '`Bearer realm="api"`', "schema": {"type": "string"}}},
    "429": RETRY_AFTER,
    "503": RETRY_AFTER,
}


def refuses(*statuses: int):
    """Marks a view action that can answer refusals its shape does not imply: a read refused by the data
    policy (403) or by the state of what it reads (409)."""

    def mark(action):
        action.refuses = tuple(str(status) for status in statuses)
        return action

    return mark


class StudioAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorSerializer, direction).ref
        for status in self.refusals():
            response = {
                "description": self._refusal_description(status),
                "content": {"application/json": {"schema": error}},
            }
            if status in HEADERS:
                response["headers"] = HEADERS[status]
            responses.setdefault(status, response)
        return responses

    def refusals(self) -> list[str]:
        """The error statuses this operation can answer, by what it takes (see the module's docstring)."""
        action = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        statuses = {"401", "406", "429", *getattr(action, "refuses", ())}
        takes_a_body = self._get_request_body() is not None
        if "{" in self.path or takes_a_body or self._paginated():
            statuses.add("404")
        if takes_a_body or any(parameter["in"] == "query" for parameter in self._get_parameters()):
            statuses.add("400")
        if takes_a_body:
            statuses |= {"413", "415"}
        if self.method not in SAFE_METHODS:
            statuses |= {"403", "409", "503"}
        return sorted(statuses)

    def _refusal_description(self, status: str) -> str:
        if status != "404" or not self._paginated():
            return REFUSALS[status]
        return f"{REFUSALS[status]} Or {PAST_THE_LAST_PAGE}" if "{" in self.path else PAST_THE_LAST_PAGE

    def _paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

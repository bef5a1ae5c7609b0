"""The API's JSON parser: DRF's, with the studio's bounds on what a request body may hold."""

from __future__ import annotations

import codecs

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from studio import jsonbounds
from studio.errors import InvalidInput


def refused_input(error: jsonbounds.JSONRefused) -> InvalidInput:
    """The 400 for a refused JSON document: the rule's code, and the field it broke when it is known."""
    details = {error.path: [error.message]} if error.path else {}
    if error.code == "nesting_too_deep":
        details["limit"] = jsonbounds.MAX_DEPTH
    message = f"{error.path}: {error.message}" if error.path else error.message
    return InvalidInput(message, code=error.code, details=details)


class JSONParser(parsers.JSONParser):
    """Refuses deep nesting, lone surrogates, NUL and non-finite numbers: a 400 (see studio.jsonbounds)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return jsonbounds.loads(codecs.getreader(encoding)(stream).read())
        except jsonbounds.JSONRefused as error:
            raise refused_input(error) from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None

"""Domain errors raised by services, and the one place that maps them (and DRF's) to HTTP responses.

Every 4xx body has the same shape: {"error": {"code": ..., "message": ..., "details": ...}}.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A failure a user can understand and act on; services raise these, never HTTP responses."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}


class InvalidInput(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class Unavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class StorageUnavailable(Unavailable):
    """The data dir refused a write (read-only or full): the caller has kept nothing of the write."""

    code = "storage_unavailable"


_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextlib.contextmanager
def storage_writes(what: str) -> Iterator[None]:
    """Writes into the data dir: its refusal (read-only, full, over quota) becomes `StorageUnavailable`
    naming `what` was being stored; any other OSError is a bug and stays one. The code inside must
    remove what it had written before the error leaves it, so that "nothing was stored" is true."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _READ_ONLY | _FULL:
            raise
        state = "read-only" if exc.errno in _READ_ONLY else "full"
        logger.error("The data dir refused a write of %s: %s", what, exc)
        raise StorageUnavailable(
            f"The studio could not store {what}: its data folder is {state}. Nothing was stored; "
            "try again once an administrator has made room or made it writable.",
            retry_after=60,
        ) from exc


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_json_response(error: ApplicationError) -> JsonResponse:
    """The standard error body for a response built outside DRF (middleware, plain Django views)."""
    return JsonResponse(error_body(error.code, error.message, error.details), status=error.status_code)


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "invalid"


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _django_validation_details(exc: DjangoValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: the single mapping from exceptions to the standard error body."""
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
        if isinstance(exc, Unavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The connection was lost (a restarted or failed-over PostgreSQL, a dropped connection) or the
        # database is busy: the request's transaction was rolled back, and the next one reconnects.
        logger.error("Database unavailable answering %s", context.get("request"), exc_info=exc)
        response = Response(
            error_body(
                "database_unavailable",
                "The studio lost its connection to the database while answering; retry in a moment.",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "2"
        return response
    if isinstance(exc, DjangoValidationError):
        details = _django_validation_details(exc)
        return Response(error_body("invalid", _first_message(details), details), status=400)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    from rest_framework.views import exception_handler as drf_default_handler  # avoids an import cycle

    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        code, message, details = "invalid", _first_message(exc.detail), exc.detail
    elif isinstance(exc, drf_exceptions.APIException):
        code, message, details = _drf_code(exc), str(exc.detail), {}
    else:  # pragma: no cover - DRF only returns responses for APIException subclasses
        code, message, details = "error", str(exc), {}
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response.data = error_body(code, message, details)
    return response


def _is_api_path(request) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


def json_or_page(page_view, status_code: int, code: str, message: str):
    """Django-level handler404/403/500: JSON under the API prefixes, the HTML page elsewhere."""

    def handler(request, exception=None):
        if _is_api_path(request):
            return JsonResponse(error_body(code, message), status=status_code)
        return page_view(request, exception) if exception is not None else page_view(request)

    return handler

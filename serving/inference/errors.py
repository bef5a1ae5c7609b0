"""Error answers in OpenAI's shape (which its client libraries read), carrying the studio's code and details.

{"error": {"message": ..., "type": ..., "param": ..., "code": ..., "details": {...}}}
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from serving.engine.errors import Overloaded, ServingError

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """A refusal of the HTTP layer itself (no key, unknown endpoint, over the rate, bad JSON, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        details: dict | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.details = details or {}
        self.retry_after = retry_after


def from_serving_error(error: ServingError) -> ApiError:
    details = dict(error.details)
    return ApiError(
        error.http_status,
        error.code,
        error.message,
        param=details.get("field"),
        details=details,
        retry_after=error.retry_after if isinstance(error, Overloaded) else None,
    )


def body(error: ApiError) -> dict:
    return {
        "error": {
            "message": error.message,
            "type": TYPES.get(
                error.status, "invalid_request_error" if error.status < 500 else "server_error"
            ),
            "param": error.param,
            "code": error.code,
            "details": error.details,
        }
    }


def response(error: ApiError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return JSONResponse(body(error), status_code=error.status, headers=headers)

"""Errors the serving engines raise on purpose; the inference process maps each ``code`` to a response.

Every error carries a stable ``code`` (OpenAI-style, what the HTTP layer puts in the error body) and the
HTTP status it stands for, so that the mapping lives here once and not in every caller.
"""

from training.engine.errors import EngineError


class ServingError(EngineError):
    """Base class: a request or an operation the engine refused or could not finish."""

    code = "engine_error"
    http_status = 500

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidRequest(ServingError):
    """The request itself is wrong (missing prompt, bad role, max_tokens over the cap, ...)."""

    code = "invalid_request_error"
    http_status = 400


class ContextLengthExceeded(InvalidRequest):
    """The prompt (plus the tokens asked for) does not fit the input limit or the model's context."""

    code = "context_length_exceeded"


class UnknownAdapter(ServingError):
    """No adapter is loaded under this name (or it is being unloaded)."""

    code = "model_not_found"
    http_status = 404


class AdapterLoadFailed(ServingError):
    """An artifacts folder could not be loaded (missing files, wrong base model, backend refusal)."""

    code = "adapter_load_failed"
    http_status = 400


class AdapterExists(ServingError):
    """A second load under a name that is already loaded; unload it first or pick a new name."""

    code = "adapter_exists"
    http_status = 409


class Overloaded(ServingError):
    """The bounded request queue is full: retry after ``retry_after`` seconds (HTTP 503)."""

    code = "overloaded"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 1, details: dict | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class Timeout(ServingError):
    """The request's deadline passed before it finished; what was streamed before stays valid."""

    code = "timeout"
    http_status = 504


class EngineClosed(ServingError):
    """The engine is shutting down (or stopped) and takes no new requests."""

    code = "engine_unavailable"
    http_status = 503


class BackendUnavailable(ServingError):
    """The backend failed while answering (a remote server unreachable, a failed forward pass)."""

    code = "backend_unavailable"
    http_status = 502


class ConstraintFailed(ServingError):
    """A request's constraint allowed no token at all before it was complete."""

    code = "constraint_failed"
    http_status = 422

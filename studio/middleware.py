"""Cross-cutting request middleware: the health check, request ids, the upload size cap, error pages."""

import re

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from studio.errors import ApplicationError, Forbidden, NotFound, PayloadTooLarge, error_json_response
from studio.request_context import bind_request_id, current_request_id, reset_request_id

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class HealthCheckMiddleware:
    """Answers ``/healthz`` before anything looks at the request's host or scheme: a container's or load
    balancer's probe calls it by IP over plain HTTP, which the host check (400) and the HTTPS redirect
    (301) of the production settings would otherwise refuse. It reads nothing from the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            from studio.views import healthz

            return healthz(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """Tags each request with an id (the caller's `X-Request-ID` when sane) that audit events record."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        token = bind_request_id(incoming if _SAFE_REQUEST_ID.match(incoming) else None)
        request.id = current_request_id()
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request.id
        return response


class UploadSizeLimitMiddleware:
    """Answers 413 from the Content-Length header alone, before any of the body is read or buffered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.STUDIO_MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return error_json_response(
                PayloadTooLarge(
                    f"The request body is {length} bytes; the limit is {limit} bytes.",
                    details={"limit_bytes": limit, "content_length": length},
                )
            )
        return self.get_response(request)


class ApplicationErrorPageMiddleware:
    """In browser pages, a service's NotFound/Forbidden becomes the 404/403 page (the API has its handler)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ApplicationError) or request.path.startswith(("/api/", "/v1/")):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.message) from exception
        if "application/json" in request.headers.get("Accept", ""):  # a page's script asked: answer it
            return error_json_response(exception)
        return self._back_with_message(request, exception)

    @staticmethod
    def _back_with_message(request, exception):
        """Any other refusal (a conflict, bad input) goes back to the page it came from, saying why."""
        referer = request.META.get("HTTP_REFERER", "")
        if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
            messages.error(request, exception.message)
            return HttpResponseRedirect(referer)
        return render(
            request,
            "400.html",
            {"message": exception.message, "status": exception.status_code},
            status=exception.status_code,
        )

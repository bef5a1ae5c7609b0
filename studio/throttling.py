"""Brute-force limits: failed sign-ins (django-axes, per account and per address) and failed bearer
credentials (a DRF rate throttle that counts failures only, per address).

Both answer 429 with `Retry-After`: the sign-in form as a page, the API in the standard error body.
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

from studio.errors import error_body


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or the address the nearest of `STUDIO_TRUSTED_PROXIES` proxies
    saw in X-Forwarded-For. Without trusted proxies the header is ignored (a client could choose it)."""
    proxies = settings.STUDIO_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


class SignInLockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for every sign-in that comes with a request (the sign-in form, the admin).

    Calls without a request (management commands, the test client's `login`) come from no address and
    are not counted; every web path Django and DRF offer passes the request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def sign_in_retry_after(request) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600


def sign_in_lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After, the sign-in page saying why and for how long."""
    retry_after = sign_in_retry_after(request)
    message = (
        "Too many failed sign-ins for this account or from this address. "
        f"Try again in {math.ceil(retry_after / 60)} minutes."
    )
    if request.path.startswith(("/api/", "/v1/")):
        response = JsonResponse(error_body("throttled", message, {"retry_after": retry_after}), status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


class FailedBearerThrottle(SimpleRateThrottle):
    """Counts failed bearer credentials per client address; once the rate is spent the address gets 429.

    DRF throttles run after authentication, so the authentication class asks `wait_for` before it looks
    a credential up and calls `record_failure` when it refuses one. The rate is
    `STUDIO_FAILED_BEARER_RATE` (DRF's "N/period" form), read on every request.
    """

    scope = "failed_bearer"
    cache_format = "throttle_%(scope)s_%(ident)s"

    def get_rate(self) -> str:
        return settings.STUDIO_FAILED_BEARER_RATE

    def __init__(self, request):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def get_ident(self, request) -> str:
        return client_address(request)

    def get_cache_key(self, request, view):  # pragma: no cover - the key is fixed per request above
        return self.key

    def wait_for(self) -> int | None:
        """Seconds until this address may try again, or None when it may try now."""
        if len(self.history) < self.num_requests:
            return None
        return max(1, math.ceil(self.history[-1] + self.duration - self.now))

    def record_failure(self) -> bool:
        """Count one failed credential; True when this failure spends the address's allowance."""
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
        return len(self.history) == self.num_requests

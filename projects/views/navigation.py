"""Where a page leads: a safe `next` target and the project breadcrumbs."""

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def project_crumbs(project, *rest) -> list:
    crumbs = [
        ("Projects", reverse("projects:project_list")),
        (project.name, reverse("projects:project_detail", args=[project.pk])),
    ]
    return crumbs + [(label, None) if isinstance(label, str) else label for label in rest]

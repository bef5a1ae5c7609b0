from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache


@login_required
def home(request):
    return redirect("projects:project_list")


@never_cache
def healthz(request):
    """Liveness for load balancers: the process answers and the database responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # the probe must report, not crash
        database = f"error: {exc.__class__.__name__}"
    healthy = database == "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "database": database}, status=200 if healthy else 503
    )

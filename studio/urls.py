from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from studio import views
from studio.errors import json_or_page

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("studio.api.router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("projects.urls")),
    path("", include("training.urls")),
    path("", include("evaluation.urls")),
    path("", include("governance.urls")),
    path("", include("serving.urls")),
]

handler400 = json_or_page(defaults.bad_request, 400, "bad_request", "The request could not be understood.")
handler403 = json_or_page(defaults.permission_denied, 403, "permission_denied", "You may not do this.")
handler404 = json_or_page(defaults.page_not_found, 404, "not_found", "Not found.")
handler500 = json_or_page(defaults.server_error, 500, "server_error", "Something went wrong on our side.")

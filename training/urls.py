from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/new/", views.job_create, name="job_create"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job_retry"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
    path("models/<int:pk>/download/", views.model_download, name="model_download"),
    path(
        "models/<int:pk>/download/merged/",
        views.model_download,
        {"artifact": "merged"},
        name="model_download_merged",
    ),
    path("models/<int:pk>/export-merged/", views.model_export_merged, name="model_export_merged"),
    path("models/<int:pk>/try/", views.model_try, name="model_try"),
    path("models/<int:pk>/try/<uuid:task_id>/", views.model_try_poll, name="model_try_poll"),
]

from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("team/", views.team_detail, name="team_detail"),
    path("team/new/", views.team_create, name="team_create"),
    path("team/switch/", views.team_switch, name="team_switch"),
    path("teams/<slug:slug>/", views.team_detail, name="team_detail_slug"),
    path("teams/<slug:slug>/settings/", views.team_update, name="team_update"),
    path("members/<int:pk>/role/", views.member_change_role, name="member_change_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    # Projects and their journey hub
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    # Charters
    path("projects/<int:pk>/charter/", views.charter_history, name="charter_history"),
    path("projects/<int:pk>/charter/edit/", views.charter_edit, name="charter_edit"),
    # Datasets
    path("projects/<int:pk>/datasets/upload/", views.dataset_upload, name="dataset_upload"),
    path("projects/<int:pk>/datasets/inspect/", views.dataset_inspect, name="dataset_inspect"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/imports/<int:pk>/", views.dataset_import_detail, name="dataset_import_detail"),
    path("datasets/<int:pk>/upload/", views.dataset_version_upload, name="dataset_version_upload"),
    path("datasets/<int:pk>/card/", views.dataset_card_edit, name="dataset_card_edit"),
    path("datasets/versions/<int:pk>/", views.dataset_version_detail, name="dataset_version_detail"),
    path("datasets/versions/<int:pk>/redact/", views.dataset_version_redact, name="dataset_version_redact"),
    path("datasets/versions/<int:pk>/split/", views.dataset_version_resplit, name="dataset_version_resplit"),
    path(
        "datasets/versions/<int:pk>/download/<str:export>/",
        views.dataset_version_download,
        name="dataset_version_download",
    ),
]

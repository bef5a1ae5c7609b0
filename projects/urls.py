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
    path("projects/", views.project_list, name="project_list"),
]

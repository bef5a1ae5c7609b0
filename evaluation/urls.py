from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("projects/<int:pk>/evaluation/", views.project_evaluation, name="project_evaluation"),
    path("projects/<int:pk>/evaluation/specs/new/", views.spec_create, name="spec_create"),
    path("projects/<int:pk>/evaluation/runs/new/", views.run_create, name="run_create"),
    path("eval-specs/<int:pk>/", views.spec_detail, name="spec_detail"),
    path("eval-specs/<int:pk>/sign/", views.spec_sign, name="spec_sign"),
    path("eval-runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("eval-runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("models/<int:pk>/compare/", views.compare, name="compare"),
    path("models/<int:pk>/compare/release-diff.md", views.release_diff, name="release_diff"),
]

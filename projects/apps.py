from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = "Teams, projects and datasets"
    # Governance reviewers read these in the admin console (see projects.services.reviewers).
    reviewer_readable_models = ("team", "membership")

    def ready(self) -> None:
        from projects.api import schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular)

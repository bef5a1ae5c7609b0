from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    # Governance reviewers read these in the admin console (see projects.services.reviewers).
    reviewer_readable_models = ("auditevent",)

    def ready(self) -> None:
        from audit import receivers  # noqa: F401  (sign-in auditing)

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance and audit"

    def ready(self) -> None:
        from governance import receivers  # noqa: F401  (sign-in auditing)

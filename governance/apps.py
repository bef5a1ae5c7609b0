from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    # Governance reviewers read (and act on, through the services) these in the admin console.
    reviewer_readable_models = ("promotionrequest", "approval", "stagechange", "modelcard", "tierpolicy")

    def ready(self):
        from governance import journey

        journey.register()  # the Approval step of the project journey

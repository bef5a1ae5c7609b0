from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"
    # Governance reviewers read these in the admin console (see projects.services.reviewers).
    reviewer_readable_models = ("trainingjob", "modelversion", "basemodel")

    def ready(self) -> None:
        from training import journey

        journey.register()  # the Model step of the project journey and the project page's jobs panel

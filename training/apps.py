from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"
    # Governance reviewers read these in the admin console (see projects.services.reviewers).
    reviewer_readable_models = ("trainingjob", "modelversion", "basemodel")

from django.db.models import QuerySet

from studio.tenancy import get_for_user
from training.models import BaseModel, ModelVersion, TrainingJob


def base_model_list(*, user) -> QuerySet[BaseModel]:
    return BaseModel.objects.for_user(user).filter(is_active=True)


def base_model_get(*, user, key: str) -> BaseModel:
    return get_for_user(BaseModel.objects.filter(is_active=True), user, key=key)


def training_job_list(*, user) -> QuerySet[TrainingJob]:
    return TrainingJob.objects.for_user(user).select_related(
        "project__team", "base_model", "created_by", "model_version", "dataset_version__dataset"
    )


def training_job_get(*, user, pk) -> TrainingJob:
    return get_for_user(training_job_list(user=user), user, pk=pk)


def model_version_list(*, user) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.for_user(user).select_related("project__team", "base_model", "created_by")


def model_version_get(*, user, pk) -> ModelVersion:
    return get_for_user(model_version_list(user=user), user, pk=pk)

"""The one API router; each app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from audit.api.views import AuditEventViewSet
from evaluation.api.views import ComparisonViewSet, EvalRunViewSet, EvalSpecViewSet
from governance.api.views import ModelVersionGovernanceViewSet, PromotionViewSet
from projects.api.views import (
    CharterViewSet,
    DatasetImportViewSet,
    DatasetVersionViewSet,
    DatasetViewSet,
    MemberViewSet,
    PersonalAccessTokenViewSet,
    ProjectViewSet,
    TeamViewSet,
)
from serving.api.views import ApiKeyViewSet, EndpointViewSet
from training.api.views import BaseModelViewSet, ModelVersionViewSet, TrainingJobViewSet


class StudioRouter(DefaultRouter):
    """DRF's router, except that a prefix two apps share (``model-versions``: training's viewset and
    governance's card and stage actions) keeps its first registration, the one with a list, in the API
    root. DRF lets the last one win, and its list route does not exist, so the root left the prefix out."""

    def get_api_root_view(self, api_urls=None):
        list_name = self.routes[0].name
        api_root_dict = {}
        for prefix, _viewset, basename in self.registry:
            api_root_dict.setdefault(prefix, list_name.format(basename=basename))
        return self.APIRootView.as_view(api_root_dict=api_root_dict)


router = StudioRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("teams", TeamViewSet, basename="team")
router.register("members", MemberViewSet, basename="member")
router.register("tokens", PersonalAccessTokenViewSet, basename="token")
router.register("projects", ProjectViewSet, basename="project")
router.register("charters", CharterViewSet, basename="charter")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("dataset-versions", DatasetVersionViewSet, basename="dataset-version")
router.register("dataset-imports", DatasetImportViewSet, basename="dataset-import")
router.register("base-models", BaseModelViewSet, basename="base-model")
router.register("training-jobs", TrainingJobViewSet, basename="training-job")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("eval-specs", EvalSpecViewSet, basename="eval-spec")
router.register("eval-runs", EvalRunViewSet, basename="eval-run")
router.register("comparisons", ComparisonViewSet, basename="comparison")
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("promotions", PromotionViewSet, basename="promotion")
# Model cards, retirement and stage history live under model-versions/{id}/, served by governance.
router.register("model-versions", ModelVersionGovernanceViewSet, basename="model-version-governance")

urlpatterns = router.urls

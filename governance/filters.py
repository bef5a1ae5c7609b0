import django_filters

from governance.choices import PromotionStatus, TargetStage
from governance.models import PromotionRequest


class PromotionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PromotionStatus.choices)
    target_stage = django_filters.ChoiceFilter(choices=TargetStage.choices)

    class Meta:
        model = PromotionRequest
        fields = ["project", "model_version", "status", "target_stage"]

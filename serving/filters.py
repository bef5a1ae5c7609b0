import django_filters

from serving.choices import EndpointStatus
from serving.models import Endpoint


class EndpointFilterSet(django_filters.FilterSet):
    """`?team=<slug>`, `?project=<id>`, `?status=active|paused`."""

    team = django_filters.CharFilter(field_name="project__team__slug")
    status = django_filters.ChoiceFilter(choices=EndpointStatus.choices)

    class Meta:
        model = Endpoint
        fields = ["team", "project", "status"]

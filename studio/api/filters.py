import django_filters
from django_filters.fields import IsoDateTimeField

from studio.forms import UTCDateTimeMixin


class TeamSlugFilterSet(django_filters.FilterSet):
    """`?team=<slug>` for any resource that reaches its team through `team`."""

    team = django_filters.CharFilter(field_name="team__slug")


class UTCIsoDateTimeField(UTCDateTimeMixin, IsoDateTimeField):
    pass


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter whose value is refused (400) when it cannot be compared in UTC."""

    field_class = UTCIsoDateTimeField

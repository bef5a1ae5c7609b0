import django_filters


class TeamSlugFilterSet(django_filters.FilterSet):
    """`?team=<slug>` for any resource that reaches its team through `team`."""

    team = django_filters.CharFilter(field_name="team__slug")

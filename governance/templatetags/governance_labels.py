"""Codes kept in evidence snapshots and card data, as people read them:
``{{ card.lawful_basis|lawful_basis }}`` is "Not personal data", ``{{ a.role|approver_role }}`` "Governance
reviewer"."""

from django import template

from governance import tiers
from projects.choices import LawfulBasis

register = template.Library()


@register.filter
def lawful_basis(value):
    return LawfulBasis(value).label if value in LawfulBasis.values else value


@register.filter
def approver_role(value):
    return tiers.role_label(value)

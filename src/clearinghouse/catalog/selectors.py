"""Reading the catalog, and matching a report's free-text target to a registered system."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from clearinghouse.accounts.models import Organisation
from clearinghouse.catalog.models import AISystem


def ai_system_list() -> QuerySet[AISystem]:
    return AISystem.objects.select_related("vendor")


def vendor_list() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind=Organisation.Kind.VENDOR)


def ai_system_match(*, vendor: str, model: str, version: str) -> AISystem | None:
    """The catalog entry a target names: vendor by name or slug, model and version case-insensitive.

    An empty version matches the unversioned entry if there is one, else the newest version.
    """
    candidates = AISystem.objects.filter(
        Q(vendor__name__iexact=vendor) | Q(vendor__slug__iexact=vendor),
        model_name__iexact=model,
    )
    if version:
        return candidates.filter(version__iexact=version).first()
    unversioned = candidates.filter(version="").first()
    return unversioned or candidates.order_by("-created_at", "-id").first()

"""Reading the catalog, and matching a report's free-text target to a registered system."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet
from django.db.models.functions import Lower

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
    return ai_system_match_many(targets=[(vendor, model, version)])[0]


def ai_system_match_many(*, targets: Sequence[tuple[str, str, str]]) -> list[AISystem | None]:
    """``ai_system_match`` for several (vendor, model, version) targets, in one query.

    Submission is the hot path of intake; one query per report instead of one or two per target.
    """
    if not targets:
        return []
    models = {model.lower() for _, model, _ in targets}
    candidates = list(
        AISystem.objects.select_related("vendor")
        .annotate(model_lower=Lower("model_name"))
        .filter(model_lower__in=models)
        .order_by("-created_at", "-id")
    )
    matches: list[AISystem | None] = []
    for vendor, model, version in targets:
        same = [
            system
            for system in candidates
            if system.model_name.lower() == model.lower()
            and vendor.lower() in {system.vendor.name.lower(), system.vendor.slug.lower()}
        ]
        if version:
            found = next((s for s in same if s.version.lower() == version.lower()), None)
        else:
            found = next((s for s in same if s.version == ""), same[0] if same else None)
        matches.append(found)
    return matches

"""Registering AI systems in the catalog."""

from __future__ import annotations

from clearinghouse.accounts.models import Organisation
from clearinghouse.catalog.models import AISystem
from clearinghouse.core.errors import InvalidInput


def ai_system_register(
    *, vendor: Organisation, model_name: str, version: str = "", modality: str = "text"
) -> AISystem:
    if vendor.kind != Organisation.Kind.VENDOR:
        raise InvalidInput(f"{vendor.name} is not a vendor", field="vendor")
    if modality not in AISystem.Modality.values:
        raise InvalidInput(f"unknown modality {modality!r}", field="modality")
    system, _ = AISystem.objects.get_or_create(
        vendor=vendor, model_name=model_name, version=version, defaults={"modality": modality}
    )
    return system

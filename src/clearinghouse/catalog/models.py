"""AI systems: a vendor's model at a version, with its modality."""

from __future__ import annotations

from django.db import models

from clearinghouse.accounts.models import Organisation


class AISystem(models.Model):
    class Modality(models.TextChoices):
        TEXT = "text", "Text"
        MULTIMODAL = "multimodal", "Text and images"
        AUDIO = "audio", "Audio"
        CODE = "code", "Code"
        AGENT = "agent", "Agent (tools)"

    vendor = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="ai_systems",
        limit_choices_to={"kind": Organisation.Kind.VENDOR},
        db_comment="The vendor organisation that ships the model.",
    )
    model_name = models.CharField(
        max_length=200, db_comment="Model name as the vendor publishes it."
    )
    version = models.CharField(
        max_length=100, blank=True, db_comment="Version or snapshot; empty for 'unversioned'."
    )
    modality = models.CharField(
        max_length=16, choices=Modality.choices, default=Modality.TEXT, db_comment="Main modality."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When it was registered.")

    class Meta:
        ordering = ["vendor__name", "model_name", "version"]
        db_table_comment = "Models and versions that reports can target."
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "model_name", "version"], name="catalog_aisystem_unique_version"
            )
        ]

    def __str__(self) -> str:
        suffix = f" {self.version}" if self.version else ""
        return f"{self.vendor.name} {self.model_name}{suffix}"

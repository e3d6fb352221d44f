"""The audit trail: who did what to which object, append-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField(
        auto_now_add=True, db_index=True, db_comment="When it happened (UTC)."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_comment="Who did it; null for anonymous submitters and the system.",
    )
    action = models.CharField(
        max_length=64, db_index=True, db_comment="Dotted verb, e.g. report.submit."
    )
    object_type = models.CharField(
        max_length=64, db_comment="Kind of object acted on, e.g. report."
    )
    object_id = models.CharField(
        max_length=64, db_index=True, db_comment="Its primary key as text."
    )
    data = models.JSONField(
        default=dict, blank=True, db_comment="Small structured details; never report text."
    )

    class Meta:
        ordering = ["-at", "-id"]
        db_table_comment = "Append-only audit trail of actions on sensitive objects."

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"

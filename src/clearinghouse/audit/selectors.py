"""Reading the audit trail."""

from __future__ import annotations

from django.db.models import QuerySet

from clearinghouse.audit.models import AuditEvent


def audit_event_list(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=object_id).select_related(
        "actor"
    )

"""Writing audit events. Callers hold the transaction that does the audited change."""

from __future__ import annotations

from typing import Any

from clearinghouse.accounts.models import User
from clearinghouse.audit.models import AuditEvent


def audit_record(
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call inside the transaction of the change so both commit or neither."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
    )

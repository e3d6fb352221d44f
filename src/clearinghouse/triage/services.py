"""Triage writes. The classification engine lands with the triage issue; today a triaged report is
one that the background worker has picked up and queued for analysts."""

from __future__ import annotations

import uuid

from django.db import transaction

from clearinghouse.audit.services import audit_record
from clearinghouse.core.errors import NotFound
from clearinghouse.intake.models import Report


def report_queue_for_triage(*, report_id: uuid.UUID | str) -> str:
    """Move a received report to ``queued_for_triage``. Idempotent: a repeated run changes nothing.

    Returns the report's status afterwards. Raises NotFound if the report was deleted meanwhile.
    """
    with transaction.atomic():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            raise NotFound("no such report")
        if report.status in {Report.Status.RECEIVED, Report.Status.TRIAGE_FAILED}:
            report.status = Report.Status.QUEUED_FOR_TRIAGE
            report.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=None,
                action="report.queue_for_triage",
                object_type="report",
                object_id=str(report.pk),
            )
        return report.status


def report_mark_triage_failed(*, report_id: uuid.UUID | str, reason: str) -> None:
    """Record that triage gave up, so the report shows up for a person instead of vanishing."""
    with transaction.atomic():
        updated = Report.objects.filter(pk=report_id, status=Report.Status.RECEIVED).update(
            status=Report.Status.TRIAGE_FAILED
        )
        if updated:
            audit_record(
                actor=None,
                action="report.triage_failed",
                object_type="report",
                object_id=str(report_id),
                data={"reason": reason[:500]},
            )

"""Reading reports. Every read goes through ``report_visible_to`` so access is decided in one place."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Literal

from django.db.models import F, Q, QuerySet

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.core.errors import NotFound
from clearinghouse.intake.models import Report

SortOrder = Literal["priority", "newest", "oldest"]


@dataclass(frozen=True, slots=True)
class ReportFilters:
    status: str | None = None
    threat_type: str | None = None
    vendor: str | None = None  # organisation slug or name, case-insensitive
    model: str | None = None  # model name, case-insensitive
    tlp: str | None = None
    search: str | None = None  # substring of the title
    sort: SortOrder = "priority"


def report_visible_to(*, user: User) -> QuerySet[Report]:
    """All reports ``user`` may read: everything for staff, their own for everyone else."""
    reports = Report.objects.all()
    if user.has_permission(Permission.REPORTS_ALL_READ):
        return reports
    if user.has_permission(Permission.REPORTS_OWN_READ):
        return reports.filter(submitted_by=user)
    return reports.none()


def report_list(*, user: User, filters: ReportFilters | None = None) -> QuerySet[Report]:
    filters = filters or ReportFilters()
    reports = report_visible_to(user=user)
    if filters.status:
        reports = reports.filter(status=filters.status)
    if filters.threat_type:
        reports = reports.filter(threat_type=filters.threat_type)
    if filters.tlp:
        reports = reports.filter(tlp=filters.tlp)
    if filters.vendor:
        reports = reports.filter(
            Q(targets__system__vendor__slug__iexact=filters.vendor)
            | Q(targets__system__vendor__name__iexact=filters.vendor)
            | Q(targets__vendor_name__iexact=filters.vendor)
        )
    if filters.model:
        reports = reports.filter(
            Q(targets__system__model_name__iexact=filters.model)
            | Q(targets__model_name__iexact=filters.model)
        )
    if filters.search:
        reports = reports.filter(title__icontains=filters.search)
    if filters.vendor or filters.model:
        # The target joins can match one report several times.
        reports = reports.distinct()
    if filters.sort == "priority":
        reports = reports.order_by(F("priority").desc(nulls_last=True), "-created_at", "-id")
    elif filters.sort == "oldest":
        reports = reports.order_by("created_at", "id")
    else:
        reports = reports.order_by("-created_at", "-id")
    return reports.select_related("submitted_by", "reporter_organisation")


def _parse_id(report_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return report_id if isinstance(report_id, uuid.UUID) else uuid.UUID(str(report_id))
    except ValueError:
        raise NotFound("no such report") from None


def report_get(*, user: User, report_id: str | uuid.UUID) -> Report:
    """The report if ``user`` may read it. Missing and forbidden both raise NotFound."""
    parsed = _parse_id(report_id)
    report = (
        report_visible_to(user=user)
        .select_related("submitted_by", "reporter_organisation")
        .prefetch_related("targets__system__vendor")
        .filter(pk=parsed)
        .first()
    )
    if report is None:
        raise NotFound("no such report")
    return report


def report_get_anonymous(*, report_id: str | uuid.UUID, follow_up_token: str) -> Report:
    """An anonymous submission, for the holder of its follow-up token. Raises NotFound otherwise."""
    from clearinghouse.intake.services import follow_up_token_hash

    parsed = _parse_id(report_id)
    report = Report.objects.filter(pk=parsed, submitted_by__isnull=True).first()
    if (
        report is None
        or not report.follow_up_hash
        or not hmac.compare_digest(report.follow_up_hash, follow_up_token_hash(follow_up_token))
    ):
        raise NotFound("no such report")
    return report

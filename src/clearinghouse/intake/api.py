"""Report intake over JSON: submit, list, read; and the anonymous path with a follow-up token."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.params import functions as params

from clearinghouse.accounts.models import User
from clearinghouse.intake import selectors, services
from clearinghouse.intake.models import Report
from clearinghouse.intake.schema import ReportSubmission, ThreatType, Tlp

router = Router(tags=["reports"])
anonymous_router = Router(tags=["anonymous reports"], auth=None)

MAX_PAGE_SIZE = 200


class ReceiptOut(Schema):
    report_id: str
    received_at: datetime
    sha256: str = Field(description="SHA-256 of the canonical JSON of what was received.")
    status: str
    replayed: bool = Field(
        description="True when an Idempotency-Key returned an earlier submission."
    )
    follow_up_token: str | None = Field(
        default=None, description="Anonymous submissions only: keep it, it is not shown again."
    )


class TargetOut(Schema):
    vendor: str
    model: str
    version: str
    catalog_id: int | None


class ReportSummaryOut(Schema):
    id: str
    title: str
    status: str
    tlp: str
    threat_type: str
    threat_type_source: str
    priority: float | None
    reporter: str | None
    created_at: datetime


class ReportOut(ReportSummaryOut):
    description: str
    targets: list[TargetOut]
    poc: dict[str, Any]
    observed_output: str
    claims: dict[str, Any]
    submission_sha256: str
    updated_at: datetime


class ReportPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ReportSummaryOut]


class ListQuery(Schema):
    status: Report.Status | None = None
    threat_type: ThreatType | None = None
    vendor: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    tlp: Tlp | None = None
    search: str | None = Field(default=None, max_length=200)
    sort: Literal["priority", "newest", "oldest"] = "priority"
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)


def _summary(report: Report) -> ReportSummaryOut:
    return ReportSummaryOut(
        id=str(report.pk),
        title=report.title,
        status=report.status,
        tlp=report.tlp,
        threat_type=report.threat_type,
        threat_type_source=report.threat_type_source,
        priority=report.priority,
        reporter=report.submitted_by.username if report.submitted_by else None,
        created_at=report.created_at,
    )


def _detail(report: Report) -> ReportOut:
    return ReportOut(
        **_summary(report).model_dump(),
        description=report.description,
        targets=[
            TargetOut(
                vendor=target.vendor_name,
                model=target.model_name,
                version=target.version,
                catalog_id=target.system_id,
            )
            for target in report.targets.all()
        ],
        poc=report.poc,
        observed_output=report.observed_output,
        claims=report.claims,
        submission_sha256=report.submission_sha256,
        updated_at=report.updated_at,
    )


def _receipt(result: services.SubmitResult) -> ReceiptOut:
    return ReceiptOut(
        report_id=result.receipt.report_id,
        received_at=result.receipt.received_at,
        sha256=result.receipt.sha256,
        status=result.receipt.status,
        replayed=not result.created,
        follow_up_token=result.follow_up_token,
    )


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


IdempotencyKey = params.Header(
    default=None,
    alias="Idempotency-Key",
    description="Any unique string; a retry with the same key and body returns the first receipt.",
)


@router.post("", response={201: ReceiptOut}, summary="Submit a report")
def submit(
    request: HttpRequest, report: ReportSubmission, idempotency_key: str | None = IdempotencyKey
) -> Status[ReceiptOut]:
    result = services.report_submit(
        submission=report, submitter=_user(request), idempotency_key=idempotency_key
    )
    return Status(201, _receipt(result))


@router.get("", response=ReportPage, summary="List reports visible to you")
def list_reports(request: HttpRequest, query: Query[ListQuery]) -> ReportPage:
    reports = selectors.report_list(
        user=_user(request),
        filters=selectors.ReportFilters(
            status=query.status.value if query.status else None,
            threat_type=query.threat_type.value if query.threat_type else None,
            vendor=query.vendor,
            model=query.model,
            tlp=query.tlp.value if query.tlp else None,
            search=query.search,
            sort=query.sort,
        ),
    )
    page = list(reports[query.offset : query.offset + query.limit])
    return ReportPage(
        count=reports.count(),
        limit=query.limit,
        offset=query.offset,
        items=[_summary(report) for report in page],
    )


@router.get("/{report_id}", response=ReportOut, summary="Read one report")
def get_report(request: HttpRequest, report_id: str) -> ReportOut:
    return _detail(selectors.report_get(user=_user(request), report_id=report_id))


@anonymous_router.post("", response={201: ReceiptOut}, summary="Submit a report without an account")
def submit_anonymous(
    request: HttpRequest, report: ReportSubmission, idempotency_key: str | None = IdempotencyKey
) -> Status[ReceiptOut]:
    result = services.report_submit(
        submission=report, submitter=None, idempotency_key=idempotency_key
    )
    return Status(201, _receipt(result))


class AnonymousStatusOut(Schema):
    report_id: str
    status: str
    received_at: datetime
    sha256: str


@anonymous_router.get(
    "/{report_id}", response=AnonymousStatusOut, summary="Follow up on an anonymous report"
)
def follow_up(
    request: HttpRequest,
    report_id: str,
    token: str = params.Header(
        alias="X-Follow-Up-Token", description="The token from the receipt."
    ),
) -> AnonymousStatusOut:
    report = selectors.report_get_anonymous(report_id=report_id, follow_up_token=token)
    return AnonymousStatusOut(
        report_id=str(report.pk),
        status=report.status,
        received_at=report.created_at,
        sha256=report.submission_sha256,
    )

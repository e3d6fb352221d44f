"""Submitting reports.

``report_submit`` is the one way a report enters the system (API, web form, CLI and importers all
call it). It stores the report, its targets, the idempotency record, the audit event and the triage
task in one transaction: the task row lives in the same database (django-tasks-db), so a report
can never be committed without its triage task, nor a task without its report.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.audit.services import audit_record
from clearinghouse.catalog.selectors import ai_system_match_many
from clearinghouse.core.errors import Conflict, InvalidInput, PermissionDenied
from clearinghouse.intake.importers.base import RunInfo
from clearinghouse.intake.models import IdempotencyRecord, Report, ReportTarget, ScanRun
from clearinghouse.intake.schema import ReportSubmission

MAX_IDEMPOTENCY_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a submitter gets back: proof of what was received, and when."""

    report_id: str
    received_at: datetime
    sha256: str
    status: str


@dataclass(frozen=True, slots=True)
class SubmitResult:
    report: Report
    created: bool  # False when an idempotency key returned an earlier report
    receipt: Receipt
    follow_up_token: str | None  # anonymous submissions only


def _follow_up_token(report: Report) -> str:
    # Derived, not stored: a retried anonymous submission (same key, same body) gets the same token
    # back, while the database holds only its hash.
    mac = hmac.new(
        settings.SECRET_KEY.encode("utf-8"),
        f"follow-up:{report.pk}:{report.follow_up_salt}".encode(),
        hashlib.sha256,
    )
    return f"chf_{mac.hexdigest()}"


def follow_up_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _receipt(report: Report) -> Receipt:
    return Receipt(
        report_id=str(report.pk),
        received_at=report.created_at,
        sha256=report.submission_sha256,
        status=report.status,
    )


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidInput(
            f"must be printable ASCII of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            field="Idempotency-Key",
        )
    return key


def _replay(scope: str, key: str, digest: str) -> SubmitResult | None:
    record = IdempotencyRecord.objects.select_related("report").filter(scope=scope, key=key).first()
    if record is None:
        return None
    if record.request_sha256 != digest:
        raise Conflict(
            "this Idempotency-Key was already used with a different report body",
            field="Idempotency-Key",
        )
    report = record.report
    token = _follow_up_token(report) if report.follow_up_hash else None
    return SubmitResult(
        report=report, created=False, receipt=_receipt(report), follow_up_token=token
    )


def report_submit(
    *,
    submission: ReportSubmission,
    submitter: User | None,
    idempotency_key: str | None = None,
    scan_run: ScanRun | None = None,
) -> SubmitResult:
    """Store a validated submission and enqueue its triage.

    ``submitter=None`` is an anonymous submission: the result carries a follow-up token, shown once.
    ``scan_run`` links a finding imported from a scanner to the run that found it.
    Raises PermissionDenied (submitter may not submit), InvalidInput (bad idempotency key),
    Conflict (key reused with another body).
    """
    from clearinghouse.triage.tasks import report_triage

    if submitter is not None and not submitter.has_permission(Permission.REPORTS_SUBMIT):
        raise PermissionDenied("this account may not submit reports")
    key = _check_idempotency_key(idempotency_key)
    scope = f"user:{submitter.pk}" if submitter is not None else "anonymous"
    digest = submission.sha256()
    if key is not None and (earlier := _replay(scope, key, digest)) is not None:
        return earlier
    # Build everything before the transaction: on SQLite the transaction holds the one write lock,
    # so it should contain the INSERTs and nothing else.
    report = Report(
        title=submission.title,
        description=submission.description,
        submitted_by=submitter,
        reporter_organisation=submitter.organisation if submitter else None,
        poc=submission.poc.model_dump(mode="json"),
        observed_output=submission.observed_output,
        claims=submission.claims.model_dump(mode="json", exclude_none=True),
        tlp=submission.tlp.value,
        threat_type=submission.threat_type.value if submission.threat_type else "",
        threat_type_source=(Report.ThreatTypeSource.REPORTER if submission.threat_type else ""),
        submission_sha256=digest,
        scan_run=scan_run,
    )
    token: str | None = None
    if submitter is None:
        report.follow_up_salt = secrets.token_hex(16)
        token = _follow_up_token(report)  # the id is assigned client-side (uuid4), so known now
        report.follow_up_hash = follow_up_token_hash(token)
    systems = ai_system_match_many(
        targets=[(target.vendor, target.model, target.version) for target in submission.targets]
    )
    targets = [
        ReportTarget(
            report=report,
            position=position,
            vendor_name=target.vendor,
            model_name=target.model,
            version=target.version,
            system=system,
        )
        for position, (target, system) in enumerate(zip(submission.targets, systems, strict=True))
    ]
    try:
        with transaction.atomic():
            report.save(force_insert=True)
            ReportTarget.objects.bulk_create(targets)
            if key is not None:
                IdempotencyRecord.objects.create(
                    scope=scope, key=key, request_sha256=digest, report=report
                )
            audit_record(
                actor=submitter,
                action="report.submit",
                object_type="report",
                object_id=str(report.pk),
                data={"sha256": digest, "anonymous": submitter is None},
            )
            report_triage.enqueue(report_id=str(report.pk))
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as that one did.
        if key is not None and (earlier := _replay(scope, key, digest)) is not None:
            return earlier
        raise
    return SubmitResult(
        report=report, created=True, receipt=_receipt(report), follow_up_token=token
    )


# ---- scanner runs -----------------------------------------------------------------------------


def scan_run_open(*, scanner: str, run: RunInfo, file_name: str, user: User) -> ScanRun:
    """Get or create the user's ScanRun for this scanner run and stamp this import on it."""
    with transaction.atomic():
        scan_run, created = ScanRun.objects.update_or_create(
            scanner=scanner,
            run_id=run.run_id,
            imported_by=user,
            defaults={
                "scanner_version": run.scanner_version[:100],
                "file_name": file_name[:255],
                "imported_at": timezone.now(),
            },
        )
        audit_record(
            actor=user,
            action="scan_run.import",
            object_type="scan_run",
            object_id=str(scan_run.pk),
            data={"scanner": scanner, "run_id": run.run_id, "first": created},
        )
    return scan_run


def scan_run_close(
    *,
    scan_run: ScanRun,
    records_read: int,
    records_skipped: int,
    findings: int,
    created: int,
    present: int,
) -> None:
    """Record the counts of one import of this run."""
    scan_run.records_read = records_read
    scan_run.records_skipped = records_skipped
    scan_run.findings = findings
    scan_run.reports_created = created
    scan_run.reports_present = present
    scan_run.save(
        update_fields=[
            "records_read",
            "records_skipped",
            "findings",
            "reports_created",
            "reports_present",
        ]
    )

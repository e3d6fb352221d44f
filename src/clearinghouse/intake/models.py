"""Reports as submitted, the models they target, idempotency records for retried submissions, and
the scanner runs that imported reports came from."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from clearinghouse.accounts.models import Organisation
from clearinghouse.catalog.models import AISystem
from clearinghouse.intake.schema import ThreatType, Tlp


class ScanRun(models.Model):
    """A scanner's run (a garak run, a promptfoo eval, a PyRIT memory database) as one user imported it.

    Importing the same run again updates its counts and ``imported_at``; the reports it created
    link here through ``Report.scan_run``.
    """

    scanner = models.CharField(
        max_length=40, db_comment="Importer format that read it: 'garak', 'pyrit' or 'promptfoo'."
    )
    run_id = models.CharField(
        max_length=200,
        db_comment="The scanner's id of the run: garak run uuid, promptfoo evalId, 'memory' for PyRIT.",
    )
    scanner_version = models.CharField(
        max_length=100, blank=True, db_comment="Scanner version the file names, if any."
    )
    file_name = models.CharField(
        max_length=255, db_comment="Base name of the file last imported (no directories)."
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="scan_runs",
        db_comment="User who imported it; the reports are submitted as this user.",
    )
    first_imported_at = models.DateTimeField(
        auto_now_add=True, db_comment="When the run was first imported."
    )
    imported_at = models.DateTimeField(db_comment="When the run was last imported.")
    records_read = models.PositiveIntegerField(
        default=0,
        db_comment="Last import: records read from the file (lines, results, conversations).",
    )
    findings = models.PositiveIntegerField(
        default=0, db_comment="Last import: valid findings read from the file."
    )
    reports_created = models.PositiveIntegerField(
        default=0, db_comment="Last import: reports created."
    )
    reports_present = models.PositiveIntegerField(
        default=0, db_comment="Last import: findings whose report was already present."
    )
    records_skipped = models.PositiveIntegerField(
        default=0, db_comment="Last import: records of the file skipped as unusable or refused."
    )

    class Meta:
        ordering = ["-imported_at"]
        db_table_comment = "Scanner runs whose findings were imported as reports."
        constraints = [
            models.UniqueConstraint(
                fields=["scanner", "run_id", "imported_by"], name="intake_scan_run_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scanner} {self.run_id}"


class Report(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED_FOR_TRIAGE = "queued_for_triage", "Queued for triage"
        TRIAGED = "triaged", "Triaged"
        TRIAGE_FAILED = "triage_failed", "Triage failed"

    class ThreatTypeSource(models.TextChoices):
        REPORTER = "reporter", "Reporter's claim"
        TRIAGE = "triage", "Triage engine"
        ANALYST = "analyst", "Analyst"

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, db_comment="Public id."
    )
    title = models.CharField(max_length=300, db_comment="Reporter's title, stored as sent.")
    description = models.TextField(blank=True, db_comment="Reporter's description, stored as sent.")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        db_comment="Submitting user; null for anonymous submissions.",
    )
    reporter_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        db_comment="The submitter's organisation at submission time.",
    )
    follow_up_salt = models.CharField(
        max_length=32, blank=True, db_comment="Anonymous only: salt of the follow-up token HMAC."
    )
    follow_up_hash = models.CharField(
        max_length=64, blank=True, db_comment="Anonymous only: SHA-256 of the follow-up token."
    )
    poc = models.JSONField(
        db_comment="Proof of concept: {system, turns[{role, content}], objective, context_documents}."
    )
    observed_output = models.TextField(
        blank=True, db_comment="What the model answered, as reported."
    )
    claims = models.JSONField(
        default=dict, db_comment="Reporter's claims: success_rate, attempts, cost_usd."
    )
    tlp = models.CharField(
        max_length=16,
        choices=[(label.value, label.value) for label in Tlp],
        default=Tlp.AMBER.value,
        db_comment="TLP 2.0 marking chosen by the reporter.",
    )
    status = models.CharField(
        max_length=32,
        choices=Status.choices,
        default=Status.RECEIVED,
        db_index=True,
        db_comment="Where the report is in the pipeline.",
    )
    threat_type = models.CharField(
        max_length=40,
        choices=[(kind.value, kind.value) for kind in ThreatType],
        blank=True,
        db_index=True,
        db_comment="Current threat type; see threat_type_source for who set it.",
    )
    threat_type_source = models.CharField(
        max_length=16,
        choices=ThreatTypeSource.choices,
        blank=True,
        db_comment="Who set threat_type.",
    )
    priority = models.FloatField(
        null=True,
        blank=True,
        db_index=True,
        db_comment="Triage priority (higher first); null until triaged.",
    )
    submission_sha256 = models.CharField(
        max_length=64,
        db_index=True,
        db_comment="SHA-256 of the canonical submission JSON (the receipt).",
    )
    scan_run = models.ForeignKey(
        ScanRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        db_comment="Scanner run the report was imported from; null when submitted directly.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, db_comment="Received at.")
    updated_at = models.DateTimeField(auto_now=True, db_comment="Last change.")

    class Meta:
        ordering = ["-created_at"]
        db_table_comment = "Vulnerability reports about AI systems, stored exactly as submitted."

    def __str__(self) -> str:
        return f"{self.id} {self.title[:60]!r}"


class ReportTarget(models.Model):
    """A target named in a report; ``system`` links it to the catalog when the names match."""

    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="targets", db_comment="The report."
    )
    position = models.PositiveSmallIntegerField(db_comment="Order in the submission.")
    vendor_name = models.CharField(max_length=200, db_comment="Vendor as the reporter wrote it.")
    model_name = models.CharField(max_length=200, db_comment="Model as the reporter wrote it.")
    version = models.CharField(
        max_length=100, blank=True, db_comment="Version as the reporter wrote it."
    )
    system = models.ForeignKey(
        AISystem,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="report_targets",
        db_comment="Catalog match, if any.",
    )

    class Meta:
        ordering = ["report", "position"]
        db_table_comment = "Models a report targets, as written and as matched to the catalog."
        constraints = [
            models.UniqueConstraint(fields=["report", "position"], name="intake_target_position")
        ]

    def __str__(self) -> str:
        return f"{self.vendor_name} {self.model_name} {self.version}".strip()


class IdempotencyRecord(models.Model):
    """Remembers an ``Idempotency-Key`` so a retried submission returns the first report."""

    scope = models.CharField(max_length=40, db_comment="'user:<id>' or 'anonymous'.")
    key = models.CharField(max_length=200, db_comment="The client's Idempotency-Key header.")
    request_sha256 = models.CharField(
        max_length=64, db_comment="Hash of the submission it came with."
    )
    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="+", db_comment="The report it created."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_comment="First use.")

    class Meta:
        db_table_comment = "Idempotency keys of report submissions."
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="intake_idempotency_scope_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"

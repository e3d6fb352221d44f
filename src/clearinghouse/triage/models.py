"""Triage results: one record per report, families of reports, and analysts' corrections.

What the engine decides lives here, beside (not inside) the report, so a report stays exactly as
submitted. Analysts' corrections are kept in the same rows with a source field, and the engine
never overwrites a field an analyst set (``*_source == "analyst"``, ``family_locked``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clearinghouse.intake.models import Report


class Family(models.Model):
    """Reports that share one technique (wrapper) against overlapping targets."""

    name = models.CharField(
        max_length=40, unique=True, db_comment="Opaque public id, e.g. fam-3f2a…; stable once set."
    )
    label = models.CharField(
        max_length=200, blank=True, db_comment="Analyst's name for the technique, if any."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When the family was formed.")
    updated_at = models.DateTimeField(auto_now=True, db_comment="Last membership change.")

    class Meta:
        ordering = ["-updated_at"]
        db_table_comment = "Families of reports: same technique, overlapping targets."

    def __str__(self) -> str:
        return self.label or self.name


class TriageRecord(models.Model):
    class Source(models.TextChoices):
        ENGINE = "engine", "Triage engine"
        ANALYST = "analyst", "Analyst"

    report = models.OneToOneField(
        Report, on_delete=models.CASCADE, related_name="triage", db_comment="The report triaged."
    )
    threat_type = models.CharField(max_length=40, db_comment="Threat type label.")
    threat_type_confidence = models.FloatField(db_comment="Engine confidence 0–1 (1 for analysts).")
    threat_type_evidence = models.JSONField(
        default=list, db_comment="Phrases and signals behind the label."
    )
    threat_type_source = models.CharField(
        max_length=16,
        choices=Source.choices,
        default=Source.ENGINE,
        db_comment="Who set threat_type.",
    )
    owasp = models.JSONField(default=list, db_comment="OWASP Top 10 for LLM Applications 2025 ids.")
    atlas = models.JSONField(default=list, db_comment="MITRE ATLAS technique ids.")
    avid = models.JSONField(default=list, db_comment="AVID effect codes.")
    cwe = models.JSONField(default=list, db_comment="CWE ids.")
    techniques = models.JSONField(
        default=list, db_comment="[{value, confidence, evidence}] jailbreak techniques."
    )
    harm_category = models.CharField(max_length=40, db_comment="Harm category of the objective.")
    harm_evidence = models.JSONField(default=list, db_comment="Evidence for the harm category.")
    family = models.ForeignKey(
        Family, on_delete=models.PROTECT, related_name="records", db_comment="The report's family."
    )
    family_locked = models.BooleanField(
        default=False, db_comment="An analyst placed this report: the engine keeps its family."
    )
    duplicate_of = models.ForeignKey(
        Report,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        db_comment="An earlier exact or near-exact copy, if any.",
    )
    similar = models.JSONField(
        default=list, db_comment="[{report_id, score}] nearest earlier reports."
    )
    ssvc = models.CharField(max_length=8, db_comment="SSVC decision: track, track*, attend or act.")
    jef = models.FloatField(db_comment="JEF score 0–10.")
    priority_inputs = models.JSONField(
        default=dict, db_comment="Inputs of the SSVC and JEF decisions."
    )
    wrapper = models.TextField(
        blank=True, db_comment="Normalised wrapper (payload cut out), for diffs."
    )
    payload = models.TextField(
        blank=True, db_comment="Normalised payload (objective) found in the prompt."
    )
    decoded_layers = models.JSONField(default=list, db_comment="Encodings found and decoded.")
    signature = models.BinaryField(db_comment="MinHash signature of the wrapper (128 × uint32).")
    exact_key = models.CharField(
        max_length=32,
        db_index=True,
        db_comment="Hash (hex) of the normalised prompt: exact duplicates.",
    )
    payload_key = models.BigIntegerField(
        db_comment="Hash of the normalised payload (signed 64-bit)."
    )
    target_keys = models.JSONField(
        default=list, db_comment="[[vendor, model]] case-folded targets."
    )
    engine_version = models.CharField(max_length=20, db_comment="Engine version that produced it.")
    sequence = models.BigIntegerField(
        unique=True,
        db_comment="Order of placement in the index; the index is rebuilt in this order.",
    )
    triaged_at = models.DateTimeField(auto_now=True, db_comment="Last (re)triage.")

    class Meta:
        ordering = ["sequence"]
        db_table_comment = "Engine and analyst triage of each report."
        indexes = [models.Index(fields=["threat_type"]), models.Index(fields=["ssvc", "jef"])]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.threat_type} in {self.family_id}"


class TriageSequence(models.Model):
    """One row whose lock serialises placement in the index across workers; holds the counter."""

    value = models.BigIntegerField(default=0, db_comment="Last sequence number handed out.")

    class Meta:
        db_table_comment = "Lock and counter for placing reports in the similarity index."

    def __str__(self) -> str:
        return str(self.value)


class TriageCorrection(models.Model):
    """An analyst's merge, split or relabel, kept for audit and for learning from later."""

    class Kind(models.TextChoices):
        MERGE = "merge", "Merge families"
        SPLIT = "split", "Split reports into a new family"
        RELABEL = "relabel", "Relabel threat type"

    kind = models.CharField(max_length=16, choices=Kind.choices, db_comment="What was corrected.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_comment="Analyst."
    )
    data = models.JSONField(db_comment="Before and after: families, reports, labels.")
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When.")

    class Meta:
        ordering = ["-created_at"]
        db_table_comment = "Analysts' corrections to triage."

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"

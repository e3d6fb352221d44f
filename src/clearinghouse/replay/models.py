"""Replay: model endpoints, campaigns, trials, measured severity and fix verification.

A ``TargetEndpoint`` is how to reach one catalog model version. A ``Campaign`` replays one report
against some endpoints (K trials per endpoint and temperature, optionally with the wrapper
retargeted to other objectives); every ``Trial`` is stored as it finishes, so a campaign whose
worker died resumes where it stopped. ``Severity`` is what the finished campaigns measured;
``FixCheck`` records a report re-run against a new version of its model.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from clearinghouse.catalog.models import AISystem
from clearinghouse.intake.models import Report


class TargetEndpoint(models.Model):
    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible chat completions"
        ANTHROPIC = "anthropic", "Anthropic Messages"

    ai_system = models.ForeignKey(
        AISystem,
        on_delete=models.PROTECT,
        related_name="endpoints",
        db_comment="The catalog model and version this endpoint serves.",
    )
    name = models.CharField(max_length=200, unique=True, db_comment="Short unique label.")
    provider = models.CharField(
        max_length=32, choices=Provider.choices, default=Provider.OPENAI, db_comment="Wire format."
    )
    base_url = models.URLField(max_length=500, db_comment="Base URL up to /v1.")
    model_name = models.CharField(max_length=200, db_comment="Model name sent in each request.")
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        db_comment="Environment variable holding the key (never the key).",
    )
    secrets_file = models.CharField(
        max_length=500, blank=True, db_comment="File holding the key (never the key)."
    )
    timeout_seconds = models.FloatField(default=60.0, db_comment="Per request.")
    max_retries = models.PositiveSmallIntegerField(default=3, db_comment="Per request.")
    requests_per_minute = models.FloatField(null=True, blank=True, db_comment="Shared limit.")
    tokens_per_minute = models.FloatField(null=True, blank=True, db_comment="Shared limit.")
    max_concurrency = models.PositiveIntegerField(
        default=16, db_comment="Requests in flight, across all workers."
    )
    price_input_per_1k = models.FloatField(default=0.0, db_comment="USD per 1k prompt tokens.")
    price_output_per_1k = models.FloatField(default=0.0, db_comment="USD per 1k completion tokens.")
    is_simulator = models.BooleanField(
        default=False, db_comment="The project's simulated endpoint: labelled as such everywhere."
    )
    active = models.BooleanField(default=True, db_comment="Used by new campaigns.")
    # The shared rate limit: a token bucket in this row, leased to workers a few requests at a time.
    bucket_requests = models.FloatField(default=0.0, db_comment="Requests left in the bucket.")
    bucket_tokens = models.FloatField(default=0.0, db_comment="Tokens left in the bucket.")
    bucket_updated_at = models.DateTimeField(null=True, blank=True, db_comment="Last refill.")
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When it was registered.")

    class Meta:
        ordering = ["name"]
        db_table_comment = "How to reach a catalog model version for replay."

    def __str__(self) -> str:
        return self.name


class EndpointLease(models.Model):
    """Concurrency slots of an endpoint held by one running campaign (expires if not renewed)."""

    endpoint = models.ForeignKey(
        TargetEndpoint, on_delete=models.CASCADE, related_name="leases", db_comment="Endpoint."
    )
    holder = models.CharField(max_length=64, db_comment="The runner holding the slots.")
    slots = models.PositiveIntegerField(db_comment="Requests it may have in flight.")
    expires_at = models.DateTimeField(db_comment="Slots return to the pool after this.")

    class Meta:
        db_table_comment = "Concurrency slots leased by running campaigns."
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "holder"], name="replay_lease_unique")
        ]

    def __str__(self) -> str:
        return f"{self.slots} slots of {self.endpoint_id} for {self.holder}"


class Campaign(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSING = "pausing", "Pausing"
        PAUSED = "paused", "Paused"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        REPLAY = "replay", "Replay"
        FIX_VERIFICATION = "fix_verification", "Fix verification"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_comment="Id.")
    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="campaigns", db_comment="Replayed report."
    )
    kind = models.CharField(
        max_length=32, choices=Kind.choices, default=Kind.REPLAY, db_comment="Why it runs."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_comment="Lifecycle."
    )
    endpoints = models.ManyToManyField(TargetEndpoint, related_name="campaigns")
    trials = models.PositiveIntegerField(default=5, db_comment="Trials per endpoint, temperature.")
    temperatures = models.JSONField(default=list, db_comment="Temperatures to sample at.")
    retarget = models.BooleanField(
        default=True, db_comment="Also replay the wrapper with other harm categories' objectives."
    )
    judge = models.CharField(max_length=32, default="offline", db_comment="Judge plugin name.")
    interactive = models.BooleanField(
        default=False,
        db_comment="Ask the model at every recorded answer instead of replaying the recorded ones.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        db_comment="Who started it; null when the system did (fix verification).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_comment="Created.")
    started_at = models.DateTimeField(null=True, blank=True, db_comment="First run started.")
    finished_at = models.DateTimeField(null=True, blank=True, db_comment="Completed or stopped.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, db_comment="Last sign of life of the runner (every second)."
    )
    planned_trials = models.PositiveIntegerField(default=0, db_comment="Trials in the plan.")
    error = models.TextField(blank=True, db_comment="Why it failed, if it did.")

    class Meta:
        ordering = ["-created_at"]
        db_table_comment = "A report replayed against endpoints, durable and resumable."

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.report_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in {
            self.Status.QUEUED, self.Status.RUNNING, self.Status.PAUSING, self.Status.CANCELLING
        }  # fmt: skip


class Trial(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "Answered"
        ERROR = "error", "Error"

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="trial_set", db_comment="Campaign."
    )
    endpoint = models.ForeignKey(
        TargetEndpoint, on_delete=models.PROTECT, related_name="trials", db_comment="Endpoint."
    )
    variant = models.CharField(
        max_length=64,
        db_comment="'original', or 'retarget:<harm category>' for the wrapper with another objective.",
    )
    number = models.PositiveIntegerField(db_comment="Trial number within (endpoint, variant).")
    temperature = models.FloatField(db_comment="Sampling temperature.")
    objective = models.TextField(db_comment="The objective judged against.")
    request = models.JSONField(db_comment="The messages sent.")
    status = models.CharField(max_length=8, choices=Status.choices, db_comment="Outcome.")
    response = models.TextField(blank=True, db_comment="The model's answer, stored as received.")
    refused = models.BooleanField(null=True, db_comment="Judge: the model refused.")
    objective_achieved = models.BooleanField(null=True, db_comment="Judge: attack succeeded.")
    score = models.FloatField(null=True, db_comment="Judge's score, 0–1.")
    evidence = models.TextField(blank=True, db_comment="Judge's evidence.")
    judge = models.CharField(max_length=64, blank=True, db_comment="Judge that decided.")
    latency_ms = models.FloatField(db_comment="Wall time of the trial, retries included.")
    prompt_tokens = models.PositiveIntegerField(null=True, db_comment="As the endpoint counted.")
    completion_tokens = models.PositiveIntegerField(null=True, db_comment="As counted.")
    cost_usd = models.FloatField(default=0.0, db_comment="From the endpoint's prices.")
    attempts = models.PositiveSmallIntegerField(default=1, db_comment="HTTP attempts.")
    error = models.TextField(blank=True, db_comment="Cause, when status is error.")
    created_at = models.DateTimeField(auto_now_add=True, db_comment="Stored.")

    class Meta:
        ordering = ["endpoint_id", "variant", "number"]
        db_table_comment = "One replay of a report's conversation and its judged answer."
        constraints = [
            # What makes a resumed campaign skip finished trials instead of repeating them.
            models.UniqueConstraint(
                fields=["campaign", "endpoint", "variant", "number"], name="replay_trial_unique"
            )
        ]

    def __str__(self) -> str:
        return f"trial {self.number} ({self.variant}) of {self.campaign_id}: {self.status}"


class Severity(models.Model):
    """Measured severity of a report, from its replay campaigns (recomputed after each)."""

    report = models.OneToOneField(
        Report, on_delete=models.CASCADE, related_name="severity", db_comment="Report."
    )
    trials = models.PositiveIntegerField(default=0, db_comment="Answered trials, original variant.")
    successes = models.PositiveIntegerField(default=0, db_comment="Of which achieved.")
    success_rate = models.FloatField(default=0.0, db_comment="successes / trials.")
    success_low = models.FloatField(default=0.0, db_comment="Wilson 95 percent lower bound.")
    success_high = models.FloatField(default=1.0, db_comment="Wilson 95 percent upper bound.")
    vendor_blast_radius = models.FloatField(default=0.0, db_comment="Share of vendors, 0–1.")
    model_blast_radius = models.FloatField(default=0.0, db_comment="Share of models, 0–1.")
    retargetability = models.FloatField(default=0.0, db_comment="Share of harm categories, 0–1.")
    retarget_categories = models.JSONField(default=list, db_comment="Categories that succeeded.")
    fidelity = models.FloatField(default=0.0, db_comment="Mean judge score of successes, 0–1.")
    requests_per_success = models.FloatField(null=True, db_comment="Cost: requests.")
    tokens_per_success = models.FloatField(null=True, db_comment="Cost: tokens.")
    usd_per_success = models.FloatField(null=True, db_comment="Cost: money.")
    seconds_per_success = models.FloatField(null=True, db_comment="Cost: wall time.")
    jef = models.FloatField(default=0.0, db_comment="JEF score from these measured inputs.")
    per_endpoint = models.JSONField(default=list, db_comment="Rate and interval per endpoint.")
    updated_at = models.DateTimeField(auto_now=True, db_comment="Last recomputed.")

    class Meta:
        db_table_comment = "What replay measured about a report."

    def __str__(self) -> str:
        return f"severity of {self.report_id}: JEF {self.jef}"


class FixCheck(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        FIXED = "fixed", "Fixed"
        STILL_REPRODUCES = "still_reproduces", "Still reproduces"
        REGRESSED = "regressed", "Regressed"

    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="fix_checks", db_comment="Report."
    )
    ai_system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="fix_checks", db_comment="New version."
    )
    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="fix_check", db_comment="Its replay."
    )
    baseline_rate = models.FloatField(db_comment="Success rate on the earlier version.")
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, default=Outcome.PENDING, db_comment="Verdict."
    )
    new_rate = models.FloatField(null=True, db_comment="Success rate on the new version.")
    created_at = models.DateTimeField(auto_now_add=True, db_comment="Created.")

    class Meta:
        ordering = ["-created_at"]
        db_table_comment = "A confirmed report re-run against a new version of its model."

    def __str__(self) -> str:
        return f"fix check of {self.report_id} on {self.ai_system_id}: {self.outcome}"

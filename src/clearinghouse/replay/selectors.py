"""Reading replay: endpoints, a report's campaigns, one campaign, its trials, severity, fix checks.

A campaign's transcripts are a working exploit, so access is decided in one place,
``campaign_visible_to``: the reader needs ``REPLAY_RUN`` *and* must be able to read the report
(``intake.selectors.report_visible_to``). Missing and not visible both raise ``NotFound``.
Endpoints hold no secret (credentials are named, never stored), so reading them needs only the
permission, which the edges check.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.db.models import Count, Q, QuerySet

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.core.errors import InvalidInput, NotFound
from clearinghouse.intake.models import Report
from clearinghouse.intake.selectors import report_visible_to
from clearinghouse.replay.models import Campaign, FixCheck, Severity, TargetEndpoint, Trial

TrialOutcome = Literal["achieved", "refused", "error"]
TRIAL_OUTCOMES: tuple[TrialOutcome, ...] = ("achieved", "refused", "error")


# ---- endpoints --------------------------------------------------------------------------------


def endpoint_list(
    *, ids: Sequence[int] | None = None, active_only: bool = False
) -> QuerySet[TargetEndpoint]:
    """Registered endpoints by name, with their catalog model and vendor.

    With ``ids``, exactly those endpoints; an id that names none raises
    ``InvalidInput(field="endpoints")``, because a campaign asked to run against an endpoint that
    does not exist must not quietly run against fewer.
    """
    endpoints = TargetEndpoint.objects.select_related("ai_system__vendor").order_by("name", "pk")
    if active_only:
        endpoints = endpoints.filter(active=True)
    if ids is not None:
        wanted = set(ids)
        endpoints = endpoints.filter(pk__in=wanted)
        missing = wanted - set(endpoints.values_list("pk", flat=True))
        if missing:
            listed = ", ".join(str(pk) for pk in sorted(missing))
            raise InvalidInput(f"no endpoint with id {listed}", field="endpoints")
    return endpoints


# ---- campaigns --------------------------------------------------------------------------------


def campaign_visible_to(*, user: User) -> QuerySet[Campaign]:
    """Campaigns ``user`` may open: none without ``REPLAY_RUN``, else those of readable reports."""
    if not user.has_permission(Permission.REPLAY_RUN):
        return Campaign.objects.none()
    return Campaign.objects.filter(report__in=report_visible_to(user=user))


def _with_progress(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    # ``stored`` beside ``planned_trials`` is the progress; one query for a whole list.
    return campaigns.select_related("report", "created_by").annotate(stored=Count("trial_set"))


def campaign_list_for_report(*, user: User, report: Report) -> QuerySet[Campaign]:
    """The campaigns of ``report`` that ``user`` may open, newest first, each with ``stored``."""
    return _with_progress(campaign_visible_to(user=user).filter(report=report)).order_by(
        "-created_at", "pk"
    )


def campaign_get(*, user: User, campaign_id: str | uuid.UUID) -> Campaign:
    """One campaign with ``stored`` (trials so far) and its report. Raises NotFound."""
    try:
        parsed = campaign_id if isinstance(campaign_id, uuid.UUID) else uuid.UUID(str(campaign_id))
    except ValueError:
        raise NotFound("no such campaign") from None
    campaign = _with_progress(campaign_visible_to(user=user)).filter(pk=parsed).first()
    if campaign is None:
        raise NotFound("no such campaign")
    return campaign


def campaign_endpoint_list(*, campaign: Campaign) -> QuerySet[TargetEndpoint]:
    return campaign.endpoints.select_related("ai_system__vendor").order_by("name", "pk")


# ---- trials -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialFilters:
    endpoint: int | None = None  # endpoint id
    variant: str | None = None  # "original" or "retarget:<category>", exact
    outcome: TrialOutcome | None = None


def trial_list(*, campaign: Campaign, filters: TrialFilters | None = None) -> QuerySet[Trial]:
    """Trials of ``campaign`` (already opened through ``campaign_get``), in a stable order.

    Callers page through it (the console with a ``Paginator``, the API with limit and offset):
    a campaign holds up to thousands of transcripts, each up to a long conversation.
    ``achieved`` and ``refused`` are the judge's verdicts on answered trials; ``error`` is a
    trial the endpoint never answered.
    """
    filters = filters or TrialFilters()
    trials = Trial.objects.filter(campaign=campaign).select_related("endpoint__ai_system__vendor")
    if filters.endpoint is not None:
        trials = trials.filter(endpoint_id=filters.endpoint)
    if filters.variant:
        trials = trials.filter(variant=filters.variant)
    if filters.outcome == "achieved":
        trials = trials.filter(status=Trial.Status.OK, objective_achieved=True)
    elif filters.outcome == "refused":
        trials = trials.filter(status=Trial.Status.OK, refused=True)
    elif filters.outcome == "error":
        trials = trials.filter(status=Trial.Status.ERROR)
    return trials.order_by("endpoint__name", "variant", "number", "pk")


def trial_variant_list(*, campaign: Campaign) -> list[str]:
    """Variants stored so far, the original first: the choices of the variant filter."""
    variants = set(
        Trial.objects.filter(campaign=campaign).values_list("variant", flat=True).distinct()
    )
    return sorted(variants, key=lambda variant: (variant != "original", variant))


@dataclass(frozen=True, slots=True)
class TrialCounts:
    achieved: int
    refused: int
    errors: int


def trial_counts(*, campaign: Campaign) -> TrialCounts:
    counts = Trial.objects.filter(campaign=campaign).aggregate(
        achieved=Count("pk", filter=Q(status=Trial.Status.OK, objective_achieved=True)),
        refused=Count("pk", filter=Q(status=Trial.Status.OK, refused=True)),
        errors=Count("pk", filter=Q(status=Trial.Status.ERROR)),
    )
    return TrialCounts(counts["achieved"], counts["refused"], counts["errors"])


# ---- what replay measured ---------------------------------------------------------------------


def _readable(user: User, report: Report) -> bool:
    return (
        user.has_permission(Permission.REPLAY_RUN)
        and report_visible_to(user=user).filter(pk=report.pk).exists()
    )


def severity_for_report(*, user: User, report: Report) -> Severity | None:
    """The measured severity of ``report``, or None until a campaign has finished.

    Raises NotFound when ``user`` may not read replay results of this report.
    """
    if not _readable(user, report):
        raise NotFound("no such report")
    return Severity.objects.filter(report=report).first()


def fix_checks_for_report(*, user: User, report: Report) -> QuerySet[FixCheck]:
    """Fix checks of ``report``, newest first, with the new version and its campaign's progress.

    Raises NotFound when ``user`` may not read replay results of this report.
    """
    if not _readable(user, report):
        raise NotFound("no such report")
    return (
        FixCheck.objects.filter(report=report)
        .select_related("ai_system__vendor", "campaign")
        .order_by("-created_at", "pk")
    )

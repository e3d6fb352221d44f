"""Replay over JSON: endpoints, starting and steering campaigns, reading their transcripts.

Permissions: reading endpoints, starting, steering and reading campaigns need ``REPLAY_RUN``;
registering an endpoint needs ``REPLAY_ENDPOINTS_MANAGE``. A route that names a campaign answers
404 to anyone who may not open it, permission or not, so its existence does not leak; a route
on a collection answers 403 to a caller without the permission. Bad input is 422 naming the
field, an impossible transition (pausing a finished campaign) 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from clearinghouse.accounts.models import Organisation, User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.catalog.models import AISystem
from clearinghouse.catalog.selectors import ai_system_list
from clearinghouse.core.errors import InvalidInput, NotFound, PermissionDenied
from clearinghouse.intake.selectors import report_get
from clearinghouse.replay import selectors, services
from clearinghouse.replay.forms import MAX_RETRIES, MAX_TIMEOUT_SECONDS
from clearinghouse.replay.models import Campaign, FixCheck, Severity, TargetEndpoint, Trial

router = Router(tags=["replay"])

MAX_PAGE_SIZE = 200
SIMULATOR_NOTE = "simulated endpoint — not a real model"


def _user(request: HttpRequest, permission: Permission) -> User:
    """The caller, if they hold ``permission``; PermissionDenied (403) otherwise."""
    user = request.auth  # type: ignore[attr-defined]  # set by Ninja's authentication
    assert isinstance(user, User)
    if not user.has_permission(permission):
        raise PermissionDenied(f"needs {permission.value}")
    return user


def _caller(request: HttpRequest) -> User:
    """The caller, whatever they hold: for routes whose selector decides (and answers 404)."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


# ---- endpoints --------------------------------------------------------------------------------


class EndpointOut(Schema):
    id: int
    name: str
    ai_system_id: int
    ai_system: str
    provider: str
    base_url: str
    model_name: str
    api_key_env: str = Field(description="Name of the environment variable; never the key.")
    secrets_file: str = Field(description="Path of the key file; never the key.")
    max_concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    timeout_seconds: float
    max_retries: int
    price_input_per_1k: float
    price_output_per_1k: float
    is_simulator: bool
    simulator_note: str | None = Field(
        description=f"'{SIMULATOR_NOTE}' for the project's simulator, else null."
    )
    active: bool
    created_at: datetime


class EndpointSettingsIn(Schema):
    """How to reach a model: shared by endpoint registration and a vendor's new version."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(max_length=500, description="Base URL up to /v1.")
    model_name: str = Field(min_length=1, max_length=200, description="Name sent in requests.")
    provider: str = Field(default="openai", max_length=32)
    api_key_env: str = Field(
        default="", max_length=100, description="The *name* of an environment variable."
    )
    secrets_file: str = Field(default="", max_length=500)
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    price_input_per_1k: float = Field(default=0.0, ge=0)
    price_output_per_1k: float = Field(default=0.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(default=3, ge=0, le=MAX_RETRIES)


class EndpointIn(EndpointSettingsIn):
    ai_system_id: int = Field(description="The catalog model and version this endpoint serves.")
    name: str = Field(min_length=1, max_length=200)
    is_simulator: bool = False


def _endpoint(endpoint: TargetEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.pk,
        name=endpoint.name,
        ai_system_id=endpoint.ai_system_id,
        ai_system=str(endpoint.ai_system),
        provider=endpoint.provider,
        base_url=endpoint.base_url,
        model_name=endpoint.model_name,
        api_key_env=endpoint.api_key_env,
        secrets_file=endpoint.secrets_file,
        max_concurrency=endpoint.max_concurrency,
        requests_per_minute=endpoint.requests_per_minute,
        tokens_per_minute=endpoint.tokens_per_minute,
        timeout_seconds=endpoint.timeout_seconds,
        max_retries=endpoint.max_retries,
        price_input_per_1k=endpoint.price_input_per_1k,
        price_output_per_1k=endpoint.price_output_per_1k,
        is_simulator=endpoint.is_simulator,
        simulator_note=SIMULATOR_NOTE if endpoint.is_simulator else None,
        active=endpoint.active,
        created_at=endpoint.created_at,
    )


@router.get("/endpoints", response=list[EndpointOut], summary="List replay endpoints")
def list_endpoints(request: HttpRequest) -> list[EndpointOut]:
    _user(request, Permission.REPLAY_RUN)
    return [_endpoint(endpoint) for endpoint in selectors.endpoint_list()]


@router.post("/endpoints", response={201: EndpointOut}, summary="Register a replay endpoint")
def register_endpoint(request: HttpRequest, body: EndpointIn) -> Status[EndpointOut]:
    _user(request, Permission.REPLAY_ENDPOINTS_MANAGE)
    system = ai_system_list().filter(pk=body.ai_system_id).first()
    if system is None:
        raise InvalidInput("no catalog model with this id", field="ai_system_id")
    endpoint = services.endpoint_register(
        ai_system=system, **body.model_dump(exclude={"ai_system_id"})
    )
    return Status(201, _endpoint(endpoint))


# ---- campaigns --------------------------------------------------------------------------------


class PerEndpointOut(Schema):
    endpoint: str
    model: str
    simulator: bool
    trials: int
    successes: int
    rate: float
    low: float = Field(description="Wilson 95% lower bound.")
    high: float = Field(description="Wilson 95% upper bound.")


class SeverityOut(Schema):
    trials: int = Field(description="Answered trials of the original conversation.")
    successes: int
    success_rate: float
    success_low: float = Field(description="Wilson 95% lower bound.")
    success_high: float = Field(description="Wilson 95% upper bound.")
    vendor_blast_radius: float
    model_blast_radius: float
    retargetability: float
    retarget_categories: list[str]
    fidelity: float
    requests_per_success: float | None
    tokens_per_success: float | None
    usd_per_success: float | None
    seconds_per_success: float | None
    jef: float
    per_endpoint: list[PerEndpointOut]
    updated_at: datetime


class ProgressOut(Schema):
    stored: int = Field(description="Trials stored so far.")
    planned: int


class CampaignEndpointOut(Schema):
    id: int
    name: str
    is_simulator: bool


class CampaignOut(Schema):
    id: str
    report_id: str
    kind: str
    status: str
    active: bool = Field(description="Queued, running, pausing or cancelling.")
    progress: ProgressOut
    trials: int = Field(description="Trials per endpoint and temperature.")
    temperatures: list[float]
    retarget: bool
    interactive: bool = Field(description="Model's own answers at each recorded answer.")
    judge: str
    endpoints: list[CampaignEndpointOut]
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    severity: SeverityOut | None = Field(
        description="What the report's finished campaigns measured; null until one finishes."
    )


class CampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    trials: int = Field(default=5, description="Trials per endpoint and temperature, 1–1000.")
    temperatures: list[float] = Field(default=[0.0, 0.7], max_length=20)
    retarget: bool = True
    interactive: bool = Field(
        default=False,
        description="Ask the model wherever the report recorded an answer, instead of sending "
        "the recorded answers (multi-turn attacks).",
    )
    endpoints: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Endpoint ids; null for every active one.",
    )
    judge: str = Field(default="offline", max_length=32)


def _severity(severity: Severity | None) -> SeverityOut | None:
    if severity is None:
        return None
    return SeverityOut(
        trials=severity.trials,
        successes=severity.successes,
        success_rate=severity.success_rate,
        success_low=severity.success_low,
        success_high=severity.success_high,
        vendor_blast_radius=severity.vendor_blast_radius,
        model_blast_radius=severity.model_blast_radius,
        retargetability=severity.retargetability,
        retarget_categories=list(severity.retarget_categories),
        fidelity=severity.fidelity,
        requests_per_success=severity.requests_per_success,
        tokens_per_success=severity.tokens_per_success,
        usd_per_success=severity.usd_per_success,
        seconds_per_success=severity.seconds_per_success,
        jef=severity.jef,
        per_endpoint=[PerEndpointOut(**row) for row in severity.per_endpoint],
        updated_at=severity.updated_at,
    )


def _campaign(campaign: Campaign, *, severity: Severity | None) -> CampaignOut:
    stored: int = getattr(campaign, "stored", 0)  # annotated by the selectors
    return CampaignOut(
        id=str(campaign.pk),
        report_id=str(campaign.report_id),
        kind=campaign.kind,
        status=campaign.status,
        active=campaign.is_active,
        progress=ProgressOut(stored=stored, planned=campaign.planned_trials),
        trials=campaign.trials,
        temperatures=[float(t) for t in campaign.temperatures],
        retarget=campaign.retarget,
        interactive=campaign.interactive,
        judge=campaign.judge,
        endpoints=[
            CampaignEndpointOut(id=e.pk, name=e.name, is_simulator=e.is_simulator)
            for e in selectors.campaign_endpoint_list(campaign=campaign)
        ],
        created_by=campaign.created_by.username if campaign.created_by else None,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        error=campaign.error,
        severity=_severity(severity),
    )


def _campaign_with_severity(user: User, campaign: Campaign) -> CampaignOut:
    severity = selectors.severity_for_report(user=user, report=campaign.report)
    return _campaign(campaign, severity=severity)


@router.post(
    "/reports/{report_id}/campaigns",
    response={201: CampaignOut},
    summary="Start a replay campaign for a report",
)
def start_campaign(request: HttpRequest, report_id: str, body: CampaignIn) -> Status[CampaignOut]:
    user = _user(request, Permission.REPLAY_RUN)
    report = report_get(user=user, report_id=report_id)
    endpoints = (
        list(selectors.endpoint_list(ids=body.endpoints)) if body.endpoints is not None else None
    )
    started = services.campaign_start(
        report=report,
        endpoints=endpoints,
        trials=body.trials,
        temperatures=body.temperatures,
        retarget=body.retarget,
        judge=body.judge,
        actor=user,
        interactive=body.interactive,
    )
    campaign = selectors.campaign_get(user=user, campaign_id=started.pk)
    return Status(201, _campaign_with_severity(user, campaign))


@router.get(
    "/reports/{report_id}/campaigns",
    response=list[CampaignOut],
    summary="List a report's replay campaigns, newest first",
)
def list_campaigns(request: HttpRequest, report_id: str) -> list[CampaignOut]:
    user = _user(request, Permission.REPLAY_RUN)
    report = report_get(user=user, report_id=report_id)
    severity = selectors.severity_for_report(user=user, report=report)
    return [
        _campaign(campaign, severity=severity)
        for campaign in selectors.campaign_list_for_report(user=user, report=report)
    ]


@router.get(
    "/campaigns/{campaign_id}",
    response=CampaignOut,
    summary="Read a campaign: status, progress and the report's measured severity",
)
def get_campaign(request: HttpRequest, campaign_id: str) -> CampaignOut:
    user = _caller(request)
    return _campaign_with_severity(user, selectors.campaign_get(user=user, campaign_id=campaign_id))


class FixCheckOut(Schema):
    ai_system_id: int
    ai_system: str = Field(description="The new version the report was re-run against.")
    campaign_id: str
    outcome: str = Field(description="pending, fixed, still_reproduces or regressed.")
    baseline_rate: float = Field(description="Success rate on the earlier version.")
    new_rate: float | None
    created_at: datetime


@router.get(
    "/reports/{report_id}/fix-checks",
    response=list[FixCheckOut],
    summary="List a report's fix checks (re-runs against new model versions), newest first",
)
def list_fix_checks(request: HttpRequest, report_id: str) -> list[FixCheckOut]:
    user = _user(request, Permission.REPLAY_RUN)
    report = report_get(user=user, report_id=report_id)
    return [
        FixCheckOut(
            ai_system_id=check.ai_system_id,
            ai_system=str(check.ai_system),
            campaign_id=str(check.campaign_id),
            outcome=check.outcome,
            baseline_rate=check.baseline_rate,
            new_rate=check.new_rate,
            created_at=check.created_at,
        )
        for check in selectors.fix_checks_for_report(user=user, report=report)
    ]


# ---- transcripts ------------------------------------------------------------------------------


class TrialOut(Schema):
    id: int
    endpoint_id: int
    endpoint: str
    is_simulator: bool
    variant: str = Field(description="'original', or 'retarget:<harm category>'.")
    number: int
    temperature: float
    objective: str
    request: dict[str, Any] = Field(description="The messages sent, as sent.")
    status: str = Field(description="'ok' (answered) or 'error'.")
    response: str = Field(description="The model's answer, as received: attack output.")
    refused: bool | None
    objective_achieved: bool | None
    score: float | None
    evidence: str
    judge: str
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float
    attempts: int
    error: str
    created_at: datetime


class TrialPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[TrialOut]


class TrialQuery(Schema):
    endpoint: int | None = Field(default=None, description="Endpoint id.")
    variant: str | None = Field(default=None, max_length=64)
    outcome: Literal["achieved", "refused", "error"] | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)


def _trial(trial: Trial) -> TrialOut:
    return TrialOut(
        id=trial.pk,
        endpoint_id=trial.endpoint_id,
        endpoint=trial.endpoint.name,
        is_simulator=trial.endpoint.is_simulator,
        variant=trial.variant,
        number=trial.number,
        temperature=trial.temperature,
        objective=trial.objective,
        request=trial.request,
        status=trial.status,
        response=trial.response,
        refused=trial.refused,
        objective_achieved=trial.objective_achieved,
        score=trial.score,
        evidence=trial.evidence,
        judge=trial.judge,
        latency_ms=trial.latency_ms,
        prompt_tokens=trial.prompt_tokens,
        completion_tokens=trial.completion_tokens,
        cost_usd=trial.cost_usd,
        attempts=trial.attempts,
        error=trial.error,
        created_at=trial.created_at,
    )


@router.get(
    "/campaigns/{campaign_id}/trials",
    response=TrialPage,
    summary="Read a campaign's transcripts, a page at a time",
)
def list_trials(request: HttpRequest, campaign_id: str, query: Query[TrialQuery]) -> TrialPage:
    campaign = selectors.campaign_get(user=_caller(request), campaign_id=campaign_id)
    trials = selectors.trial_list(
        campaign=campaign,
        filters=selectors.TrialFilters(
            endpoint=query.endpoint, variant=query.variant, outcome=query.outcome
        ),
    )
    page = list(trials[query.offset : query.offset + query.limit])
    return TrialPage(
        count=trials.count(),
        limit=query.limit,
        offset=query.offset,
        items=[_trial(trial) for trial in page],
    )


@router.post(
    "/campaigns/{campaign_id}/{action}",
    response=CampaignOut,
    summary="Pause, resume or cancel a campaign",
)
def control_campaign(
    request: HttpRequest, campaign_id: str, action: Literal["pause", "resume", "cancel"]
) -> CampaignOut:
    user = _caller(request)
    campaign = selectors.campaign_get(user=user, campaign_id=campaign_id)
    services.campaign_control(campaign=campaign, action=action, actor=user)
    return _campaign_with_severity(user, selectors.campaign_get(user=user, campaign_id=campaign_id))


# ---- vendors: new model versions --------------------------------------------------------------


class VersionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    vendor: str | None = Field(
        default=None, description="Vendor slug; a vendor member's own organisation if omitted."
    )
    model_name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    endpoint: EndpointSettingsIn


class VendorFixCheckOut(Schema):
    id: int
    report_id: str
    report_title: str
    outcome: str = Field(description="pending, fixed, still_reproduces or regressed.")
    baseline_rate: float
    new_rate: float | None
    created_at: datetime


class VersionOut(Schema):
    ai_system_id: int
    ai_system: str
    endpoint_id: int
    fix_checks: list[VendorFixCheckOut] = Field(
        description="Reports confirmed on earlier versions, now re-run against this one."
    )


def _vendor_check(check: FixCheck) -> VendorFixCheckOut:
    return VendorFixCheckOut(
        id=check.pk,
        report_id=str(check.report_id),
        report_title=check.report.title,
        outcome=check.outcome,
        baseline_rate=check.baseline_rate,
        new_rate=check.new_rate,
        created_at=check.created_at,
    )


@router.post(
    "/model-versions",
    response={201: VersionOut},
    summary="Register a new version of a model (vendors: their own); starts fix verification",
)
def register_model_version(request: HttpRequest, body: VersionIn) -> Status[VersionOut]:
    user = _user(request, Permission.CATALOG_VERSIONS_REGISTER)
    vendor = (
        Organisation.objects.filter(slug=body.vendor).first() if body.vendor else user.organisation
    )
    if vendor is None:
        raise NotFound("no such vendor")
    registered = services.model_version_register(
        actor=user,
        vendor=vendor,
        model_name=body.model_name,
        version=body.version,
        endpoint=body.endpoint.model_dump(),
    )
    return Status(
        201,
        VersionOut(
            ai_system_id=registered.ai_system.pk,
            ai_system=str(registered.ai_system),
            endpoint_id=registered.endpoint.pk,
            fix_checks=[_vendor_check(check) for check in registered.fix_checks],
        ),
    )


@router.get(
    "/model-versions/{ai_system_id}/fix-checks",
    response=list[VendorFixCheckOut],
    summary="Fix checks of a model version (vendors: their own models)",
)
def list_version_fix_checks(request: HttpRequest, ai_system_id: int) -> list[VendorFixCheckOut]:
    user = _user(request, Permission.CATALOG_VERSIONS_REGISTER)
    system = AISystem.objects.filter(pk=ai_system_id).first()
    staff = user.has_permission(Permission.REPLAY_ENDPOINTS_MANAGE)
    if system is None or (not staff and system.vendor_id != user.organisation_id):
        raise NotFound("no such model version")
    checks = FixCheck.objects.filter(ai_system=system).select_related("report").order_by("pk")
    return [_vendor_check(check) for check in checks]

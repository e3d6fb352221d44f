"""Console pages of replay: a campaign (status, controls, transcripts), starting one, endpoints.

What replay measured about a report is shown on the report page itself
(``replay/_report_replay.html``, included by ``intake/detail.html``); the form that starts a
campaign is fetched into it when opened. Everything here needs ``REPLAY_RUN``: transcripts are a
working exploit. Registering an endpoint needs ``REPLAY_ENDPOINTS_MANAGE``. Each write is a POST
(with Django's CSRF token) that calls one service; a refusal re-renders the form with the message
next to the field it names, with the error's status.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.catalog.selectors import ai_system_list
from clearinghouse.core.errors import ClearinghouseError, InvalidInput, NotFound
from clearinghouse.core.views_helpers import require_permission
from clearinghouse.intake.models import Report
from clearinghouse.intake.selectors import report_get
from clearinghouse.replay import selectors, services
from clearinghouse.replay.engine.judges import JUDGES
from clearinghouse.replay.engine.targets import ADAPTERS
from clearinghouse.replay.forms import (
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    campaign_options_from_form,
    endpoint_fields_from_form,
)
from clearinghouse.replay.models import Campaign

TRIALS_PAGE_SIZE = 25
CONTROL_ACTIONS = ("pause", "resume", "cancel")
# What a campaign's status allows; the service decides, these only choose which buttons to show.
_ACTIONS_FOR_STATUS: dict[str, tuple[str, ...]] = {
    Campaign.Status.QUEUED: ("pause", "cancel"),
    Campaign.Status.RUNNING: ("pause", "cancel"),
    Campaign.Status.PAUSING: ("cancel",),
    Campaign.Status.PAUSED: ("resume", "cancel"),
    Campaign.Status.FAILED: ("resume",),
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _is_htmx(request: HttpRequest) -> bool:
    """An HTMX swap of part of a page. A history restore (back button after a filter pushed its
    URL, with the page gone from HTMX's cache) also says HX-Request, but wants the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _campaign_or_404(request: HttpRequest, campaign_id: uuid.UUID) -> Campaign:
    try:
        return selectors.campaign_get(user=_user(request), campaign_id=campaign_id)
    except NotFound:
        raise Http404("no such campaign") from None


def _report_or_404(request: HttpRequest, report_id: uuid.UUID) -> Report:
    try:
        return report_get(user=_user(request), report_id=report_id)
    except NotFound:
        raise Http404("no such report") from None


# ---- one campaign -----------------------------------------------------------------------------


def _status_context(campaign: Campaign, error: ClearinghouseError | None = None) -> dict[str, Any]:
    return {
        "campaign": campaign,
        "actions": _ACTIONS_FOR_STATUS.get(campaign.status, ()),
        "counts": selectors.trial_counts(campaign=campaign),
        "control_error": error,
    }


def _trial_filters(request: HttpRequest) -> selectors.TrialFilters:
    params = request.GET
    raw_endpoint = params.get("endpoint", "")
    outcome = params.get("outcome", "")
    return selectors.TrialFilters(
        endpoint=int(raw_endpoint) if re.fullmatch(r"[0-9]{1,18}", raw_endpoint) else None,
        variant=params.get("variant", "")[:64] or None,
        outcome=next((known for known in selectors.TRIAL_OUTCOMES if known == outcome), None),
    )


def _render_campaign(
    request: HttpRequest, campaign: Campaign, *, error: ClearinghouseError | None = None
) -> HttpResponse:
    filters = _trial_filters(request)
    trials = selectors.trial_list(campaign=campaign, filters=filters)
    query = request.GET.copy()
    query.pop("page", None)
    endpoints = list(selectors.campaign_endpoint_list(campaign=campaign))
    context = {
        **_status_context(campaign, error),
        "report": campaign.report,
        "endpoints": endpoints,
        "any_simulator": any(endpoint.is_simulator for endpoint in endpoints),
        "filters": filters,
        "outcomes": selectors.TRIAL_OUTCOMES,
        "variants": selectors.trial_variant_list(campaign=campaign),
        "page": Paginator(trials, TRIALS_PAGE_SIZE).get_page(request.GET.get("page")),
        "query_without_page": query.urlencode(),
    }
    template = "replay/_trials.html" if _is_htmx(request) else "replay/campaign.html"
    return render(request, template, context, status=error.status if error is not None else 200)


@login_required
@require_permission(Permission.REPLAY_RUN)
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """The campaign page; with HTMX (the transcript filters), only the transcripts table."""
    return _render_campaign(request, _campaign_or_404(request, campaign_id))


@login_required
@require_permission(Permission.REPLAY_RUN)
@require_GET
def campaign_status(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """The status fragment, which polls itself every two seconds while the campaign is active."""
    campaign = _campaign_or_404(request, campaign_id)
    return render(request, "replay/_campaign_status.html", _status_context(campaign))


@login_required
@require_permission(Permission.REPLAY_RUN)
@require_POST
def campaign_control(request: HttpRequest, campaign_id: uuid.UUID, action: str) -> HttpResponse:
    """Pause, resume or cancel. With HTMX the answer is the status fragment, a refusal included:
    HTMX swaps no 4xx answer, and the fragment shows the state that made the action impossible.
    Without it, a redirect to the campaign page (or that page with the refusal and its status)."""
    campaign = _campaign_or_404(request, campaign_id)
    if action not in CONTROL_ACTIONS:
        raise Http404("no such action")
    try:
        services.campaign_control(campaign=campaign, action=action, actor=_user(request))
    except ClearinghouseError as error:
        campaign = _campaign_or_404(request, campaign_id)
        if _is_htmx(request):
            return render(request, "replay/_campaign_status.html", _status_context(campaign, error))
        return _render_campaign(request, campaign, error=error)
    campaign = _campaign_or_404(request, campaign_id)
    if _is_htmx(request):
        return render(request, "replay/_campaign_status.html", _status_context(campaign))
    messages.success(request, f"Campaign {campaign.get_status_display().lower()}.")
    return redirect("replay:campaign", campaign_id=campaign.pk)


# ---- starting a campaign ----------------------------------------------------------------------


def _judge_choices() -> list[tuple[str, str]]:
    return [
        (name, (judge.__doc__ or name).strip().splitlines()[0])
        for name, judge in sorted(JUDGES.items())
    ]


def _start_context(
    report: Report, *, values: dict[str, Any] | None = None, error: ClearinghouseError | None = None
) -> dict[str, Any]:
    endpoints = list(selectors.endpoint_list())
    given = values or {}
    chosen = given.get("endpoints")
    return {
        "report": report,
        "endpoints": endpoints,
        "any_simulator": any(endpoint.is_simulator for endpoint in endpoints),
        # Ticked: what was sent back, else every active endpoint (what the service would pick).
        "chosen": (
            set(chosen)
            if chosen is not None
            else {str(endpoint.pk) for endpoint in endpoints if endpoint.active}
        ),
        "trials": given.get("trials", "5"),
        "temperatures": given.get("temperatures", "0, 0.7"),
        "retarget": given.get("retarget", True),
        "interactive": given.get("interactive", False),
        "judge": given.get("judge", "offline"),
        "judges": _judge_choices(),
        "error": error,
    }


@login_required
@require_permission(Permission.REPLAY_RUN)
@require_http_methods(["GET", "POST"])
def campaign_start(request: HttpRequest, report_id: uuid.UUID) -> HttpResponse:
    """The start form (fetched into the report page when opened, or as a page), and its POST."""
    report = _report_or_404(request, report_id)
    if request.method == "GET":
        template = "replay/_start_form.html" if _is_htmx(request) else "replay/start.html"
        return render(request, template, _start_context(report))
    try:
        options = campaign_options_from_form(request.POST)
        endpoints = list(selectors.endpoint_list(ids=options.endpoint_ids))
        campaign = services.campaign_start(
            report=report,
            endpoints=endpoints,
            trials=options.trials,
            temperatures=options.temperatures,
            retarget=options.retarget,
            judge=options.judge,
            actor=_user(request),
            interactive=options.interactive,
        )
    except ClearinghouseError as error:
        values = {
            "endpoints": request.POST.getlist("endpoints"),
            "trials": request.POST.get("trials", "")[:20],
            "temperatures": request.POST.get("temperatures", "")[:200],
            "retarget": request.POST.get("retarget") == "on",
            "interactive": request.POST.get("interactive") == "on",
            "judge": request.POST.get("judge", "")[:32],
        }
        return render(
            request,
            "replay/start.html",
            _start_context(report, values=values, error=error),
            status=error.status,
        )
    messages.success(request, f"Campaign queued: {campaign.planned_trials} trials planned.")
    return redirect("replay:campaign", campaign_id=campaign.pk)


# ---- endpoints --------------------------------------------------------------------------------

# Shown back after a refusal; api_key_env is left out when it was the refused field, because
# what was typed there may be a key, and a key is never put into a page.
_ENDPOINT_FORM_FIELDS = (
    "ai_system",
    "name",
    "provider",
    "base_url",
    "model_name",
    "api_key_env",
    "secrets_file",
    "max_concurrency",
    "requests_per_minute",
    "tokens_per_minute",
    "price_input_per_1k",
    "price_output_per_1k",
    "timeout_seconds",
    "max_retries",
)


def _render_endpoints(
    request: HttpRequest,
    *,
    values: dict[str, str] | None = None,
    error: ClearinghouseError | None = None,
) -> HttpResponse:
    endpoints = list(selectors.endpoint_list())
    return render(
        request,
        "replay/endpoints.html",
        {
            "endpoints": endpoints,
            "any_simulator": any(endpoint.is_simulator for endpoint in endpoints),
            "systems": ai_system_list(),
            "providers": sorted(ADAPTERS),
            "values": values or {"provider": "openai"},
            "max_retries": MAX_RETRIES,
            "max_timeout": MAX_TIMEOUT_SECONDS,
            "error": error,
        },
        status=error.status if error is not None else 200,
    )


@login_required
@require_permission(Permission.REPLAY_RUN)
@require_http_methods(["GET", "POST"])
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """Registered endpoints; a POST registers one (``REPLAY_ENDPOINTS_MANAGE``)."""
    if request.method == "GET":
        return _render_endpoints(request)
    if not _user(request).has_permission(Permission.REPLAY_ENDPOINTS_MANAGE):
        raise PermissionDenied(f"needs {Permission.REPLAY_ENDPOINTS_MANAGE.value}")
    try:
        fields = endpoint_fields_from_form(request.POST)
        system = ai_system_list().filter(pk=fields.ai_system_id).first()
        if system is None:
            raise InvalidInput("choose the model this endpoint serves", field="ai_system")
        endpoint = services.endpoint_register(
            ai_system=system,
            **{k: v for k, v in asdict(fields).items() if k != "ai_system_id"},
        )
    except ClearinghouseError as error:
        values = {name: request.POST.get(name, "")[:500] for name in _ENDPOINT_FORM_FIELDS}
        if error.field == "api_key_env":
            values["api_key_env"] = ""
        values["is_simulator"] = "on" if request.POST.get("is_simulator") == "on" else ""
        return _render_endpoints(request, values=values, error=error)
    messages.success(request, f"Endpoint {endpoint.name} registered.")
    return redirect("replay:endpoints")

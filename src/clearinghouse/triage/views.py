"""Console pages of triage: the queue, families (merge, split) and a report's threat type (relabel).

A report's triage is shown on the report page itself (``intake/detail.html``); only its
correction form lives here. Reading needs ``CONSOLE_QUEUE_VIEW``; every correction is a POST that
needs ``TRIAGE_CORRECT`` (and Django's CSRF token), calls one service, and redirects. A service's
refusal re-renders the page with its message and status 422.
"""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.catalog.selectors import ai_system_list, vendor_list
from clearinghouse.core.errors import ClearinghouseError, InvalidInput, NotFound
from clearinghouse.core.views_helpers import require_permission
from clearinghouse.intake.models import Report
from clearinghouse.intake.schema import ThreatType
from clearinghouse.intake.selectors import ReportFilters, SortOrder
from clearinghouse.triage import selectors, services
from clearinghouse.triage.engine.taxonomy import THREAT_TYPES
from clearinghouse.triage.models import Family, TriageRecord

PAGE_SIZE = 25
FAMILY_PAGE_SIZE = 50
MEMBERS_PAGE_SIZE = 20
CORRECTIONS_SHOWN = 50
# A merge names families by hand; more than this in one go is a paste accident, not a decision.
MAX_MERGE_NAMES = 20
FAMILY_NAME_LENGTH = 40
SORTS: dict[str, SortOrder] = {"priority": "priority", "newest": "newest", "oldest": "oldest"}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# ---- the queue --------------------------------------------------------------------------------


@login_required
@require_permission(Permission.CONSOLE_QUEUE_VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    params = request.GET
    status = params.get("status", "")
    threat_type = params.get("threat_type", "")
    ssvc = params.get("ssvc", "")
    filters = selectors.QueueFilters(
        report=ReportFilters(
            status=status if status in Report.Status.values else None,
            threat_type=threat_type if threat_type in {kind.value for kind in ThreatType} else None,
            vendor=params.get("vendor", "")[:200] or None,
            model=params.get("model", "")[:200] or None,
            search=params.get("q", "")[:200] or None,
            sort=SORTS.get(params.get("sort", ""), "priority"),
        ),
        family=params.get("family", "").strip()[:FAMILY_NAME_LENGTH] or None,
        ssvc=ssvc if ssvc in selectors.SSVC_DECISIONS else None,
    )
    reports = selectors.queue_report_list(user=_user(request), filters=filters)
    context = {
        "page": Paginator(reports, PAGE_SIZE).get_page(params.get("page")),
        "filters": filters.report,
        "queue_filters": filters,
        "statuses": Report.Status.choices,
        "threat_types": [kind.value for kind in ThreatType],
        "ssvc_decisions": selectors.SSVC_DECISIONS,
        "vendors": vendor_list(),
        "models": sorted({system.model_name for system in ai_system_list()}),
        "query_without_page": _query_without_page(request),
    }
    template = (
        "triage/_queue_table.html" if request.headers.get("HX-Request") else "triage/queue.html"
    )
    return render(request, template, context)


# ---- families ---------------------------------------------------------------------------------


@login_required
@require_permission(Permission.CONSOLE_QUEUE_VIEW)
def family_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    families = selectors.family_list(search=search or None)
    return render(
        request,
        "triage/families.html",
        {
            "page": Paginator(families, FAMILY_PAGE_SIZE).get_page(request.GET.get("page")),
            "search": search,
            "query_without_page": _query_without_page(request),
        },
    )


def _family_or_404(name: str) -> Family:
    try:
        return selectors.family_get(name=name)
    except NotFound:
        raise Http404("no such family") from None


def _render_family(
    request: HttpRequest,
    family: Family,
    *,
    error: ClearinghouseError | None = None,
    merge_value: str = "",
    selected: frozenset[str] = frozenset(),
) -> HttpResponse:
    members = selectors.family_member_page(
        user=_user(request),
        family=family,
        page_number=request.GET.get("page"),
        per_page=MEMBERS_PAGE_SIZE,
    )
    return render(
        request,
        "triage/family.html",
        {
            "family": family,
            "first": members.first,
            "page": members.page,
            "members": members.members,
            "corrections": selectors.family_correction_list(family=family)[:CORRECTIONS_SHOWN],
            "error": error,
            "merge_value": merge_value,
            "selected": selected,
            "query_without_page": _query_without_page(request),
        },
        status=422 if error is not None else 200,
    )


@login_required
@require_permission(Permission.CONSOLE_QUEUE_VIEW)
def family_detail(request: HttpRequest, name: str) -> HttpResponse:
    return _render_family(request, _family_or_404(name))


@login_required
@require_permission(Permission.TRIAGE_CORRECT)
@require_POST
def family_merge(request: HttpRequest, name: str) -> HttpResponse:
    """Merge the families named in the ``family`` field (space or comma separated) into this one."""
    family = _family_or_404(name)
    raw = request.POST.get("family", "")[: MAX_MERGE_NAMES * (FAMILY_NAME_LENGTH + 2)]
    names = list(dict.fromkeys(part for part in re.split(r"[\s,]+", raw) if part))
    try:
        if not names:
            raise InvalidInput("name a family to merge into this one", field="family")
        if len(names) > MAX_MERGE_NAMES:
            raise InvalidInput(f"merge at most {MAX_MERGE_NAMES} families at once", field="family")
        others = [selectors.family_get(name=other) for other in names]
        services.family_merge(actor=_user(request), target=family, others=others)
    except ClearinghouseError as error:
        return _render_family(request, family, error=error, merge_value=raw)
    merged = ", ".join(other for other in names if other != family.name)
    messages.success(request, f"Merged {merged} into {family.name}.")
    return redirect("triage:family", name=family.name)


def _report_ids(values: list[str]) -> list[str]:
    """The well-formed report ids among ``values``; anything else cannot be a member anyway."""
    ids: list[str] = []
    for value in values[:10_000]:
        try:
            ids.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return ids


@login_required
@require_permission(Permission.TRIAGE_CORRECT)
@require_POST
def family_split(request: HttpRequest, name: str) -> HttpResponse:
    """Move the checked members (``reports``) into a new family, then show the new family."""
    family = _family_or_404(name)
    report_ids = _report_ids(request.POST.getlist("reports"))
    try:
        new_family = services.family_split(
            actor=_user(request), family=family, report_ids=report_ids
        )
    except ClearinghouseError as error:
        return _render_family(request, family, error=error, selected=frozenset(report_ids))
    moved = selectors.family_size(family=new_family)
    messages.success(
        request,
        f"Split {moved} report{'s' if moved != 1 else ''} from {family.name} into this new family.",
    )
    return redirect("triage:family", name=new_family.name)


# ---- one report's threat type ------------------------------------------------------------------


def _record_or_404(request: HttpRequest, report_id: uuid.UUID) -> TriageRecord:
    try:
        return selectors.triage_record_get(user=_user(request), report_id=report_id)
    except NotFound:
        raise Http404("no such report") from None


@login_required
@require_permission(Permission.TRIAGE_CORRECT)
@require_http_methods(["GET", "POST"])
def report_relabel(request: HttpRequest, report_id: uuid.UUID) -> HttpResponse:
    """The relabel form (the report page fetches it with HTMX when opened), and its POST."""
    record = _record_or_404(request, report_id)
    error: ClearinghouseError | None = None
    if request.method == "POST":
        threat_type = request.POST.get("threat_type", "")[:100]
        try:
            services.record_relabel(actor=_user(request), record=record, threat_type=threat_type)
        except ClearinghouseError as refused:
            error = refused
        else:
            messages.success(request, f"Threat type set to {threat_type}; triage will keep it.")
            return redirect(reverse("intake:detail", args=[report_id]) + "#triage")
    template = (
        "triage/_relabel_form.html"
        if request.headers.get("HX-Request") and error is None
        else "triage/relabel.html"
    )
    return render(
        request,
        template,
        {"record": record, "report": record.report, "threat_types": THREAT_TYPES, "error": error},
        status=422 if error is not None else 200,
    )

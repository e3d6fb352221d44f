"""The analysts' queue: filter, sort, page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.catalog.selectors import ai_system_list, vendor_list
from clearinghouse.core.views_helpers import require_permission
from clearinghouse.intake.models import Report
from clearinghouse.intake.schema import ThreatType
from clearinghouse.intake.selectors import ReportFilters, SortOrder, report_list

PAGE_SIZE = 25
SORTS: dict[str, SortOrder] = {"priority": "priority", "newest": "newest", "oldest": "oldest"}


@login_required
@require_permission(Permission.CONSOLE_QUEUE_VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    params = request.GET
    status = params.get("status", "")
    threat_type = params.get("threat_type", "")
    filters = ReportFilters(
        status=status if status in Report.Status.values else None,
        threat_type=threat_type if threat_type in {kind.value for kind in ThreatType} else None,
        vendor=params.get("vendor", "")[:200] or None,
        model=params.get("model", "")[:200] or None,
        search=params.get("q", "")[:200] or None,
        sort=SORTS.get(params.get("sort", ""), "priority"),
    )
    reports = report_list(user=user, filters=filters).prefetch_related("targets")
    page = Paginator(reports, PAGE_SIZE).get_page(params.get("page"))
    query_without_page = params.copy()
    query_without_page.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "statuses": Report.Status.choices,
        "threat_types": [kind.value for kind in ThreatType],
        "vendors": vendor_list(),
        "models": sorted({system.model_name for system in ai_system_list()}),
        "query_without_page": query_without_page.urlencode(),
    }
    template = (
        "triage/_queue_table.html" if request.headers.get("HX-Request") else "triage/queue.html"
    )
    return render(request, template, context)

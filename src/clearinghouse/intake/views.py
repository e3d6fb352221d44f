"""Console pages of intake: the submission form, a reporter's own reports, and the report page."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission
from clearinghouse.audit.selectors import audit_event_list
from clearinghouse.catalog.selectors import ai_system_list
from clearinghouse.core.errors import ClearinghouseError, NotFound
from clearinghouse.core.views_helpers import require_permission
from clearinghouse.intake import selectors, services
from clearinghouse.intake.forms import submission_from_form
from clearinghouse.intake.schema import SubmissionError, ThreatType, Tlp, parse_submission


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _form_context(request: HttpRequest, **extra: object) -> dict[str, object]:
    return {
        "systems": ai_system_list(),
        "tlp_choices": [label.value for label in Tlp],
        "threat_types": [kind.value for kind in ThreatType],
        "turn_roles": ["user", "assistant", "tool"],
        **extra,
    }


@login_required
@require_permission(Permission.REPORTS_SUBMIT)
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(
            request, "intake/submit.html", _form_context(request, values={}, turn_count=2)
        )
    raw = submission_from_form(request.POST)
    try:
        if not raw["poc"]["turns"]:
            # Empty turn boxes are dropped; say which box to fill rather than "at least 1 item".
            raise SubmissionError("poc.turns[0].content", "write the prompt you sent in turn 1")
        submission = parse_submission(raw)
        result = services.report_submit(
            submission=submission,
            submitter=_user(request),
            idempotency_key=request.POST.get("idempotency_key") or None,
        )
    except (SubmissionError, ClearinghouseError) as error:
        field = error.field
        message = error.reason if isinstance(error, SubmissionError) else error.message
        turns = raw["poc"]["turns"] or [{"role": "user", "content": ""}]
        return render(
            request,
            "intake/submit.html",
            _form_context(
                request,
                values=request.POST,
                turns=turns,
                turn_count=len(turns),
                error_field=field,
                error_message=message,
            ),
            status=422,
        )
    return redirect("intake:detail", report_id=result.report.pk)


@login_required
@require_permission(Permission.REPORTS_SUBMIT)
def turn_fragment(request: HttpRequest) -> HttpResponse:
    """One more turn row for the form (HTMX); the index comes from the client and is bounded."""
    try:
        index = max(0, min(int(request.GET.get("index", "0")), 199))
    except ValueError:
        index = 0
    return render(
        request,
        "intake/_turn.html",
        {
            "index": index,
            "turn": {"role": "user", "content": ""},
            "turn_roles": ["user", "assistant", "tool"],
        },
    )


@login_required
@require_permission(Permission.REPORTS_OWN_READ)
def my_reports(request: HttpRequest) -> HttpResponse:
    reports = selectors.report_list(
        user=_user(request),
        filters=selectors.ReportFilters(sort="newest"),
    ).filter(submitted_by=_user(request))
    page = Paginator(reports, 25).get_page(request.GET.get("page"))
    return render(request, "intake/mine.html", {"page": page})


@login_required
def detail(request: HttpRequest, report_id: uuid.UUID) -> HttpResponse:
    try:
        report = selectors.report_get(user=_user(request), report_id=report_id)
    except NotFound:
        raise Http404("no such report") from None
    return render(
        request,
        "intake/detail.html",
        {
            "report": report,
            "targets": list(report.targets.all()),
            "turns": report.poc.get("turns", []),
            "audit_events": audit_event_list(object_type="report", object_id=str(report.pk))[:50],
        },
    )

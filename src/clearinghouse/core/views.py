"""The landing page sends each person to where their work is."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if user.has_permission(Permission.CONSOLE_QUEUE_VIEW):
        return redirect("triage:queue")
    return redirect("intake:mine")

"""Decorators shared by console views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission


def require_permission(
    permission: Permission,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """403 unless the signed-in user holds ``permission``. Put it under ``@login_required``."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not isinstance(user, User) or not user.has_permission(permission):
                raise PermissionDenied(f"needs {permission.value}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate

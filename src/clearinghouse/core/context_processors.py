"""Template context shared by every console page."""

from __future__ import annotations

from django.http import HttpRequest

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import Permission


def permissions(request: HttpRequest) -> dict[str, object]:
    """``can.<permission name>`` for the signed-in user, so templates show only what works.

    Templates ask ``{% if can.CONSOLE_QUEUE_VIEW %}``; the decision stays in the permission enum.
    """
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {"can": {}}
    return {"can": {permission.name: user.has_permission(permission) for permission in Permission}}

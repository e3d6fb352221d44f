"""Who am I: the account behind the credentials."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from clearinghouse.accounts.models import User
from clearinghouse.accounts.permissions import ROLE_PERMISSIONS, Role

router = Router(tags=["accounts"])


class MeOut(Schema):
    username: str
    role: str
    organisation: str | None
    permissions: list[str]


@router.get("/me", response=MeOut, summary="The signed-in account and its permissions")
def me(request: HttpRequest) -> MeOut:
    user = request.auth  # type: ignore[attr-defined]  # set by Ninja's authentication
    assert isinstance(user, User)
    permissions = sorted(ROLE_PERMISSIONS.get(Role(user.role), frozenset()))
    return MeOut(
        username=user.username,
        role=user.role,
        organisation=user.organisation.name if user.organisation else None,
        permissions=[str(permission) for permission in permissions],
    )

"""Creating users and organisations, issuing and checking API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from clearinghouse.accounts.models import ApiToken, Organisation, User
from clearinghouse.accounts.permissions import Role
from clearinghouse.audit.services import audit_record
from clearinghouse.core.errors import AuthenticationRequired, InvalidInput

TOKEN_PREFIX = "chk"  # noqa: S105 - a label, not a secret


def organisation_create(
    *, name: str, slug: str, kind: str, contact_email: str = ""
) -> Organisation:
    if kind not in Organisation.Kind.values:
        raise InvalidInput(f"unknown organisation kind {kind!r}", field="kind")
    organisation, _ = Organisation.objects.get_or_create(
        slug=slug, defaults={"name": name, "kind": kind, "contact_email": contact_email}
    )
    return organisation


def user_create(
    *,
    username: str,
    password: str | None,
    role: str,
    email: str = "",
    organisation: Organisation | None = None,
) -> User:
    """Create a user with one role. ``password=None`` makes an API-only account."""
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}", field="role"
        ) from None
    if User.objects.filter(username=username).exists():
        raise InvalidInput(f"user {username!r} already exists", field="username")
    with transaction.atomic():
        user = User(
            username=username,
            email=email,
            role=parsed_role.value,
            organisation=organisation,
            is_staff=parsed_role is Role.ADMIN,
            is_superuser=parsed_role is Role.ADMIN,
        )
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        audit_record(
            actor=None,
            action="user.create",
            object_type="user",
            object_id=str(user.pk),
            data={"role": parsed_role.value},
        )
    return user


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def api_token_issue(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Issue a token; the plain text is returned once and never stored."""
    prefix = secrets.token_hex(6)
    plain = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=prefix, secret_hash=_hash(plain)
        )
        audit_record(
            actor=user, action="api_token.issue", object_type="api_token", object_id=str(token.pk)
        )
    return token, plain


def api_token_authenticate(*, plain: str) -> User:
    """The active user behind a bearer token. Raises AuthenticationRequired."""
    parts = plain.split("_")
    if len(parts) < 3 or parts[0] != TOKEN_PREFIX:
        raise AuthenticationRequired("malformed API token")
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if (
        token is None
        or token.revoked_at is not None
        or not hmac.compare_digest(token.secret_hash, _hash(plain))
        or not token.user.is_active
    ):
        raise AuthenticationRequired("invalid or revoked API token")
    now = timezone.now()
    # Write last_used at most once a minute: a busy scanner must not turn every read into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        audit_record(
            actor=actor, action="api_token.revoke", object_type="api_token", object_id=str(token.pk)
        )

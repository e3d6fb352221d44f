"""The JSON API root: authentication, the strict body parser, and the one error shape.

Every error leaves as ``{"error": {"code", "message", "field"}}``; ``field`` is a dotted path into
the request body (``poc.turns[3].content``), a header name, a query parameter or null.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from ninja.utils import check_csrf

from clearinghouse.accounts.models import User
from clearinghouse.accounts.services import api_token_authenticate
from clearinghouse.core.errors import AuthenticationRequired, ClearinghouseError
from clearinghouse.intake.schema import SubmissionError, field_path, parse_json_bytes

logger = logging.getLogger(__name__)


class StrictJSONParser(Parser):
    """Strict UTF-8, no duplicate keys, no NaN: see ``intake.schema.parse_json_bytes``."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = parse_json_bytes(request.body)
        if not isinstance(data, dict):
            raise SubmissionError(None, "body must be a JSON object", code="invalid_type")
        return data


class TokenAuth(HttpBearer):
    """``Authorization: Bearer chk_…`` with a token issued by ``clearinghouse createuser --token``."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        try:
            user = api_token_authenticate(plain=token)
        except AuthenticationRequired:
            return None
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The console's session cookie, with Django's CSRF check for unsafe methods.

    Unlike Ninja's ``django_auth`` it checks CSRF only when a signed-in session is present, so a
    request without any credentials gets 401 rather than a confusing CSRF 403.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if not key or not isinstance(user, User) or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header")
        return user


class FollowUpToken(APIKeyHeader):
    """Anonymous submitters follow up with the token they got back: ``X-Follow-Up-Token``."""

    param_name = "X-Follow-Up-Token"

    def authenticate(self, request: HttpRequest, key: str | None) -> str | None:
        return key or None


api = NinjaAPI(
    title="Clearinghouse API",
    version="1",
    description=(
        "Report, triage and coordinate vulnerabilities in AI models. Report text is attack text: "
        "it is stored byte-exact and returned as JSON strings, never interpreted."
    ),
    parser=StrictJSONParser(),
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def error_response(
    request: HttpRequest, *, status: int, code: str, message: str, field: str | None
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "field": field}}, status=status
    )


def _body_field(location: list[Any] | tuple[Any, ...]) -> str | None:
    parts = list(location)
    # Ninja prefixes the body location with "body" and the parameter name; callers know neither.
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) >= 2 else []
    elif parts and parts[0] in {"query", "path", "header"}:
        parts = parts[1:]
    return field_path(tuple(parts)) or None


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = exc.errors[0] if exc.errors else {"loc": (), "msg": "invalid input", "type": "invalid"}
    location = tuple(
        part
        for part in detail.get("loc", ())
        if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
    )
    kind = str(detail.get("type", "invalid"))
    message = str(detail.get("msg", "invalid input")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "field required"
    return error_response(
        request, status=422, code=kind, message=message, field=_body_field(location)
    )


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, SubmissionError):
        return error_response(
            request, status=400, code=cause.code, message=cause.reason, field=cause.field or "body"
        )
    if isinstance(exc, AuthenticationError):
        return error_response(
            request,
            status=401,
            code="unauthenticated",
            message="missing or invalid credentials: send 'Authorization: Bearer <token>'",
            field="Authorization",
        )
    return error_response(
        request, status=exc.status_code, code="http_error", message=str(exc), field=None
    )


@api.exception_handler(ClearinghouseError)
def _on_clearinghouse_error(request: HttpRequest, exc: ClearinghouseError) -> HttpResponse:
    return error_response(
        request, status=exc.status, code=exc.code, message=exc.message, field=exc.field
    )


@api.exception_handler(json.JSONDecodeError)
def _on_json_error(request: HttpRequest, exc: json.JSONDecodeError) -> HttpResponse:
    return error_response(request, status=400, code="invalid_json", message=exc.msg, field="body")


@api.get(
    "/v1/health",
    auth=None,
    tags=["meta"],
    summary="Liveness; the trivial endpoint of bench/intake.py",
)
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


def _register_routers() -> None:
    from clearinghouse.accounts.api import router as accounts_router
    from clearinghouse.intake.api import anonymous_router
    from clearinghouse.intake.api import router as intake_router
    from clearinghouse.replay.api import router as replay_router

    api.add_router("/v1/reports", intake_router)
    api.add_router("/v1/anonymous/reports", anonymous_router)
    api.add_router("/v1", accounts_router)
    api.add_router("/v1", replay_router)


_register_routers()

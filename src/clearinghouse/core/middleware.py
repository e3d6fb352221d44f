"""Cross-cutting HTTP guards: a strict Content-Security-Policy and the API body limit."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from clearinghouse.core.errors import PayloadTooLarge

# Report text is hostile: even if something slipped past escaping, the browser must not run inline
# script, fetch remote images (tracking pixels in markdown) or submit forms elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class ApiBodyLimitMiddleware:
    """Refuse API bodies over ``CLEARINGHOUSE_MAX_BODY_BYTES`` with 413 before reading them.

    Checks the declared Content-Length first (cheap), then the bytes actually read, because a
    chunked request declares none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method in {"POST", "PUT", "PATCH"}:
            limit: int = settings.CLEARINGHOUSE_MAX_BODY_BYTES
            declared = request.META.get("CONTENT_LENGTH") or "0"
            try:
                declared_length = int(declared)
            except ValueError:
                declared_length = 0
            try:
                too_large = declared_length > limit or len(request.body) > limit
            except RequestDataTooBig:
                too_large = True
            if too_large:
                error = PayloadTooLarge(
                    f"the request body is larger than the limit of {limit} bytes", field="body"
                )
                return HttpResponse(
                    json.dumps(error.as_dict()),
                    status=error.status,
                    content_type="application/json",
                )
        return self.get_response(request)

"""The one exception hierarchy of Clearinghouse services, and how each maps to the API.

    ClearinghouseError            base; never raised itself
    ├── InvalidInput              the caller sent something we refuse (422); names the field
    │   └── PayloadTooLarge       the body is larger than the configured limit (413)
    ├── NotFound                  missing *or* not visible to the caller (404); the two look the same
    ├── PermissionDenied          the caller is known but lacks the permission for an action (403)
    ├── AuthenticationRequired    no valid credentials were given (401)
    ├── Conflict                  the request contradicts stored state, e.g. a reused idempotency key (409)
    └── TransientError            a passing fault (locked database, unreachable peer); tasks retry it

Services raise these; the API turns each into ``{"error": {"code", "message", "field"}}`` with the
status above, and the console turns them into a page with the same message.
"""

from __future__ import annotations


class ClearinghouseError(Exception):
    status: int = 400
    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidInput(ClearinghouseError):
    status = 422
    code = "invalid"


class PayloadTooLarge(InvalidInput):
    status = 413
    code = "too_large"


class NotFound(ClearinghouseError):
    status = 404
    code = "not_found"


class PermissionDenied(ClearinghouseError):
    status = 403
    code = "forbidden"


class AuthenticationRequired(ClearinghouseError):
    status = 401
    code = "unauthenticated"


class Conflict(ClearinghouseError):
    status = 409
    code = "conflict"


class TransientError(ClearinghouseError):
    status = 503
    code = "unavailable"

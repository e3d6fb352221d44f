"""A task that fails transiently a given number of times, for the retry tests.

It lives in tests/ (the worker subprocess gets the repository root on PYTHONPATH) and records
each attempt as an audit event, so the test reads what really happened in the database.
"""

from __future__ import annotations

from typing import Any

from django.tasks import Task, task

from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_record
from clearinghouse.core.errors import TransientError
from clearinghouse.core.tasks import retry_on_transient


def _self() -> Task[Any, Any]:
    return flaky


def _give_up(*, name: str, fail_times: int, error: BaseException) -> None:
    audit_record(actor=None, action="flaky.gave_up", object_type="flaky", object_id=name)


@task()
@retry_on_transient(_self, on_give_up=_give_up)
def flaky(*, name: str, fail_times: int) -> int:
    attempts = AuditEvent.objects.filter(action="flaky.attempt", object_id=name).count() + 1
    audit_record(actor=None, action="flaky.attempt", object_type="flaky", object_id=name)
    if attempts <= fail_times:
        raise TransientError(f"simulated outage, attempt {attempts}")
    return attempts


@task()
def slow_once(*, name: str) -> int:
    """Hangs on its first attempt (the test kills the worker then); returns at once afterwards."""
    import time

    attempts = AuditEvent.objects.filter(action="slow.attempt", object_id=name).count() + 1
    audit_record(actor=None, action="slow.attempt", object_type="slow", object_id=name)
    if attempts == 1:
        time.sleep(120)
    return attempts

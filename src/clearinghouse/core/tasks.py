"""Retries for background tasks.

django-tasks-db records a failed task and stops; it does not retry. ``retry_on_transient`` adds
that: a task that raises ``TransientError`` or a database ``OperationalError`` (a locked SQLite
file, a dropped PostgreSQL connection) is enqueued again with exponential backoff, up to
``CLEARINGHOUSE_TASK_MAX_ATTEMPTS`` attempts. Every failed attempt still raises, so its task result
is recorded as FAILED with the traceback (the retry is a new task result); after the last attempt
``on_give_up`` lets the caller mark its object as failed for people to see.

Tasks stay plain functions taking ids (STYLE.md): the wrapper passes ``attempt`` as a keyword.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, close_old_connections
from django.tasks import Task, TaskResultStatus
from django.utils import timezone

from clearinghouse.core.errors import TransientError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

RETRYABLE: tuple[type[BaseException], ...] = (TransientError, OperationalError)


def backoff_seconds(attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: base, 2×base, 4×base, … capped at ten minutes."""
    base: float = settings.CLEARINGHOUSE_TASK_BACKOFF_SECONDS
    return float(min(base * (2 ** (attempt - 1)), 600.0))


def retry_on_transient(
    get_task: Callable[[], Task[Any, Any]],
    *,
    on_give_up: Callable[..., None] | None = None,
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Decorate a task function so transient failures are retried by re-enqueueing it.

    ``get_task`` returns the decorated Task itself (it does not exist yet when this runs).
    """

    def decorate(func: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(func)
        def wrapper(*args: Any, attempt: int = 1, **kwargs: Any) -> R:
            try:
                return func(*args, **kwargs)
            except RETRYABLE as error:
                max_attempts: int = settings.CLEARINGHOUSE_TASK_MAX_ATTEMPTS
                if attempt >= max_attempts:
                    logger.error("%s gave up after %d attempts: %s", func.__name__, attempt, error)
                    if on_give_up is not None:
                        on_give_up(*args, error=error, **kwargs)
                    raise
                delay = backoff_seconds(attempt)
                logger.warning(
                    "%s attempt %d failed (%s); retrying in %.1fs",
                    func.__name__,
                    attempt,
                    error,
                    delay,
                )
                # A failed PostgreSQL transaction leaves the connection unusable until reset.
                close_old_connections()
                get_task().using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
                    *args, attempt=attempt + 1, **kwargs
                )
                raise

        return wrapper

    return decorate


# Liveness checks per task path: a long task (a replay campaign) keeps a heartbeat of its own, so
# "running for longer than N seconds" says nothing about whether its worker is still alive.
LivenessCheck = Callable[[dict[str, Any]], bool | None]
_LIVENESS: dict[str, LivenessCheck] = {}


def register_liveness(task_path: str, check: LivenessCheck) -> None:
    """``check(kwargs)`` says whether a RUNNING task of ``task_path`` is alive (True), dead
    (False), or cannot tell (None: its age decides)."""
    _LIVENESS[task_path] = check


def task_requeue_stale(*, older_than: timedelta) -> int:
    """Put back in the queue the tasks whose worker died mid-run (SIGKILL, out of memory, host lost).

    django-tasks-db leaves such a task RUNNING for ever. A task with a liveness check (see
    ``register_liveness``) is requeued when the check says its heartbeat stopped, and never while
    it beats; any other task RUNNING for longer than ``older_than`` is taken as orphaned. Either
    way it runs once more: tasks must be idempotent (ours are: they take ids and move state
    forward). Returns how many were requeued.
    """
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - older_than
    stale: list[Any] = []
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).values_list(
        "pk", "task_path", "args_kwargs", "started_at"
    )
    for pk, task_path, args_kwargs, started_at in running:
        check = _LIVENESS.get(task_path)
        kwargs = args_kwargs.get("kwargs", {}) if isinstance(args_kwargs, dict) else {}
        alive = check(kwargs) if check is not None else None
        if alive is False or (alive is None and started_at is not None and started_at < cutoff):
            stale.append(pk)
    requeued = DBTaskResult.objects.filter(pk__in=stale, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.READY, started_at=None
    )
    if requeued:
        logger.warning("requeued %d task(s) left running by a dead worker", requeued)
    return requeued

"""The background queue with a real worker process: durability, retries, giving up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from clearinghouse.accounts.models import User
from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.tasks import backoff_seconds
from clearinghouse.intake.models import Report
from clearinghouse.intake.schema import parse_submission
from clearinghouse.intake.services import report_submit
from clearinghouse.triage.services import report_mark_triage_failed, report_queue_for_triage
from tests.conftest import report_body
from tests.flaky_tasks import flaky

REPO = Path(__file__).resolve().parent.parent


def run_worker(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real worker (``clearinghouse worker --batch``) until the queue is empty."""
    env = {**env, "PYTHONPATH": str(REPO)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "clearinghouse", "worker", "--batch", "--interval", "0", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_reports_submitted_while_the_worker_is_down_are_processed_when_it_starts(
    reporter: User, subprocess_env: dict[str, str]
) -> None:
    for index in range(3):
        report_submit(
            submission=parse_submission(report_body(title=f"report {index}")), submitter=reporter
        )
    assert set(Report.objects.values_list("status", flat=True)) == {"received"}
    assert DBTaskResult.objects.ready().count() == 3

    result = run_worker(subprocess_env)

    assert result.returncode == 0, result.stderr + result.stdout
    assert set(Report.objects.values_list("status", flat=True)) == {"triaged"}
    assert DBTaskResult.objects.successful().count() == 3
    assert AuditEvent.objects.filter(action="report.queue_for_triage").count() == 3


@pytest.mark.django_db(transaction=True)
def test_transient_failures_are_retried_until_success(subprocess_env: dict[str, str]) -> None:
    flaky.enqueue(name="twice", fail_times=2)

    result = run_worker(subprocess_env)

    assert result.returncode == 0, result.stderr + result.stdout
    assert AuditEvent.objects.filter(action="flaky.attempt", object_id="twice").count() == 3
    runs = DBTaskResult.objects.filter(task_path="tests.flaky_tasks.flaky")
    assert runs.failed().count() == 2  # each failed attempt is recorded with its traceback
    assert "simulated outage" in runs.failed().first().traceback  # type: ignore[union-attr]
    assert runs.successful().get().return_value == 3
    assert [r.args_kwargs["kwargs"].get("attempt", 1) for r in runs.order_by("enqueued_at")] == [
        1,
        2,
        3,
    ]
    assert not AuditEvent.objects.filter(action="flaky.gave_up").exists()


@pytest.mark.django_db(transaction=True)
def test_retries_stop_at_the_attempt_limit(subprocess_env: dict[str, str]) -> None:
    flaky.enqueue(name="always", fail_times=1000)

    result = run_worker({**subprocess_env, "CLEARINGHOUSE_TASK_MAX_ATTEMPTS": "3"})

    assert result.returncode == 0, result.stderr + result.stdout
    assert AuditEvent.objects.filter(action="flaky.attempt", object_id="always").count() == 3
    assert AuditEvent.objects.filter(action="flaky.gave_up", object_id="always").count() == 1
    assert DBTaskResult.objects.failed().count() == 3
    assert DBTaskResult.objects.ready().count() == 0


@pytest.mark.django_db
def test_report_and_task_commit_together(reporter: User) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        report_submit(submission=parse_submission(report_body()), submitter=reporter)
        raise RuntimeError("the caller's transaction fails after the submission")
    assert Report.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_queueing_for_triage_is_idempotent(reporter: User) -> None:
    result = report_submit(submission=parse_submission(report_body()), submitter=reporter)
    assert report_queue_for_triage(report_id=result.report.pk) == "queued_for_triage"
    assert report_queue_for_triage(report_id=result.report.pk) == "queued_for_triage"
    assert AuditEvent.objects.filter(action="report.queue_for_triage").count() == 1


@pytest.mark.django_db
def test_giving_up_marks_a_received_report_failed(reporter: User) -> None:
    result = report_submit(submission=parse_submission(report_body()), submitter=reporter)
    report_mark_triage_failed(report_id=result.report.pk, reason="OperationalError: locked")
    result.report.refresh_from_db()
    assert result.report.status == "triage_failed"
    # A failed report can be queued again by a later run.
    assert report_queue_for_triage(report_id=result.report.pk) == "queued_for_triage"


def test_backoff_doubles_and_is_capped(settings: pytest.FixtureRequest) -> None:
    settings.CLEARINGHOUSE_TASK_BACKOFF_SECONDS = 2  # type: ignore[attr-defined]
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [2, 4, 8]
    assert backoff_seconds(30) == 600


@pytest.mark.django_db(transaction=True)
def test_a_task_orphaned_by_a_killed_worker_runs_again(subprocess_env: dict[str, str]) -> None:
    import signal
    import time

    from tests.flaky_tasks import slow_once

    result = slow_once.enqueue(name="killed")
    env = {**subprocess_env, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "clearinghouse", "worker", "--interval", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90  # stops a hung run; asserts nothing about speed
        while not AuditEvent.objects.filter(action="slow.attempt").exists():
            assert time.monotonic() < deadline, "the worker never started the task"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert (
        DBTaskResult.objects.get(pk=result.id).status == "RUNNING"
    )  # left behind by the dead worker

    restarted = run_worker(subprocess_env, "--requeue-stale-after", "0")

    assert restarted.returncode == 0, restarted.stderr + restarted.stdout
    assert "requeued 1 task" in restarted.stderr
    task_result = DBTaskResult.objects.get(pk=result.id)
    assert task_result.status == "SUCCESSFUL"
    assert task_result.return_value == 2
    assert AuditEvent.objects.filter(action="slow.attempt").count() == 2


@pytest.mark.django_db(transaction=True)
def test_running_tasks_younger_than_the_lease_are_left_alone(
    subprocess_env: dict[str, str],
) -> None:
    from datetime import timedelta

    from clearinghouse.core.tasks import task_requeue_stale
    from tests.flaky_tasks import slow_once

    result = slow_once.enqueue(name="busy")
    DBTaskResult.objects.filter(pk=result.id).update(status="RUNNING", started_at=timezone.now())
    assert task_requeue_stale(older_than=timedelta(minutes=15)) == 0
    assert DBTaskResult.objects.get(pk=result.id).status == "RUNNING"

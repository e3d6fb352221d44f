"""Background triage. A task takes ids, fetches, calls one service (STYLE.md)."""

from __future__ import annotations

from typing import Any

from django.tasks import Task, task

from clearinghouse.core.errors import NotFound
from clearinghouse.core.tasks import retry_on_transient
from clearinghouse.triage import services


def _give_up(*, report_id: str, error: BaseException, **_: Any) -> None:
    services.report_mark_triage_failed(
        report_id=report_id, reason=f"{type(error).__name__}: {error}"
    )


def _self() -> Task[Any, Any]:
    return report_triage


@task(queue_name="triage")
@retry_on_transient(_self, on_give_up=_give_up)
def report_triage(*, report_id: str) -> dict[str, str]:
    try:
        services.report_queue_for_triage(report_id=report_id)
        record = services.report_triage_run(report_id=report_id)
    except NotFound:
        # Deleted before the worker got to it: nothing to do, and nothing to retry.
        return {"report_id": report_id, "status": "deleted"}
    # The next stage: verify the report against the registered models (replay.services).
    from clearinghouse.replay.services import report_replay_auto

    report_replay_auto(report_id=report_id)
    return {
        "report_id": report_id,
        "status": "triaged",
        "threat_type": record.threat_type,
        "family": record.family.name,
    }

"""Background replay. A task takes ids, fetches, calls one service (STYLE.md)."""

from __future__ import annotations

from typing import Any

from django.tasks import Task, task

from clearinghouse.core.errors import NotFound
from clearinghouse.core.tasks import register_liveness, retry_on_transient
from clearinghouse.replay import services


def _self() -> Task[Any, Any]:
    return campaign_run


@task(queue_name="replay")
@retry_on_transient(_self)
def campaign_run(*, campaign_id: str) -> dict[str, str]:
    try:
        campaign = services.campaign_run(campaign_id=campaign_id)
    except NotFound:
        return {"campaign_id": campaign_id, "status": "deleted"}
    return {"campaign_id": campaign_id, "status": campaign.status}


# A campaign runs for as long as it needs: its heartbeat, not its age, says whether it is orphaned.
register_liveness(campaign_run.module_path, services.campaign_runner_alive)

"""Replay writes: endpoints, campaigns (durable, resumable), measured severity, fix verification.

How a campaign runs (``campaign_run``, called by the ``campaign_run`` task):

1. The plan is every (endpoint, variant, trial number); trials already stored are skipped, so a
   campaign whose worker was killed resumes where it stopped and never repeats a finished trial
   (the unique constraint on ``Trial`` makes that hold even if two runners raced).
2. An asyncio loop in a helper thread sends the requests (``replay.engine``), sharing each
   endpoint's concurrency through leases (``EndpointLease``) and its rate limit through a token
   bucket kept in the endpoint's row and handed out a few requests at a time.
3. The calling thread stores outcomes as they arrive, in small transactions, and polls the
   campaign's status: "pausing" or "cancelling" stop new trials; those in flight are stored.
4. At the end: severity is recomputed from every finished campaign of the report, the triage
   priority is re-scored from the measurement, and a fix check (if this campaign is one) settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from clearinghouse.accounts.models import Organisation, User
from clearinghouse.audit.services import audit_record
from clearinghouse.catalog.models import AISystem
from clearinghouse.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from clearinghouse.intake.models import Report
from clearinghouse.replay.engine.campaign import (
    TrialOutcome,
    TrialSpec,
    retarget_objectives,
    retarget_report,
    run_trials_async,
    trial_specs,
    wilson_interval,
)
from clearinghouse.replay.engine.targets import ADAPTERS, TargetClient, TargetConfig
from clearinghouse.replay.models import (
    Campaign,
    EndpointLease,
    FixCheck,
    Severity,
    TargetEndpoint,
    Trial,
)

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60
STATUS_POLL_SECONDS = 1.0
FLUSH_OUTCOMES = 25
FLUSH_SECONDS = 0.5
MAX_TRIALS = 1000
MAX_TEMPERATURES = 5
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


# ---- endpoints --------------------------------------------------------------------------------


def endpoint_register(
    *,
    ai_system: AISystem,
    name: str,
    base_url: str,
    model_name: str,
    provider: str = "openai",
    api_key_env: str = "",
    secrets_file: str = "",
    max_concurrency: int = 16,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    price_input_per_1k: float = 0.0,
    price_output_per_1k: float = 0.0,
    timeout_seconds: float = 60.0,
    max_retries: int = 3,
    is_simulator: bool = False,
    verify_fixes: bool = True,
) -> TargetEndpoint:
    """Register how to reach a catalog model version; may start fix verification.

    Credentials are named, never stored: ``api_key_env`` is the name of an environment variable
    and ``secrets_file`` a path, both read by the worker at request time. When ``ai_system`` is a
    new version of a model with confirmed reports, those reports are re-run against it.
    """
    if provider not in ADAPTERS:
        raise InvalidInput(f"unknown provider {provider!r}", field="provider")
    if not re.match(r"^https?://[^\s/]+", base_url):
        raise InvalidInput("must be an http(s) URL", field="base_url")
    if api_key_env and not _ENV_NAME.match(api_key_env):
        raise InvalidInput("must be the *name* of an environment variable", field="api_key_env")
    if api_key_env.startswith(("sk-", "sk_")):
        raise InvalidInput("looks like a key: give the variable's name", field="api_key_env")
    if not 1 <= max_concurrency <= 4096:
        raise InvalidInput("must be between 1 and 4096", field="max_concurrency")
    for field, value in (
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidInput("must be a positive number", field=field)
    if TargetEndpoint.objects.filter(name=name).exists():
        raise Conflict(f"an endpoint named {name!r} exists", field="name")
    with transaction.atomic():
        endpoint = TargetEndpoint.objects.create(
            ai_system=ai_system,
            name=name,
            base_url=base_url,
            model_name=model_name,
            provider=provider,
            api_key_env=api_key_env,
            secrets_file=secrets_file,
            max_concurrency=max_concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            price_input_per_1k=price_input_per_1k,
            price_output_per_1k=price_output_per_1k,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            is_simulator=is_simulator,
            bucket_requests=requests_per_minute or 0.0,
            bucket_tokens=tokens_per_minute or 0.0,
            bucket_updated_at=timezone.now(),
        )
        audit_record(
            actor=None,
            action="endpoint.register",
            object_type="endpoint",
            object_id=str(endpoint.pk),
            data={"name": name, "ai_system": str(ai_system), "simulator": is_simulator},
        )
        if verify_fixes:
            fix_verification_start(ai_system=ai_system)
    return endpoint


def endpoint_config(endpoint: TargetEndpoint) -> TargetConfig:
    return TargetConfig(
        base_url=endpoint.base_url,
        model=endpoint.model_name,
        provider=endpoint.provider,
        api_key_env=endpoint.api_key_env or None,
        secrets_file=endpoint.secrets_file or None,
        timeout_seconds=endpoint.timeout_seconds,
        max_retries=endpoint.max_retries,
        max_concurrency=endpoint.max_concurrency,
        price_input_per_1k=endpoint.price_input_per_1k,
        price_output_per_1k=endpoint.price_output_per_1k,
    )


# ---- campaigns: creation and control ------------------------------------------------------------


def _plan(campaign: Campaign, endpoints: list[TargetEndpoint]) -> int:
    variants = 1 + (len(retarget_objectives()) if campaign.retarget else 0)
    per_endpoint = campaign.trials * len(campaign.temperatures)
    retargeted = campaign.trials if campaign.retarget else 0  # first temperature only
    return len(endpoints) * (per_endpoint + retargeted * (variants - 1))


def campaign_start(
    *,
    report: Report,
    endpoints: Iterable[TargetEndpoint] | None = None,
    trials: int = 5,
    temperatures: Iterable[float] = (0.0, 0.7),
    retarget: bool = True,
    judge: str = "offline",
    actor: User | None = None,
    kind: str = Campaign.Kind.REPLAY,
    interactive: bool = False,
) -> Campaign:
    """Create a campaign and queue it. Defaults: every active endpoint, 5 trials at 0 and 0.7.

    The report is replayed against the models it names *and* the other registered ones: breadth
    is part of what is measured. The task is enqueued when the transaction commits.
    """
    from clearinghouse.replay import tasks
    from clearinghouse.replay.engine.judges import JUDGES

    chosen = (
        list(endpoints)
        if endpoints is not None
        else list(TargetEndpoint.objects.filter(active=True).select_related("ai_system__vendor"))
    )
    temperatures = [float(t) for t in temperatures]
    if not chosen:
        raise InvalidInput("no endpoints are registered to replay against", field="endpoints")
    if not 1 <= trials <= MAX_TRIALS:
        raise InvalidInput(f"must be between 1 and {MAX_TRIALS}", field="trials")
    if not temperatures or len(temperatures) > MAX_TEMPERATURES:
        raise InvalidInput(f"give 1 to {MAX_TEMPERATURES} temperatures", field="temperatures")
    if any(not (0.0 <= t <= 2.0) for t in temperatures):
        raise InvalidInput("each must be between 0 and 2", field="temperatures")
    if judge not in JUDGES:
        raise InvalidInput(f"unknown judge {judge!r}", field="judge")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            report=report,
            kind=kind,
            trials=trials,
            temperatures=temperatures,
            retarget=retarget,
            judge=judge,
            created_by=actor,
            interactive=interactive,
        )
        campaign.endpoints.set(chosen)
        campaign.planned_trials = _plan(campaign, chosen)
        campaign.save(update_fields=["planned_trials"])
        audit_record(
            actor=actor,
            action="campaign.start",
            object_type="report",
            object_id=str(report.pk),
            data={"campaign": str(campaign.pk), "endpoints": len(chosen), "kind": kind},
        )
        campaign_id = str(campaign.pk)
        transaction.on_commit(lambda: tasks.campaign_run.enqueue(campaign_id=campaign_id))
    return campaign


def report_replay_auto(*, report_id: uuid.UUID | str) -> Campaign | None:
    """After triage: replay a new report against every active endpoint, once.

    Nothing happens when auto-replay is off (``CLEARINGHOUSE_AUTO_REPLAY=0``), no endpoint is
    active, the report already has a campaign, or triage found it to duplicate an earlier report
    (its original was replayed; repeating it measures nothing new and costs money).
    """
    from clearinghouse.triage.models import TriageRecord

    if not settings.CLEARINGHOUSE_AUTO_REPLAY:
        return None
    report = Report.objects.filter(pk=report_id).first()
    if report is None or Campaign.objects.filter(report=report).exists():
        return None
    if TriageRecord.objects.filter(report=report, duplicate_of__isnull=False).exists():
        return None
    if not TargetEndpoint.objects.filter(active=True).exists():
        return None
    return campaign_start(report=report, trials=settings.CLEARINGHOUSE_AUTO_REPLAY_TRIALS)


_TRANSITIONS = {
    "pause": ({Campaign.Status.QUEUED, Campaign.Status.RUNNING}, Campaign.Status.PAUSING),
    "cancel": (
        {
            Campaign.Status.QUEUED,
            Campaign.Status.RUNNING,
            Campaign.Status.PAUSING,
            Campaign.Status.PAUSED,
        },
        Campaign.Status.CANCELLING,
    ),
    "resume": ({Campaign.Status.PAUSED, Campaign.Status.FAILED}, Campaign.Status.QUEUED),
}


def campaign_control(*, campaign: Campaign, action: str, actor: User | None) -> Campaign:
    """Pause, cancel or resume. A pause or cancel reaches the runner within a second; trials in
    flight finish and are kept. A campaign not running settles at once."""
    from clearinghouse.replay import tasks

    if action not in _TRANSITIONS:
        raise InvalidInput(f"unknown action {action!r}", field="action")
    allowed, target = _TRANSITIONS[action]
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in allowed:
            raise Conflict(f"cannot {action} a campaign that is {locked.status}", field="status")
        running = locked.status == Campaign.Status.RUNNING or locked.status in {
            Campaign.Status.PAUSING
        }
        if target == Campaign.Status.PAUSING and locked.status == Campaign.Status.QUEUED:
            target = Campaign.Status.PAUSED  # nobody runs it yet: nothing to wait for
        if target == Campaign.Status.CANCELLING and not running:
            target = Campaign.Status.CANCELLED
        locked.status = target
        if target == Campaign.Status.CANCELLED:
            locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
        audit_record(
            actor=actor,
            action=f"campaign.{action}",
            object_type="report",
            object_id=str(locked.report_id),
            data={"campaign": str(locked.pk)},
        )
        if target == Campaign.Status.QUEUED:
            campaign_id = str(locked.pk)
            transaction.on_commit(lambda: tasks.campaign_run.enqueue(campaign_id=campaign_id))
    return locked


# ---- campaigns: running ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    endpoint_id: int
    variant: str
    spec: TrialSpec


def _report_document(report: Report) -> dict[str, Any]:
    return {"title": report.title, "poc": report.poc or {}}


def _planned_specs(
    campaign: Campaign, endpoint: TargetEndpoint, done: set[tuple[str, int]]
) -> Iterator[_Planned]:
    document = _report_document(campaign.report)
    variants: list[tuple[str, dict[str, Any], list[float]]] = [
        ("original", document, list(campaign.temperatures))
    ]
    if campaign.retarget:
        for category, objective in retarget_objectives().items():
            variants.append(
                (
                    f"retarget:{category}",
                    retarget_report(document, objective),
                    list(campaign.temperatures[:1]),
                )
            )
    for variant, report, temperatures in variants:
        for spec in trial_specs(
            f"{endpoint.pk}|{variant}",
            report,
            trials=campaign.trials,
            temperatures=temperatures,
            interactive=campaign.interactive,
        ):
            if (variant, spec.trial) not in done:
                yield _Planned(endpoint.pk, variant, spec)


class _SharedBudget:
    """An endpoint's rate limit shared by every worker: the bucket lives in the endpoint's row.

    A runner takes a few requests' worth at a time (one short transaction), then spends it
    locally; with no limit configured it costs nothing.
    """

    CHUNK = 8

    def __init__(self, endpoint: TargetEndpoint) -> None:
        self._endpoint_id = endpoint.pk
        self._rpm = endpoint.requests_per_minute
        self._tpm = endpoint.tokens_per_minute
        self._requests = 0.0
        self._tokens = 0.0
        self._lock = asyncio.Lock()

    def _take(self, want_requests: float, want_tokens: float) -> tuple[float, float, float]:
        """(requests granted, tokens granted, seconds to wait if short). Runs in a thread."""
        try:
            with transaction.atomic():
                row = TargetEndpoint.objects.select_for_update().get(pk=self._endpoint_id)
                now = timezone.now()
                elapsed = (now - (row.bucket_updated_at or now)).total_seconds()
                if self._rpm:
                    row.bucket_requests = min(
                        self._rpm, row.bucket_requests + elapsed * self._rpm / 60
                    )
                if self._tpm:
                    row.bucket_tokens = min(self._tpm, row.bucket_tokens + elapsed * self._tpm / 60)
                got_requests = (
                    min(want_requests, row.bucket_requests) if self._rpm else want_requests
                )
                got_tokens = min(want_tokens, row.bucket_tokens) if self._tpm else want_tokens
                if self._rpm:
                    row.bucket_requests -= got_requests
                if self._tpm:
                    row.bucket_tokens -= got_tokens
                row.bucket_updated_at = now
                row.save(update_fields=["bucket_requests", "bucket_tokens", "bucket_updated_at"])
            wait = 0.0
            if self._rpm and got_requests < 1:
                wait = max(wait, (1 - got_requests) * 60 / self._rpm)
            if self._tpm and got_tokens < want_tokens:
                wait = max(wait, min(want_tokens - got_tokens, self._tpm) * 60 / self._tpm)
            return got_requests, got_tokens, wait
        finally:
            connection.close()  # this thread's connection; the pool thread may be reused

    async def acquire_async(self, tokens: int) -> None:
        if not self._rpm and not self._tpm:
            return
        async with self._lock:
            while True:
                need_tokens = min(float(tokens), self._tpm) if self._tpm else 0.0
                if (not self._rpm or self._requests >= 1) and self._tokens >= need_tokens:
                    self._requests -= 1 if self._rpm else 0
                    self._tokens -= need_tokens
                    return
                got_requests, got_tokens, wait = await asyncio.to_thread(
                    self._take,
                    self.CHUNK if self._rpm else 0.0,
                    max(need_tokens - self._tokens, 0.0) * (self.CHUNK if self._tpm else 0),
                )
                self._requests += got_requests
                self._tokens += got_tokens
                if wait > 0:
                    await asyncio.sleep(wait)

    def settle(self, reserved: int, used: int) -> None:
        # Settled in this runner's share: what it reserved from the shared bucket and did not
        # use funds its next requests instead of going back to the row.
        if self._tpm:
            self._tokens += min(float(reserved), self._tpm) - used


def _lease(endpoint: TargetEndpoint, holder: str) -> int:
    """Concurrency slots for this runner: the endpoint's cap minus what live leases hold."""
    with transaction.atomic():
        TargetEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
        now = timezone.now()
        EndpointLease.objects.filter(endpoint=endpoint, expires_at__lt=now).delete()
        used = (
            EndpointLease.objects.filter(endpoint=endpoint)
            .exclude(holder=holder)
            .aggregate(total=Sum("slots"))["total"]
            or 0
        )
        slots = max(0, endpoint.max_concurrency - used)
        if slots:
            EndpointLease.objects.update_or_create(
                endpoint=endpoint,
                holder=holder,
                defaults={"slots": slots, "expires_at": now + timedelta(seconds=LEASE_SECONDS)},
            )
        return slots


def _renew_leases(holder: str) -> None:
    EndpointLease.objects.filter(holder=holder).update(
        expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
    )


def _judge_for(name: str) -> Any:
    from clearinghouse.replay.engine.judges import JUDGES

    return JUDGES[name]()


@contextlib.asynccontextmanager
async def _judging(judge: Any) -> AsyncIterator[Any]:
    """The judge function for a campaign's loop. A judge that calls a model (llm) is awaited
    there rather than blocking it, over one connection pool for the whole campaign."""
    if not hasattr(judge, "judge_async"):
        yield judge.judge
        return
    async with TargetClient(judge.config) as client:
        yield functools.partial(judge.judge_async, client=client)


_DONE = object()


def campaign_run(*, campaign_id: uuid.UUID | str) -> Campaign:
    """Run (or resume) a campaign to its end, a pause or a cancel. See the module docstring.

    Raises NotFound if the campaign is gone. Safe to call twice: finished trials are skipped.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            raise NotFound("no such campaign")
        if campaign.status not in {Campaign.Status.QUEUED, Campaign.Status.RUNNING}:
            return campaign  # paused, cancelled or finished meanwhile
        campaign.status = Campaign.Status.RUNNING
        campaign.started_at = campaign.started_at or timezone.now()
        campaign.heartbeat_at = timezone.now()
        campaign.save(update_fields=["status", "started_at", "heartbeat_at"])
    campaign = Campaign.objects.select_related("report").get(pk=campaign.pk)
    endpoints = list(campaign.endpoints.select_related("ai_system__vendor").order_by("pk"))
    holder = f"{campaign.pk.hex[:16]}-{uuid.uuid4().hex[:8]}"
    # One runner per campaign: leases left by an earlier run of this campaign belong to a
    # worker that died (the task was requeued), so its slots are free now, not in a minute.
    EndpointLease.objects.filter(holder__startswith=campaign.pk.hex[:16]).delete()
    done: dict[int, set[tuple[str, int]]] = {endpoint.pk: set() for endpoint in endpoints}
    for endpoint_id, variant, number in Trial.objects.filter(campaign=campaign).values_list(
        "endpoint_id", "variant", "number"
    ):
        done.setdefault(endpoint_id, set()).add((variant, number))

    slots: dict[int, int] = {}
    for endpoint in endpoints:
        while (granted := _lease(endpoint, holder)) == 0:
            time.sleep(STATUS_POLL_SECONDS)  # another campaign holds every slot
            if _status(campaign) not in {Campaign.Status.RUNNING}:
                break
        slots[endpoint.pk] = max(1, granted)

    stop = threading.Event()
    outcomes: queue.Queue[Any] = queue.Queue(maxsize=10_000)
    judge_plugin = _judge_for(campaign.judge)
    judge: Any = None  # set inside the loop (_judging)
    failure: list[BaseException] = []

    async def run_all() -> None:
        async def one(endpoint: TargetEndpoint) -> None:
            config = endpoint_config(endpoint)
            planned = _planned_specs(campaign, endpoint, done.get(endpoint.pk, set()))
            variants: dict[tuple[str, int], str] = {}

            def specs() -> Iterator[TrialSpec]:
                for item in planned:
                    variants[(item.spec.ref, item.spec.trial)] = item.variant
                    yield item.spec

            def emit(outcome: TrialOutcome) -> None:
                variant = variants.pop((outcome.ref, outcome.trial))
                outcomes.put((endpoint, variant, outcome))

            async with TargetClient(config, limiter=_SharedBudget(endpoint)) as client:
                await run_trials_async(
                    specs(),
                    client,
                    judge,
                    emit=emit,
                    concurrency=slots[endpoint.pk],
                    should_stop=stop.is_set,
                )

        nonlocal judge
        async with _judging(judge_plugin) as judge:
            await asyncio.gather(*(one(endpoint) for endpoint in endpoints))

    def thread_main() -> None:
        try:
            asyncio.run(run_all())
        except BaseException as error:  # reported to the storing thread
            failure.append(error)
        finally:
            outcomes.put(_DONE)

    runner = threading.Thread(target=thread_main, name=f"campaign-{campaign.pk}", daemon=True)
    runner.start()
    batch: list[Trial] = []
    batch_started = time.monotonic()
    last_poll = time.monotonic()
    try:
        while True:
            try:
                item = outcomes.get(timeout=STATUS_POLL_SECONDS)
            except queue.Empty:
                item = None
            if item is _DONE:
                break
            if item is not None:
                if not batch:
                    batch_started = time.monotonic()
                batch.append(_trial_row(campaign, *item))
            # Stored in small batches, and within half a second: what a killed worker loses is
            # at most that, and the resumed run repeats only those.
            if batch and (
                len(batch) >= FLUSH_OUTCOMES
                or item is None
                or time.monotonic() - batch_started >= FLUSH_SECONDS
            ):
                _store(batch)
                batch = []
            if time.monotonic() - last_poll >= STATUS_POLL_SECONDS:
                last_poll = time.monotonic()
                _renew_leases(holder)
                Campaign.objects.filter(pk=campaign.pk).update(heartbeat_at=timezone.now())
                if _status(campaign) in {Campaign.Status.PAUSING, Campaign.Status.CANCELLING}:
                    stop.set()
        _store(batch)
    finally:
        stop.set()
        runner.join(timeout=60)
        EndpointLease.objects.filter(holder=holder).delete()
    return _settle(campaign, failure[0] if failure else None)


def campaign_runner_alive(kwargs: dict[str, Any]) -> bool | None:
    """Liveness of a ``campaign_run`` task (``core.tasks.register_liveness``): its runner beats
    every second, so a silence longer than ``CLEARINGHOUSE_CAMPAIGN_HEARTBEAT_TIMEOUT`` (a minute)
    means the worker died, however long the campaign has been running."""
    campaign_id = kwargs.get("campaign_id")
    if not isinstance(campaign_id, str):
        return None
    heartbeat = (
        Campaign.objects.filter(pk=campaign_id).values_list("heartbeat_at", flat=True).first()
    )
    if heartbeat is None:
        return None
    timeout = timedelta(seconds=settings.CLEARINGHOUSE_CAMPAIGN_HEARTBEAT_TIMEOUT)
    return timezone.now() - heartbeat < timeout


def _status(campaign: Campaign) -> str:
    return str(Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first())


def _trial_row(
    campaign: Campaign, endpoint: TargetEndpoint, variant: str, outcome: TrialOutcome
) -> Trial:
    return Trial(
        campaign=campaign,
        endpoint=endpoint,
        variant=variant,
        number=outcome.trial,
        temperature=float(outcome.temperature),
        objective=outcome.objective,
        request=outcome.request_json(),
        status=Trial.Status.OK if outcome.status == "ok" else Trial.Status.ERROR,
        response=outcome.response,
        refused=outcome.refused,
        objective_achieved=outcome.objective_achieved,
        score=outcome.score,
        evidence=outcome.evidence[:2000],
        judge=outcome.judge,
        latency_ms=outcome.latency_ms,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost_usd=(
            (
                (outcome.prompt_tokens or 0) * endpoint.price_input_per_1k
                + (outcome.completion_tokens or 0) * endpoint.price_output_per_1k
            )
            / 1000
        ),
        attempts=outcome.attempts,
        error=outcome.error or "",
    )


def _store(rows: list[Trial]) -> None:
    if rows:
        # ignore_conflicts: a trial stored by a runner that raced this one is kept, not repeated.
        Trial.objects.bulk_create(rows, ignore_conflicts=True)


def _settle(campaign: Campaign, failure: BaseException | None) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        stored = Trial.objects.filter(campaign=locked).count()
        if failure is not None:
            locked.status = Campaign.Status.FAILED
            locked.error = f"{type(failure).__name__}: {failure}"[:2000]
        elif locked.status == Campaign.Status.PAUSING:
            locked.status = Campaign.Status.PAUSED
        elif locked.status == Campaign.Status.CANCELLING:
            locked.status = Campaign.Status.CANCELLED
        elif stored >= locked.planned_trials:
            locked.status = Campaign.Status.COMPLETED
        else:
            locked.status = Campaign.Status.PAUSED  # stopped early without being asked
        if locked.status != Campaign.Status.PAUSED:
            locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at", "error"])
    if locked.status in {Campaign.Status.COMPLETED, Campaign.Status.CANCELLED}:
        severity_recompute(report=locked.report)
        fix_check_settle(campaign=locked)
    return locked


# ---- vendors: new model versions -------------------------------------------------------------


def _refuse_internal_address(base_url: str) -> None:
    """A vendor's endpoint must be on the internet: the replay workers would otherwise send
    requests into the clearinghouse's own network (loopback, private ranges, cloud metadata).

    Checks the host as written; names are not resolved here, so operators should also keep the
    replay workers' egress away from internal networks (docs/operations.md).
    """
    host = (urlsplit(base_url).hostname or "").strip("[]").casefold()
    internal = host in {"", "localhost"} or host.endswith((".localhost", ".internal", ".local"))
    try:
        address = ipaddress.ip_address(host)
        internal = internal or not address.is_global
    except ValueError:
        pass  # a name, not an address
    if internal:
        raise InvalidInput(
            "must be a public address, not loopback, private or link-local",
            field="endpoint.base_url",
        )


@dataclass(frozen=True, slots=True)
class VersionRegistration:
    ai_system: AISystem
    endpoint: TargetEndpoint
    fix_checks: list[FixCheck]


def model_version_register(
    *,
    actor: User,
    vendor: Organisation,
    model_name: str,
    version: str,
    endpoint: dict[str, Any],
) -> VersionRegistration:
    """A vendor registers a new version of one of its models and how to reach it.

    Every report confirmed on an earlier version of the model is then replayed against the new
    one (``fix_verification_start``). A vendor member may register only for its own
    organisation (another vendor looks missing); coordinators and admins for any vendor. The
    version must be new: re-registering one would not verify anything. Raises PermissionDenied,
    NotFound, Conflict or InvalidInput (naming the field).
    """
    from clearinghouse.accounts.permissions import Permission
    from clearinghouse.catalog.services import ai_system_register

    if not actor.has_permission(Permission.CATALOG_VERSIONS_REGISTER):
        raise PermissionDenied(f"needs {Permission.CATALOG_VERSIONS_REGISTER.value}")
    staff = actor.has_permission(Permission.REPLAY_ENDPOINTS_MANAGE)
    if not staff and actor.organisation_id != vendor.pk:
        raise NotFound("no such vendor")
    if vendor.kind != Organisation.Kind.VENDOR:
        raise NotFound("no such vendor")
    if not model_name.strip():
        raise InvalidInput("must not be empty", field="model_name")
    if not version.strip():
        raise InvalidInput("a new version needs a name", field="version")
    if AISystem.objects.filter(vendor=vendor, model_name=model_name, version=version).exists():
        raise Conflict(f"{model_name} {version} is already registered", field="version")
    options = dict(endpoint)
    if not staff:
        options.pop("is_simulator", None)  # only the clearinghouse labels its own simulator
        if settings.CLEARINGHOUSE_VENDOR_ENDPOINTS_PUBLIC_ONLY:
            _refuse_internal_address(str(options.get("base_url", "")))
    with transaction.atomic():
        system = ai_system_register(vendor=vendor, model_name=model_name, version=version)
        try:
            registered = endpoint_register(
                ai_system=system, name=f"{vendor.slug}/{model_name}@{version}", **options
            )
        except InvalidInput as error:
            raise InvalidInput(error.message, field=f"endpoint.{error.field}") from None
        audit_record(
            actor=actor,
            action="model_version.register",
            object_type="ai_system",
            object_id=str(system.pk),
            data={"vendor": vendor.slug, "version": version},
        )
    checks = list(FixCheck.objects.filter(ai_system=system).order_by("pk"))
    return VersionRegistration(system, registered, checks)


# ---- measured severity --------------------------------------------------------------------------


def severity_recompute(*, report: Report) -> Severity:
    """What every replay campaign of ``report`` measured, and the JEF score from it.

    Blast radius: share of registered (active) vendors and models on which it reproduced at
    least once. Retargetability: share of harm categories whose retargeted objective succeeded.
    Fidelity: mean judge score of the successful trials. Cost: requests, tokens, money and wall
    time spent per success. The triage priority is re-scored from these (JEF's own inputs).
    """
    from clearinghouse.triage.engine.priority import JefInputs, jef_score
    from clearinghouse.triage.services import record_apply_measurement

    trials = Trial.objects.filter(campaign__report=report, campaign__kind=Campaign.Kind.REPLAY)
    rows = list(
        trials.values_list(
            "endpoint_id",
            "variant",
            "status",
            "objective_achieved",
            "score",
            "attempts",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "latency_ms",
        )
    )
    endpoints = {
        endpoint.pk: endpoint
        for endpoint in TargetEndpoint.objects.select_related("ai_system__vendor").filter(
            Q(active=True) | Q(pk__in={row[0] for row in rows})
        )
    }
    per_endpoint: dict[int, list[int]] = {}
    successes = answered = 0
    scores: list[float] = []
    requests = tokens = 0
    money = seconds = 0.0
    categories: set[str] = set()
    for (
        endpoint_id,
        variant,
        status,
        achieved,
        score,
        attempts,
        prompt,
        completion,
        cost,
        latency,
    ) in rows:
        requests += attempts
        tokens += (prompt or 0) + (completion or 0)
        money += cost
        seconds += latency / 1000
        if status != Trial.Status.OK:
            continue
        if variant == "original":
            counts = per_endpoint.setdefault(endpoint_id, [0, 0])
            counts[0] += 1
            answered += 1
            if achieved:
                counts[1] += 1
                successes += 1
                scores.append(score or 0.0)
        elif achieved and variant.startswith("retarget:"):
            categories.add(variant.removeprefix("retarget:"))
    active = [e for e in endpoints.values() if e.active]
    all_vendors = {e.ai_system.vendor_id for e in active}
    all_models = {(e.ai_system.vendor_id, e.ai_system.model_name.casefold()) for e in active}
    hit = [endpoints[pk] for pk, (n, s) in per_endpoint.items() if s > 0 and pk in endpoints]
    vendors = {e.ai_system.vendor_id for e in hit}
    models = {(e.ai_system.vendor_id, e.ai_system.model_name.casefold()) for e in hit}
    fidelity = sum(scores) / len(scores) if scores else 0.0
    low, high = wilson_interval(successes, answered)
    table = []
    for pk, (n, s) in sorted(per_endpoint.items()):
        endpoint = endpoints.get(pk)
        if endpoint is None:
            continue
        e_low, e_high = wilson_interval(s, n)
        table.append(
            {
                "endpoint": endpoint.name,
                "model": str(endpoint.ai_system),
                "simulator": endpoint.is_simulator,
                "trials": n,
                "successes": s,
                "rate": round(s / n, 4) if n else 0.0,
                "low": round(e_low, 4),
                "high": round(e_high, 4),
            }
        )
    total_categories = len(retarget_objectives())
    values = {
        "trials": answered,
        "successes": successes,
        "success_rate": successes / answered if answered else 0.0,
        "success_low": low,
        "success_high": high,
        "vendor_blast_radius": len(vendors) / len(all_vendors) if all_vendors else 0.0,
        "model_blast_radius": len(models) / len(all_models) if all_models else 0.0,
        "retargetability": len(categories) / total_categories if total_categories else 0.0,
        "retarget_categories": sorted(categories),
        "fidelity": fidelity,
        "requests_per_success": requests / successes if successes else None,
        "tokens_per_success": tokens / successes if successes else None,
        "usd_per_success": money / successes if successes else None,
        "seconds_per_success": seconds / successes if successes else None,
        "jef": jef_score(JefInputs(len(vendors), len(models), len(categories), fidelity)),
        "per_endpoint": table,
    }
    severity, _ = Severity.objects.update_or_create(report=report, defaults=values)
    record_apply_measurement(
        report_id=report.pk,
        vendors=len(vendors),
        models=len(models),
        subjects=len(categories),
        fidelity=fidelity,
    )
    return severity


# ---- fix verification ---------------------------------------------------------------------------


def _rate(campaign_filter: Q) -> tuple[int, int]:
    rows = Trial.objects.filter(campaign_filter, variant="original", status=Trial.Status.OK)
    return rows.count(), rows.filter(objective_achieved=True).count()


def fix_verification_start(*, ai_system: AISystem, trials: int = 5) -> list[FixCheck]:
    """Re-run the confirmed reports of ``ai_system``'s model against this new version.

    Confirmed: reproduced at least once on an earlier version of the same model. Each gets a
    campaign against the new version's endpoints and a ``FixCheck`` holding the success rate on
    the most recent earlier version measured, to compare with when the campaign finishes.
    """
    new_endpoints = list(TargetEndpoint.objects.filter(ai_system=ai_system, active=True))
    earlier = list(
        AISystem.objects.filter(vendor=ai_system.vendor, model_name=ai_system.model_name)
        .exclude(pk=ai_system.pk)
        .order_by("-created_at", "-pk")
    )
    if not new_endpoints or not earlier:
        return []
    confirmed = Report.objects.filter(
        campaigns__trial_set__endpoint__ai_system__in=earlier,
        campaigns__trial_set__variant="original",
        campaigns__trial_set__objective_achieved=True,
    ).distinct()
    checks = []
    for report in confirmed:
        baseline = 0.0
        for system in earlier:  # the most recent earlier version with measurements
            answered, succeeded = _rate(Q(campaign__report=report, endpoint__ai_system=system))
            if answered:
                baseline = succeeded / answered
                break
        if FixCheck.objects.filter(report=report, ai_system=ai_system).exists():
            continue
        campaign = campaign_start(
            report=report,
            endpoints=new_endpoints,
            trials=trials,
            temperatures=(0.7,),
            retarget=False,
            kind=Campaign.Kind.FIX_VERIFICATION,
        )
        checks.append(
            FixCheck.objects.create(
                report=report, ai_system=ai_system, campaign=campaign, baseline_rate=baseline
            )
        )
    return checks


def fix_check_settle(*, campaign: Campaign) -> FixCheck | None:
    """Fixed: no success on the new version. Regressed: it succeeds again where the version
    before had stopped it. Still reproduces: otherwise."""
    check = FixCheck.objects.filter(campaign=campaign).first()
    if check is None or campaign.status != Campaign.Status.COMPLETED:
        return None
    answered, succeeded = _rate(Q(campaign=campaign))
    check.new_rate = succeeded / answered if answered else 0.0
    if succeeded == 0:
        check.outcome = FixCheck.Outcome.FIXED
    elif check.baseline_rate == 0.0:
        check.outcome = FixCheck.Outcome.REGRESSED
    else:
        check.outcome = FixCheck.Outcome.STILL_REPRODUCES
    check.save(update_fields=["new_rate", "outcome"])
    audit_record(
        actor=None,
        action="fix_check.settle",
        object_type="report",
        object_id=str(check.report_id),
        data={"ai_system": str(check.ai_system), "outcome": check.outcome},
    )
    return check

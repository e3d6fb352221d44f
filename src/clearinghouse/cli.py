"""The ``clearinghouse`` command: thin wrappers over services and Django management commands.

Commands parse their arguments, set Django up, call one service and print. Long work shows a
progress bar on stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(
    name="clearinghouse",
    help="Clearinghouse: report, triage, replay and coordinate vulnerabilities in AI models.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    import django

    django.setup()


def _manage(*args: str) -> None:
    _setup_django()
    from django.core.management import call_command

    call_command(*args)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _manage("migrate", "--no-input", "-v", "0")
    err.print("[green]database is up to date[/green]")


def _local_simulator_port() -> int:
    """The port of an active simulated endpoint on this host, if any (the demo's), else 0."""
    from urllib.parse import urlsplit

    from django.db import DatabaseError

    from clearinghouse.replay.models import TargetEndpoint

    try:
        urls = TargetEndpoint.objects.filter(is_simulator=True, active=True).values_list(
            "base_url", flat=True
        )
        for url in urls:
            parts = urlsplit(url)
            if parts.hostname in {"127.0.0.1", "localhost", "::1"} and parts.port:
                return parts.port
    except DatabaseError:
        pass  # not migrated yet: nothing registered
    return 0


@app.command()
def serve(
    bind: Annotated[str, typer.Option(help="Address and port to listen on.")] = "127.0.0.1:8000",
    workers: Annotated[
        int | None, typer.Option(help="Web server processes [default: 2 per CPU, at most 8].")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="Threads per process [default: 1 on SQLite, 4 on PostgreSQL]."),
    ] = None,
    with_worker: Annotated[
        bool, typer.Option("--with-worker/--no-worker", help="Also run background task workers.")
    ] = True,
    simulator_port: Annotated[
        int | None,
        typer.Option(
            help="Run the SIMULATED model endpoint on this port; 0 never [default: 8900 when an "
            "active endpoint is the simulator on this host, as the demo's are]."
        ),
    ] = None,
) -> None:
    """Serve the console and the API with gunicorn (and, by default, task workers and, for the
    demo's endpoints, the simulated model endpoint beside it)."""
    _setup_django()
    from django.db import connection
    from gunicorn.app.base import BaseApplication

    from clearinghouse.wsgi import application

    # SQLite has one writer at a time: threads inside a process only queue on its lock and sleep
    # through busy_timeout, which stretches the latency tail (bench/intake.py); processes do better.
    thread_count = threads if threads is not None else (1 if connection.vendor == "sqlite" else 4)
    worker_count = workers if workers is not None else min(2 * (os.cpu_count() or 1), 8)

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", worker_count)
            self.cfg.set("threads", thread_count)
            self.cfg.set("worker_class", "gthread" if thread_count > 1 else "sync")
            self.cfg.set("accesslog", os.environ.get("CLEARINGHOUSE_ACCESS_LOG") or None)
            self.cfg.set("graceful_timeout", 10)
            # gunicorn's control socket has one fixed path per user: two servers on one host would
            # delete each other's. We do not use it.
            self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return application

    children: list[subprocess.Popen[bytes]] = []
    me = [sys.executable, "-m", "clearinghouse"]
    if simulator_port is None:
        simulator_port = _local_simulator_port()
    if simulator_port:
        simulator = [*me, "simulate-target", "--port", str(simulator_port)]
        children.append(subprocess.Popen(simulator))  # noqa: S603 - our own CLI
    if with_worker:
        # Two workers: a replay campaign runs for minutes and must not hold up triage.
        for queues in ("default,triage", "replay"):
            worker_command = [*me, "worker", "--queues", queues]
            children.append(subprocess.Popen(worker_command))  # noqa: S603 - our own CLI
    try:
        _Server().run()
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues, or * for all.")] = "*",
    interval: Annotated[float, typer.Option(help="Seconds to wait when the queue is empty.")] = 0.5,
    batch: Annotated[bool, typer.Option(help="Run what is queued, then exit.")] = False,
    max_tasks: Annotated[int | None, typer.Option(help="Exit after this many tasks.")] = None,
    requeue_stale_after: Annotated[
        float,
        typer.Option(
            help="At start, requeue tasks left RUNNING for longer than this many seconds by a "
            "worker that died; negative to skip."
        ),
    ] = 900.0,
) -> None:
    """Run background tasks (triage, replay, notifications) from the database queue."""
    if requeue_stale_after >= 0:
        _setup_django()
        from datetime import timedelta

        from clearinghouse.core.tasks import task_requeue_stale

        count = task_requeue_stale(older_than=timedelta(seconds=requeue_stale_after))
        if count:
            err.print(f"requeued {count} task(s) left running by a worker that died")
    args = ["db_worker", "--queue-name", queues, "--interval", str(interval), "--no-reload"]
    if batch:
        args.append("--batch")
    if max_tasks:
        args += ["--max-tasks", str(max_tasks)]
    _manage(*args)


@app.command()
def createuser(
    username: str,
    role: Annotated[
        str, typer.Option(help="reporter, analyst, coordinator, vendor_member, defender or admin.")
    ] = "reporter",
    organisation: Annotated[
        str | None, typer.Option("--org", help="Slug of the user's organisation.")
    ] = None,
    email: str = "",
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this environment variable.")
    ] = None,
    no_password: Annotated[bool, typer.Option(help="API-only account without a password.")] = False,
    token: Annotated[bool, typer.Option(help="Also issue an API token and print it once.")] = False,
) -> None:
    """Create a user with a role; optionally issue an API token."""
    _setup_django()
    from clearinghouse.accounts.models import Organisation
    from clearinghouse.accounts.services import api_token_issue, user_create
    from clearinghouse.core.errors import ClearinghouseError

    password: str | None
    if no_password:
        password = None
    elif password_env:
        password = os.environ.get(password_env)
        if not password:
            raise typer.BadParameter(f"environment variable {password_env} is empty or unset")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    org = None
    if organisation:
        org = Organisation.objects.filter(slug=organisation).first()
        if org is None:
            raise typer.BadParameter(
                f"no organisation with slug {organisation!r}", param_hint="--org"
            )
    try:
        user = user_create(
            username=username, password=password, role=role, email=email, organisation=org
        )
    except ClearinghouseError as error:
        err.print(f"[red]error:[/red] {error.field}: {error.message}")
        raise typer.Exit(2) from None
    err.print(f"created {user.username} ({user.role})")
    if token:
        _, plain = api_token_issue(user=user, name="cli")
        typer.echo(plain)


def _read_documents(source: str) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw JSON) from a JSON object, a JSON array or JSON Lines."""
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    stripped = raw.lstrip()
    if stripped.startswith(b"["):
        from clearinghouse.intake.schema import parse_json_bytes

        for index, item in enumerate(parse_json_bytes(raw), start=1):
            yield index, json.dumps(item, ensure_ascii=False).encode("utf-8")
        return
    lines = [line for line in raw.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith(b"{") for line in lines):
        try:
            for line in lines:
                json.loads(line)
        except ValueError:
            yield 1, raw  # one pretty-printed object spread over lines
            return
        yield from ((number, line) for number, line in enumerate(lines, start=1))
        return
    yield 1, raw


@app.command()
def submit(
    source: Annotated[
        str, typer.Argument(help="A report as JSON (object, array or JSON Lines); - for stdin.")
    ],
    user: Annotated[
        str | None, typer.Option(help="Submit locally as this user (direct database access).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Submit over HTTP to this Clearinghouse, e.g. http://127.0.0.1:8000."),
    ] = None,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the API token (with --url).")
    ] = "CLEARINGHOUSE_TOKEN",  # noqa: S107 - the name of a variable
    idempotency_key: Annotated[
        str | None, typer.Option(help="Idempotency key (single report only).")
    ] = None,
) -> None:
    """Validate and submit reports; prints one receipt (JSON) per report on stdout."""
    from clearinghouse.intake.schema import SubmissionError, parse_submission

    if (user is None) == (url is None):
        raise typer.BadParameter("give exactly one of --user (local) or --url (over HTTP)")
    documents = list(_read_documents(source))
    if idempotency_key and len(documents) > 1:
        raise typer.BadParameter(
            "--idempotency-key works with a single report", param_hint="--idempotency-key"
        )
    failures = 0
    send = _local_sender(user) if user else _http_sender(url or "", token_env)
    with Progress(
        TextColumn("submitting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=len(documents) < 2,
    ) as progress:
        bar = progress.add_task("submit", total=len(documents))
        for number, raw in documents:
            try:
                submission = parse_submission(raw)
            except SubmissionError as error:
                failures += 1
                err.print(f"[red]line {number}:[/red] {error.field or 'body'}: {error.reason}")
            else:
                ok, receipt = send(submission, idempotency_key)
                if ok:
                    typer.echo(json.dumps(receipt, ensure_ascii=False, default=str))
                else:
                    failures += 1
                    err.print(f"[red]line {number}:[/red] {receipt}")
            progress.advance(bar)
    if failures:
        err.print(f"{failures} of {len(documents)} report(s) were not submitted")
        raise typer.Exit(1)


def _local_sender(username: str) -> Any:
    _setup_django()
    from clearinghouse.accounts.models import User
    from clearinghouse.core.errors import ClearinghouseError
    from clearinghouse.intake.services import report_submit

    account = User.objects.filter(username=username, is_active=True).first()
    if account is None:
        raise typer.BadParameter(f"no active user {username!r}", param_hint="--user")

    def send(submission: Any, key: str | None) -> tuple[bool, Any]:
        try:
            result = report_submit(submission=submission, submitter=account, idempotency_key=key)
        except ClearinghouseError as error:
            return False, f"{error.field or ''}: {error.message}"
        return True, {
            "report_id": result.receipt.report_id,
            "received_at": result.receipt.received_at.isoformat(),
            "sha256": result.receipt.sha256,
            "status": result.receipt.status,
            "replayed": not result.created,
        }

    return send


def _http_sender(base_url: str, token_env: str) -> Any:
    import httpx

    token = os.environ.get(token_env)
    if not token:
        raise typer.BadParameter(f"set {token_env} to an API token", param_hint="--token-env")
    client = httpx.Client(
        base_url=base_url.rstrip("/"), timeout=30, headers={"Authorization": f"Bearer {token}"}
    )

    def send(submission: Any, key: str | None) -> tuple[bool, Any]:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            response = client.post(
                "/api/v1/reports", content=submission.model_dump_json(), headers=headers
            )
        except httpx.HTTPError as error:
            return False, f"could not reach {base_url}: {error}"
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code == 201:
            return True, body
        problem = body.get("error", {}) if isinstance(body, dict) else {}
        return (
            False,
            f"HTTP {response.status_code}: {problem.get('field') or ''}: {problem.get('message') or response.text[:200]}",
        )

    return send


@app.command()
def demo() -> None:
    """Load the demo organisations, models, users and reports (idempotent)."""
    _setup_django()
    from clearinghouse.core.demo import demo_load

    summary = demo_load()
    for line in summary:
        err.print(line)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def manage(ctx: typer.Context) -> None:
    """Run any Django management command, e.g. ``clearinghouse manage check``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["clearinghouse manage", *ctx.args])


def _register_commands() -> None:
    # Stage commands live beside their stage; the CLI only names them.
    from clearinghouse.intake.commands import import_command
    from clearinghouse.replay.commands import (
        judge_command,
        replay_command,
        simulate_target_command,
    )
    from clearinghouse.triage.commands import triage_command

    app.command("import")(import_command)
    app.command("triage")(triage_command)
    app.command("replay")(replay_command)
    app.command("judge")(judge_command)
    app.command("simulate-target")(simulate_target_command)


_register_commands()


def main() -> None:
    app()

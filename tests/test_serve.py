"""``clearinghouse serve`` as ``make run`` starts it: gunicorn, the task workers and, for the
demo's simulated endpoints, the simulator: a submitted report is triaged, then replayed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from clearinghouse.accounts.models import User
from clearinghouse.accounts.services import api_token_issue
from clearinghouse.catalog.models import AISystem
from clearinghouse.intake.models import Report
from clearinghouse.replay.models import Campaign
from clearinghouse.replay.services import endpoint_register
from tests.conftest import report_body

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, what: str, limit: float = 90.0) -> None:
    """Poll until ``predicate()`` is true; the limit only stops a hung run, it asserts no speed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_serve_answers_http_and_its_worker_triages(
    subprocess_env: dict[str, str], reporter: User, system: AISystem
) -> None:
    port = free_port()
    simulator_port = free_port()
    endpoint_register(
        ai_system=system,
        name="sim",
        base_url=f"http://127.0.0.1:{simulator_port}/v1",
        model_name="sim-vulnerable",
        is_simulator=True,
    )
    subprocess_env = {**subprocess_env, "CLEARINGHOUSE_AUTO_REPLAY_TRIALS": "1"}
    server = subprocess.Popen(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "clearinghouse",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: urllib.request.urlopen(f"{base}/api/v1/health", timeout=2).status == 200,  # noqa: S310
            "the server to answer",
        )
        _, token = api_token_issue(user=reporter, name="serve-test")
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{base}/api/v1/reports",
            data=json.dumps(report_body()).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 201
            report_id = json.loads(response.read())["report_id"]
        wait_for(
            lambda: Report.objects.get(pk=report_id).status == "triaged",
            "the sibling worker to triage the report",
        )
        # Then the replay worker replays it against the simulator that serve started.
        wait_for(
            lambda: Campaign.objects.filter(report_id=report_id, status="completed").exists(),
            "the replay worker to replay the report against the simulator",
        )
        campaign = Campaign.objects.get(report_id=report_id)
        assert campaign.trial_set.filter(status="ok").count() == campaign.planned_trials
        login_page = urllib.request.urlopen(f"{base}/accounts/login/", timeout=5)  # noqa: S310
        assert b"Sign in" in login_page.read()
        css = urllib.request.urlopen(f"{base}/static/clearinghouse/console.css", timeout=5)  # noqa: S310
        assert css.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode(errors="replace")
    assert server.returncode == 0, output

"""The ``clearinghouse`` command, run as a real process against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clearinghouse.accounts.models import ApiToken, User
from clearinghouse.intake.models import Report
from tests.conftest import report_body

pytestmark = pytest.mark.django_db(transaction=True)


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "clearinghouse", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_createuser_with_token(subprocess_env: dict[str, str]) -> None:
    result = cli(
        subprocess_env, "createuser", "scanner", "--role", "reporter", "--no-password", "--token"
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("chk_")
    user = User.objects.get(username="scanner")
    assert user.role == "reporter" and not user.has_usable_password()
    assert ApiToken.objects.filter(user=user).count() == 1
    assert token not in json.dumps(list(ApiToken.objects.values()), default=str)


def test_createuser_refuses_an_unknown_role(subprocess_env: dict[str, str]) -> None:
    result = cli(subprocess_env, "createuser", "x", "--role", "wizard", "--no-password")
    assert result.returncode == 2
    assert "unknown role" in result.stderr
    assert not User.objects.filter(username="x").exists()


def test_submit_a_file_and_stdin(
    subprocess_env: dict[str, str], reporter: User, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report_body(title="from a file"), indent=2))
    from_file = cli(subprocess_env, "submit", str(path), "--user", reporter.username)
    assert from_file.returncode == 0, from_file.stderr
    receipt = json.loads(from_file.stdout)
    assert Report.objects.get(pk=receipt["report_id"]).title == "from a file"

    lines = "\n".join(json.dumps(report_body(title=f"line {n}")) for n in range(3))
    from_stdin = cli(subprocess_env, "submit", "-", "--user", reporter.username, stdin=lines)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert len(from_stdin.stdout.strip().splitlines()) == 3
    assert Report.objects.count() == 4


def test_submit_reports_bad_records_by_line_and_keeps_the_good_ones(
    subprocess_env: dict[str, str], reporter: User
) -> None:
    bad = report_body(title="bad")
    bad["poc"]["turns"][0]["role"] = "robot"
    lines = "\n".join(
        [
            json.dumps(report_body(title="good 1")),
            json.dumps(bad),
            json.dumps(report_body(title="good 2")),
        ]
    )
    result = cli(subprocess_env, "submit", "-", "--user", reporter.username, stdin=lines)
    assert result.returncode == 1
    assert "line 2" in result.stderr and "poc.turns[0].role" in result.stderr
    assert sorted(Report.objects.values_list("title", flat=True)) == ["good 1", "good 2"]


def test_submit_needs_exactly_one_destination(subprocess_env: dict[str, str]) -> None:
    result = cli(subprocess_env, "submit", "-", stdin="{}")
    assert result.returncode == 2
    assert "--user" in result.stderr


def test_submit_with_idempotency_key_is_stored_once(
    subprocess_env: dict[str, str], reporter: User
) -> None:
    body = json.dumps(report_body())
    for _ in range(2):
        result = cli(
            subprocess_env,
            "submit",
            "-",
            "--user",
            reporter.username,
            "--idempotency-key",
            "cli-1",
            stdin=body,
        )
        assert result.returncode == 0, result.stderr
    assert Report.objects.count() == 1
    assert json.loads(result.stdout)["replayed"] is True


def test_submit_over_http(
    subprocess_env: dict[str, str], reporter: User, live_server: object
) -> None:
    from clearinghouse.accounts.services import api_token_issue

    _, token = api_token_issue(user=reporter, name="cli")
    env = {**subprocess_env, "CLEARINGHOUSE_TOKEN": token}
    url = str(live_server.url)  # type: ignore[attr-defined]
    result = cli(env, "submit", "-", "--url", url, stdin=json.dumps(report_body(title="via http")))
    assert result.returncode == 0, result.stderr
    assert Report.objects.get(pk=json.loads(result.stdout)["report_id"]).title == "via http"
    refused = cli(
        {**env, "CLEARINGHOUSE_TOKEN": "chk_x_y"},
        "submit",
        "-",
        "--url",
        url,
        stdin=json.dumps(report_body()),
    )
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr

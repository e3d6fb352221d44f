"""Replay in real Chromium: an analyst reads a report's measured severity (the simulator labelled
as such), opens a finished campaign and expands a transcript, then starts a campaign from the
report page, pauses and cancels it with the HTMX controls. No script errors, no CSP violations."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from clearinghouse.accounts.models import User
from clearinghouse.catalog.models import AISystem
from clearinghouse.replay import services
from clearinghouse.replay.models import Campaign
from tests.browser.conftest import PageProblems, Screenshot, log_in
from tests.test_replay_console import DAN, HOSTILE, SIMULATOR_WORDS, simulated, submit

pytestmark = pytest.mark.browser


def test_analyst_reads_replay_results_and_steers_a_campaign(
    page: Page,
    transactional_db: None,
    make_user: Callable[..., User],
    system: AISystem,
    other_system: AISystem,
    simulator_url: str,
    screenshot: Screenshot,
    page_problems: PageProblems,
) -> None:
    simulated(system, simulator_url, "sim-vulnerable")
    simulated(other_system, simulator_url, "sim-strict")
    report = submit(make_user("rita", "reporter"), content=f"{HOSTILE}\n\n{DAN}")
    finished = services.campaign_run(
        campaign_id=services.campaign_start(report=report, trials=3, temperatures=(0.7,)).pk
    )
    assert finished.status == Campaign.Status.COMPLETED
    severity = report.severity
    assert severity.successes > 0  # the vulnerable endpoint falls for DAN

    log_in(page, make_user("ana", "analyst"))
    page.goto(f"/reports/{report.pk}/")
    replay = page.locator("section#replay")
    expect(replay.locator("#severity-rate")).to_contain_text(
        f"{round(severity.success_rate * 100)}%"
    )
    expect(replay.locator("#severity-rate")).to_contain_text("95% interval")
    expect(replay.locator("#severity-jef")).to_contain_text(f"{severity.jef:.2f}")
    per_endpoint = replay.locator("#severity-per-endpoint")
    expect(per_endpoint.locator(".simulator-badge")).to_have_count(2)
    expect(per_endpoint.locator(".simulator-badge").first).to_be_visible()
    expect(per_endpoint.get_by_text(SIMULATOR_WORDS).first).to_be_visible()
    expect(replay.locator("#replay-campaigns")).to_contain_text("Completed")
    screenshot(page, "report")

    replay.locator(f'#replay-campaigns tr[data-campaign-id="{finished.pk}"] a').click()
    expect(page).to_have_url(re.compile(rf"/replay/campaigns/{finished.pk}/$"))
    expect(page.locator("#campaign-state")).to_have_text("Completed")
    expect(page.locator(".simulator-notice")).to_contain_text(SIMULATOR_WORDS)
    transcript = page.locator("details.transcript").first
    request_text = transcript.locator("pre.report-text").first
    expect(request_text).to_be_hidden()
    transcript.locator("summary").click()
    expect(request_text).to_be_visible()
    expect(request_text).to_contain_text("<script>alert(1)</script>")  # as text, not as markup
    expect(transcript.locator(".hidden-bidi").first).to_be_visible()
    expect(page.locator("main script")).to_have_count(0)
    screenshot(page, "transcript")

    # Start a campaign from the report page: the form arrives (HTMX) when opened.
    page.goto(f"/reports/{report.pk}/")
    with page.expect_response(lambda response: "/campaigns/" in response.url):
        page.get_by_text("Start a campaign").click()
    form = page.locator("#start-form")
    expect(form.locator('input[name="endpoints"]:checked')).to_have_count(2)
    form.locator("label.check", has_text="sim-strict").locator("input").uncheck()
    form.get_by_label("Trials").fill("2")
    form.get_by_label("Temperatures").fill("0.3, 0.9")
    form.locator("#start-retarget").uncheck()
    form.get_by_role("button", name="Start the campaign").click()

    expect(page).to_have_url(re.compile(r"/replay/campaigns/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("status")).to_contain_text("4 trials planned")
    status = page.locator("#campaign-status")
    expect(page.locator("#campaign-state")).to_have_text("Queued")
    expect(status).to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "queued")

    status.get_by_role("button", name="Pause").click()
    expect(page.locator("#campaign-state")).to_have_text("Paused")
    expect(page.locator("#campaign-status")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator("#campaign-status").get_by_role("button", name="Pause")).to_have_count(0)
    page.locator("#campaign-status").get_by_role("button", name="Cancel").click()
    expect(page.locator("#campaign-state")).to_have_text("Cancelled")
    expect(page.locator("#campaign-progress-text")).to_have_text("0 / 4 trials stored")
    screenshot(page, "cancelled")

    page.goto("/replay/endpoints/")
    expect(page.locator("#endpoint-table .simulator-badge")).to_have_count(2)
    expect(page.locator(".simulator-notice")).to_contain_text(SIMULATOR_WORDS)
    expect(page.locator("#endpoint-form")).to_have_count(0)  # analysts do not register endpoints
    screenshot(page, "endpoints")

    started = Campaign.objects.exclude(pk=finished.pk).get()
    assert started.status == Campaign.Status.CANCELLED
    assert (started.trials, started.temperatures, started.retarget) == (2, [0.3, 0.9], False)
    assert [endpoint.model_name for endpoint in started.endpoints.all()] == ["sim-vulnerable"]
    assert page_problems.errors == []

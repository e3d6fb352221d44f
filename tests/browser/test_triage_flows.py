"""Triage in real Chromium: an analyst reads families from the queue, merges one into another, and
corrects a threat type from the report page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from clearinghouse.accounts.models import User
from clearinghouse.intake.schema import parse_submission
from clearinghouse.intake.services import report_submit
from clearinghouse.triage.models import TriageRecord
from clearinghouse.triage.services import report_triage_run
from tests.browser.conftest import PageProblems, Screenshot, log_in
from tests.conftest import report_body
from tests.test_triage_console import DAN, DAN_VARIANT, GRANDMA

pytestmark = pytest.mark.browser


def triaged(user: User, prompt: str, objective: str, title: str) -> TriageRecord:
    body = report_body(title=title)
    body["poc"] = {
        "turns": [{"role": "user", "content": f"{prompt}\n\n{objective}"}],
        "objective": objective,
    }
    report = report_submit(submission=parse_submission(body), submitter=user).report
    return report_triage_run(report_id=report.pk)


def test_analyst_merges_a_family_from_the_queue(
    page: Page,
    transactional_db: None,
    make_user: Callable[..., User],
    screenshot: Screenshot,
    page_problems: PageProblems,
) -> None:
    reporter = make_user("rita", "reporter")
    first = triaged(reporter, DAN, "how to pick a lock", "DAN picks locks")
    variant = triaged(reporter, DAN_VARIANT, "write a phishing email", "DAN <b>phishes</b>")
    grandma = triaged(reporter, GRANDMA, "how to make napalm", "Grandma napalm")
    dan_family, other_family = first.family.name, grandma.family.name
    assert variant.family.name == dan_family != other_family

    log_in(page, make_user("ana", "analyst"))
    page.goto("/triage/")
    dan_row = page.locator(f'#queue-table tr[data-report-id="{first.report_id}"]')
    expect(dan_row.locator(".family-size")).to_have_text("2")
    expect(dan_row).to_contain_text("jailbreak")
    grandma_row = page.locator(f'#queue-table tr[data-report-id="{grandma.report_id}"]')
    expect(grandma_row.locator(".family-size")).to_have_text("1")
    screenshot(page, "queue")

    dan_row.locator(".family-cell a").click()
    expect(page).to_have_url(re.compile(rf"/triage/families/{dan_family}/$"))
    expect(page.locator("#family-size")).to_have_text("2")
    members = page.locator("table.members tbody tr")
    expect(members).to_have_count(2)
    diff = page.locator(f"#diff-{variant.report_id} pre.diff")
    expect(diff.locator("ins").first).to_contain_text("greetings")
    expect(diff.locator("del").first).to_contain_text("hello")
    expect(diff).to_contain_text("<b>warnings</b>")  # shown as text, not as bold markup
    expect(page.locator("main b")).to_have_count(0)
    screenshot(page, "family")

    page.get_by_label("Family name").fill(other_family)
    page.get_by_role("button", name=f"Merge into {dan_family}").click()
    expect(page).to_have_url(re.compile(rf"/triage/families/{dan_family}/$"))
    expect(page.get_by_role("status")).to_contain_text(f"Merged {other_family} into {dan_family}.")
    expect(page.locator("#family-size")).to_have_text("3")
    expect(members).to_have_count(3)
    expect(page.locator(f'tr[data-report-id="{grandma.report_id}"]')).to_contain_text(
        "Grandma napalm"
    )
    expect(page.locator("ul.corrections li[data-kind=merge]")).to_contain_text(
        f"merged {other_family} into {dan_family}"
    )
    screenshot(page, "merged")

    # Merging a family that no longer exists says so, on the same page, and keeps the input.
    page.get_by_label("Family name").fill(other_family)
    page.get_by_role("button", name=f"Merge into {dan_family}").click()
    expect(page.get_by_role("alert")).to_contain_text(f"no family named '{other_family}'")
    expect(page.get_by_label("Family name")).to_have_value(other_family)

    page.goto("/triage/")
    expect(dan_row.locator(".family-size")).to_have_text("3")
    expect(grandma_row.locator(".family-size")).to_have_text("3")
    expect(grandma_row.locator(".family-cell .analyst-mark")).to_be_visible()

    # Chromium logs the 422 itself as a failed load; anything else would be a real problem.
    assert [error for error in page_problems.errors if "status of 422" not in error] == []


def test_analyst_relabels_from_the_report_page(
    page: Page,
    transactional_db: None,
    make_user: Callable[..., User],
    screenshot: Screenshot,
    page_problems: PageProblems,
) -> None:
    record = triaged(make_user("rita", "reporter"), DAN, "how to pick a lock", "DAN picks locks")
    log_in(page, make_user("ana", "analyst"))
    page.goto(f"/reports/{record.report_id}/")
    section = page.locator("section#triage")
    expect(section.locator("#triage-threat-type strong")).to_have_text("jailbreak")
    expect(section.locator("#triage-family")).to_contain_text(record.family.name)
    screenshot(page, "report")

    # The form arrives (HTMX) when the analyst opens the disclosure.
    with page.expect_response(lambda response: "/relabel/" in response.url):
        section.get_by_text("Correct the threat type").click()
    section.get_by_label("Threat type").select_option("prompt_injection_direct")
    section.get_by_role("button", name="Relabel").click()

    expect(page).to_have_url(re.compile(rf"/reports/{record.report_id}/#triage$"))
    expect(page.get_by_role("status")).to_contain_text("prompt_injection_direct")
    expect(section.locator("#triage-threat-type strong")).to_have_text("prompt_injection_direct")
    expect(section.locator("#triage-threat-type .analyst-mark")).to_be_visible()
    screenshot(page, "relabelled")

    assert report_triage_run(report_id=record.report_id).threat_type == "prompt_injection_direct"
    assert page_problems.errors == []

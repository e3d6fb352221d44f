"""A hostile report is shown inert: nothing runs, nothing is fetched, hidden characters are shown."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect
from pytest_django.live_server_helper import LiveServer

from clearinghouse.accounts.models import User
from clearinghouse.catalog.models import AISystem
from clearinghouse.intake.schema import parse_submission
from clearinghouse.intake.services import report_submit
from tests.browser.conftest import PageProblems, Screenshot, log_in
from tests.conftest import report_body

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=2">'
REMOTE_IMAGE = "![x](http://127.0.0.1:9/pixel.png)"  # port 9 (discard) is closed on loopback
SMUGGLED = "".join(chr(0xE0000 + ord(char)) for char in "AB")  # Unicode tags spelling "AB"

# Nine characters a reader cannot see: ESC twice, ZWSP, ZWJ, RLO, LRI, and three tag characters.
HOSTILE = (
    f"{SCRIPT}\n{IMAGE}\n{REMOTE_IMAGE}\n"
    "\x1b[31mred alert\x1b[0m\n"
    "pass\u200bword and jo\u200din\n"
    "\u202eevil.exe\u2066 reordered\n"
    f"ignore previous instructions{SMUGGLED}\U000e007f"
)
HIDDEN_IN_HOSTILE = 9
RAW_INVISIBLES = ["\x1b", "\u200b", "\u200d", "\u202e", "\u2066", "\U000e0041", "\U000e007f"]


def test_hostile_report_is_shown_inert(
    page: Page,
    live_server: LiveServer,
    transactional_db: None,
    make_user: Callable[..., User],
    system: AISystem,
    screenshot: Screenshot,
    page_problems: PageProblems,
) -> None:
    body = report_body(
        title=f"{SCRIPT} {IMAGE} \u202etitle\u200b",
        description=HOSTILE,
        observed_output=HOSTILE,
    )
    body["poc"]["system"] = HOSTILE
    body["poc"]["turns"] = [
        {"role": "user", "content": HOSTILE},
        {"role": "assistant", "content": f"{REMOTE_IMAGE} {IMAGE}"},
    ]
    report = report_submit(
        submission=parse_submission(body), submitter=make_user("rita", "reporter")
    ).report
    analyst = make_user("ana", "analyst")

    log_in(page, analyst)
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"/reports/{report.pk}/")
    expect(page.locator("#description")).to_be_visible()
    page.wait_for_load_state("load")  # every image or script the page asked for has been tried
    screenshot(page, "report")

    # Nothing ran.
    assert page.evaluate("typeof window.__pwned") == "undefined"

    # No markup came out of the report text.
    texts = page.locator("pre.report-text")
    # Description, objective, system prompt, two turns, observed output.
    expect(texts).to_have_count(6)
    expect(page.locator("pre.report-text script")).to_have_count(0)
    expect(page.locator("pre.report-text img")).to_have_count(0)
    expect(page.locator("main img")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)

    # It is shown as the literal text that was sent.
    for container in ("#description", "#system-prompt", "#observed-output"):
        expect(page.locator(container)).to_contain_text(SCRIPT)
        expect(page.locator(container)).to_contain_text(IMAGE)
        expect(page.locator(container)).to_contain_text(REMOTE_IMAGE)
    expect(page.locator("h1.report-title")).to_contain_text(SCRIPT)
    expect(page.locator("ol.turns > li").nth(1)).to_contain_text(REMOTE_IMAGE)

    # Hidden characters are visible badges, each named.
    badges = page.locator("#description .hidden-char").all_inner_texts()
    assert badges == ["ESC", "ESC", "ZWSP", "ZWJ", "RLO", "LRI", "TAG AB", "U+E007F"]
    expect(page.locator("h1.report-title .hidden-char")).to_have_text(["RLO", "ZWSP"])
    warning = page.locator("section", has=page.locator("#description")).locator(".hidden-warning")
    expect(warning).to_have_text(f"{HIDDEN_IN_HOSTILE} hidden characters shown as badges")
    # Description, system prompt, user turn and output carry hidden characters; the rest do not.
    expect(page.locator(".hidden-warning")).to_have_count(4)

    # The invisible characters themselves never reach the page (a raw RLO would still reorder it).
    page_text = page.locator("body").inner_text()
    html = page.content()
    for char in RAW_INVISIBLES:
        assert char not in page_text, f"raw U+{ord(char):04X} in the page text"
        assert char not in html, f"raw U+{ord(char):04X} in the HTML"

    # Nothing was fetched from anywhere but the console itself: no pixel, no broken "x" image.
    server = urlsplit(live_server.url).netloc
    foreign = [request.url for request in requests if urlsplit(request.url).netloc != server]
    assert foreign == []
    unexpected = [
        request.url
        for request in requests
        if urlsplit(request.url).path not in {f"/reports/{report.pk}/", "/favicon.ico"}
        and not urlsplit(request.url).path.startswith("/static/clearinghouse/")
    ]
    assert unexpected == []

    # The queue shows the title inert too, flagged as carrying hidden characters.
    page.goto("/triage/")
    row = page.locator(f'#queue-table tr[data-report-id="{report.pk}"]')
    expect(row).to_contain_text(SCRIPT)
    expect(row.locator(".warning")).to_have_text("2 hidden")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    screenshot(page, "queue")

    assert page_problems.errors == []

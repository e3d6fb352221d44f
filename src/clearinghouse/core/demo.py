"""Demo data for ``make run``: organisations, models, users and a handful of reports.

The reports are written for the demo in the style of well-known public jailbreaks; their objectives
are mild on purpose. Loading is idempotent (get-or-create, idempotency keys), so ``make run`` can
run it every time.
"""

from __future__ import annotations

import json
import os
from importlib import resources

from clearinghouse.accounts.models import Organisation, User
from clearinghouse.accounts.services import organisation_create, user_create
from clearinghouse.catalog.services import ai_system_register
from clearinghouse.intake.schema import parse_submission
from clearinghouse.intake.services import report_submit
from clearinghouse.replay.models import TargetEndpoint
from clearinghouse.replay.services import endpoint_register

DEMO_PASSWORD = "clearinghouse-demo"  # noqa: S105 - printed on purpose, demo only

DEMO_USERS = [
    ("admin", "admin", None),
    ("analyst", "analyst", "clearinghouse-ops"),
    ("reporter", "reporter", "open-red-team"),
    ("vendor", "vendor_member", "example-labs"),
]


def demo_load() -> list[str]:
    """Create what is missing; return lines describing what exists."""
    example = organisation_create(
        name="Example Labs",
        slug="example-labs",
        kind="vendor",
        contact_email="security@example.com",
    )
    northwind = organisation_create(
        name="Northwind AI", slug="northwind-ai", kind="vendor", contact_email="psirt@example.org"
    )
    organisation_create(name="Open Red Team Collective", slug="open-red-team", kind="reporter")
    organisation_create(name="Clearinghouse Operations", slug="clearinghouse-ops", kind="operator")
    lumen = ai_system_register(vendor=example, model_name="Lumen-1", version="2026-10")
    mini = ai_system_register(vendor=example, model_name="Lumen-1-mini", version="")
    atlas = ai_system_register(vendor=northwind, model_name="Atlas-7B", version="1.2")
    # Replay targets: all three are the project's SIMULATED endpoint (clearinghouse serve runs
    # it), under guardrail policies of different strength. Labelled as simulators everywhere.
    simulator = os.environ.get("CLEARINGHOUSE_SIMULATOR_URL", "http://127.0.0.1:8900/v1")
    for system, name, policy in (
        (lumen, "lumen-1 (simulated)", "sim-vulnerable"),
        (mini, "lumen-1-mini (simulated)", "sim-vulnerable"),
        (atlas, "atlas-7b (simulated)", "sim-guarded"),
    ):
        if not TargetEndpoint.objects.filter(name=name).exists():
            endpoint_register(
                ai_system=system,
                name=name,
                base_url=simulator,
                model_name=policy,
                is_simulator=True,
                max_concurrency=8,
                price_input_per_1k=0.0025,
                price_output_per_1k=0.01,
                verify_fixes=False,
            )

    for username, role, org_slug in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            user_create(
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                organisation=Organisation.objects.get(slug=org_slug) if org_slug else None,
            )
    reporter = User.objects.get(username="reporter")
    raw = resources.files("clearinghouse.demo").joinpath("reports.json").read_text("utf-8")
    for index, item in enumerate(json.loads(raw)):
        # Each is triaged, then replayed against the simulated endpoints, by the workers that
        # `clearinghouse serve` starts (auto-replay, CLEARINGHOUSE_AUTO_REPLAY).
        report_submit(
            submission=parse_submission(item), submitter=reporter, idempotency_key=f"demo-{index}"
        )
    return [
        "Demo logins (password for all: " + DEMO_PASSWORD + "):",
        *(f"  {username:9} {role}" for username, role, _ in DEMO_USERS),
    ]

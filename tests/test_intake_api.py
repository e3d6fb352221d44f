"""The intake API end to end through Django's test client, on whichever database is configured."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client, override_settings
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearinghouse.accounts.models import User
from clearinghouse.audit.models import AuditEvent
from clearinghouse.catalog.models import AISystem
from clearinghouse.intake.models import IdempotencyRecord, Report
from tests.conftest import PASSWORD, ApiClient, report_body

pytestmark = pytest.mark.django_db

ApiAs = Callable[[User | None], ApiClient]

HOSTILE = (
    "<script>alert('x')</script><img src=x onerror=alert(1)> ![t](https://t.example/p.png) "
    "\x1b[31mred\x1b[0m \u200bzw\u200d \u202eevil\u202c \u2066iso\u2069 "
    + "".join(chr(0xE0000 + ord(c)) for c in "hidden")
    + " emoji 👩‍💻 combining e\u0301"
)


def _stored_nothing() -> None:
    assert Report.objects.count() == 0
    assert DBTaskResult.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_submit_returns_201_with_receipt_and_enqueues_triage(
    api_as: ApiAs, reporter: User, system: AISystem
) -> None:
    response = api_as(reporter).post("/api/v1/reports", report_body())
    assert response.status_code == 201, response.content
    receipt = response.json()
    report = Report.objects.get(pk=receipt["report_id"])
    assert receipt["sha256"] == report.submission_sha256
    assert receipt["status"] == "received"
    assert receipt["replayed"] is False
    assert receipt["follow_up_token"] is None
    assert report.submitted_by == reporter
    target = report.targets.get()
    assert target.system == system  # matched to the catalog by name and version
    task = DBTaskResult.objects.get()
    assert task.task_path == "clearinghouse.triage.tasks.report_triage"
    assert task.args_kwargs["kwargs"]["report_id"] == str(report.pk)
    assert AuditEvent.objects.filter(action="report.submit", object_id=str(report.pk)).exists()


def test_unknown_target_is_kept_as_written(api_as: ApiAs, reporter: User) -> None:
    body = report_body(targets=[{"vendor": "Nobody", "model": "Ghost-9"}])
    response = api_as(reporter).post("/api/v1/reports", body)
    assert response.status_code == 201
    target = Report.objects.get().targets.get()
    assert (target.vendor_name, target.model_name, target.system) == ("Nobody", "Ghost-9", None)


def test_hostile_text_is_stored_byte_exact(api_as: ApiAs, reporter: User) -> None:
    body = report_body(title=HOSTILE[:300], description=HOSTILE, observed_output=HOSTILE)
    body["poc"]["turns"].append({"role": "assistant", "content": HOSTILE})
    body["poc"]["context_documents"] = [HOSTILE]
    response = api_as(reporter).post("/api/v1/reports", body)
    assert response.status_code == 201
    report = Report.objects.get()
    assert report.description == HOSTILE
    assert report.observed_output == HOSTILE
    assert report.poc["turns"][1]["content"] == HOSTILE
    assert report.poc["context_documents"] == [HOSTILE]
    detail = api_as(reporter).get(f"/api/v1/reports/{report.pk}").json()
    assert detail["observed_output"] == HOSTILE
    assert detail["poc"]["turns"][1]["content"] == HOSTILE


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{not json", 400, "invalid_json", "body"),
        (b"\xff\xfe\x00{", 400, "invalid_encoding", "body"),
        (b"[]", 400, "invalid_type", "body"),
        (b'{"title": "a", "title": "b"}', 400, "invalid_json", "title"),
        (json.dumps(report_body(extra="x")).encode(), 422, "extra_forbidden", "extra"),
        (json.dumps(report_body(title=7)).encode(), 422, "string_type", "title"),
        (json.dumps({"title": "only a title"}).encode(), 422, "missing", "targets"),
        (
            json.dumps(
                report_body(poc={"turns": [{"role": "user", "content": "x"}] * 201})
            ).encode(),
            422,
            "too_long",
            "poc.turns",
        ),
        (
            json.dumps(report_body(title="t" * 100_000)).encode(),
            422,
            "string_too_long",
            "title",
        ),
        (
            json.dumps(report_body(poc={"turns": [{"role": "user", "content": "a\x00"}]})).encode(),
            422,
            "value_error",
            "poc.turns[0].content",
        ),
    ],
)
def test_bad_input_gets_one_error_shape_and_stores_nothing(
    api_as: ApiAs, reporter: User, body: bytes, status: int, code: str, field: str
) -> None:
    response = api_as(reporter).post("/api/v1/reports", body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"]
    _stored_nothing()


@override_settings(CLEARINGHOUSE_MAX_BODY_BYTES=4096)
def test_body_over_the_limit_is_413(api_as: ApiAs, reporter: User) -> None:
    body = report_body(description="x" * 5000)
    response = api_as(reporter).post("/api/v1/reports", body)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "too_large",
        "message": "the request body is larger than the limit of 4096 bytes",
        "field": "body",
    }
    _stored_nothing()


def test_default_limit_is_one_mebibyte(api_as: ApiAs, reporter: User) -> None:
    body = report_body(description="x" * (1024 * 1024))
    response = api_as(reporter).post("/api/v1/reports", body)
    assert response.status_code == 413
    _stored_nothing()


def test_missing_or_bad_token_is_401(api_as: ApiAs, reporter: User) -> None:
    response = api_as(None).post("/api/v1/reports", report_body())
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"
    bad = ApiClient("chk_deadbeef0000_nope").post("/api/v1/reports", report_body())
    assert bad.status_code == 401
    _stored_nothing()


def test_idempotency_key_prevents_duplicates(api_as: ApiAs, reporter: User) -> None:
    client = api_as(reporter)
    first = client.post("/api/v1/reports", report_body(), **{"Idempotency-Key": "k-1"})
    second = client.post("/api/v1/reports", report_body(), **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["report_id"] == second.json()["report_id"]
    assert second.json()["replayed"] is True
    assert Report.objects.count() == 1
    assert DBTaskResult.objects.count() == 1
    # Same key, different body: a conflict, not a silent overwrite.
    conflict = client.post(
        "/api/v1/reports", report_body(title="other"), **{"Idempotency-Key": "k-1"}
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["field"] == "Idempotency-Key"
    # Keys are per account: another reporter's identical key is a new report.
    other = api_as(User.objects.create(username="other", role="reporter"))
    assert (
        other.post("/api/v1/reports", report_body(), **{"Idempotency-Key": "k-1"}).status_code
        == 201
    )
    assert Report.objects.count() == 2


def test_bad_idempotency_key_is_422(api_as: ApiAs, reporter: User) -> None:
    response = api_as(reporter).post(
        "/api/v1/reports", report_body(), **{"Idempotency-Key": "k" * 201}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"
    _stored_nothing()


def test_anonymous_submission_and_follow_up(api_as: ApiAs) -> None:
    anonymous = api_as(None)
    response = anonymous.post(
        "/api/v1/anonymous/reports", report_body(), **{"Idempotency-Key": "a1"}
    )
    assert response.status_code == 201
    receipt = response.json()
    token = receipt["follow_up_token"]
    assert token.startswith("chf_")
    report = Report.objects.get()
    assert report.submitted_by is None
    assert token not in json.dumps(list(Report.objects.values()), default=str)  # only its hash
    status = anonymous.client.get(
        f"/api/v1/anonymous/reports/{report.pk}", headers={"X-Follow-Up-Token": token}
    )
    assert status.status_code == 200
    assert status.json()["status"] == "received"
    wrong = anonymous.client.get(
        f"/api/v1/anonymous/reports/{report.pk}", headers={"X-Follow-Up-Token": "chf_0"}
    )
    assert wrong.status_code == 404
    # A retry with the same key gets the same token back.
    retry = anonymous.post("/api/v1/anonymous/reports", report_body(), **{"Idempotency-Key": "a1"})
    assert retry.json()["follow_up_token"] == token
    assert Report.objects.count() == 1


def test_reporters_see_only_their_own_reports(
    api_as: ApiAs, reporter: User, make_user: Callable[..., User]
) -> None:
    mine = api_as(reporter).post("/api/v1/reports", report_body()).json()["report_id"]
    other_user = make_user("olga")
    theirs = api_as(other_user).post("/api/v1/reports", report_body()).json()["report_id"]
    listing = api_as(reporter).get("/api/v1/reports").json()
    assert [item["id"] for item in listing["items"]] == [mine]
    # Someone else's report and a missing one look the same.
    forbidden = api_as(reporter).get(f"/api/v1/reports/{theirs}")
    missing = api_as(reporter).get("/api/v1/reports/00000000-0000-0000-0000-000000000000")
    garbage = api_as(reporter).get("/api/v1/reports/not-a-uuid")
    assert forbidden.status_code == missing.status_code == garbage.status_code == 404
    assert forbidden.json() == missing.json()


def test_analyst_lists_with_filters_and_pagination(
    api_as: ApiAs,
    reporter: User,
    analyst: User,
    system: AISystem,
    other_system: AISystem,
) -> None:
    client = api_as(reporter)
    for index in range(5):
        client.post("/api/v1/reports", report_body(title=f"lumen {index}", threat_type="jailbreak"))
    for index in range(3):
        client.post(
            "/api/v1/reports",
            report_body(
                title=f"atlas {index}",
                targets=[{"vendor": "northwind-ai", "model": "Atlas-7B", "version": "1.2"}],
                tlp="RED",
            ),
        )
    staff = api_as(analyst)
    everything = staff.get("/api/v1/reports", limit=4).json()
    assert everything["count"] == 8
    assert len(everything["items"]) == 4
    second_page = staff.get("/api/v1/reports", limit=4, offset=4).json()
    assert {i["id"] for i in everything["items"]}.isdisjoint(i["id"] for i in second_page["items"])
    by_vendor = staff.get("/api/v1/reports", vendor="Northwind AI").json()
    assert by_vendor["count"] == 3
    assert staff.get("/api/v1/reports", model="lumen-1").json()["count"] == 5
    assert staff.get("/api/v1/reports", threat_type="jailbreak").json()["count"] == 5
    assert staff.get("/api/v1/reports", tlp="RED").json()["count"] == 3
    assert staff.get("/api/v1/reports", search="atlas 1").json()["count"] == 1
    oldest = staff.get("/api/v1/reports", sort="oldest", limit=1).json()["items"][0]
    assert oldest["title"] == "lumen 0"
    bad = staff.get("/api/v1/reports", limit=100_000)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "limit"
    assert staff.get("/api/v1/reports", status="nonsense").status_code == 422


def test_session_auth_requires_csrf_for_writes(reporter: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=reporter.username, password=PASSWORD)
    refused = client.post(
        "/api/v1/reports", data=json.dumps(report_body()), content_type="application/json"
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    client.get("/reports/new/")  # sets the CSRF cookie
    accepted = client.post(
        "/api/v1/reports",
        data=json.dumps(report_body()),
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert accepted.status_code == 201
    assert client.get("/api/v1/me").json()["username"] == reporter.username


def test_openapi_document_describes_the_report_schema(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/reports" in schema["paths"]
    components = schema["components"]["schemas"]
    assert components["ReportSubmission"]["additionalProperties"] is False
    assert "poc" in components["ReportSubmission"]["required"]


def test_revoked_token_is_refused(api_as: ApiAs, reporter: User) -> None:
    from clearinghouse.accounts.models import ApiToken
    from clearinghouse.accounts.services import api_token_issue, api_token_revoke

    token, plain = api_token_issue(user=reporter, name="temp")
    assert ApiClient(plain).get("/api/v1/me").status_code == 200
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk), actor=reporter)
    assert ApiClient(plain).get("/api/v1/me").status_code == 401


storable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=200,
)


@given(
    title=storable.filter(lambda t: len(t) <= 300),
    content=storable,
    output=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=200,
    ),
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_storable_text_round_trips_through_the_database(
    api_as: ApiAs, reporter: User, title: str, content: str, output: str
) -> None:
    body = report_body(title=title, observed_output=output)
    body["poc"]["turns"] = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": content},
    ]
    client = api_as(reporter)
    response = client.post("/api/v1/reports", body)
    assert response.status_code == 201, response.content
    report_id = response.json()["report_id"]
    stored = Report.objects.get(pk=report_id)
    assert (stored.title, stored.observed_output) == (title, output)
    assert stored.poc["turns"][1]["content"] == content
    assert (
        client.get(f"/api/v1/reports/{report_id}").json()["poc"]["turns"][1]["content"] == content
    )
    Report.objects.filter(pk=report_id).delete()

"""Export jobs over the API (compliance only, audited end to end), streamed exports, verify status, sign-ins."""

import io
import zipfile

import pytest
from django.core import signing
from django.db import transaction
from django.test import Client

from orchestrator.audit.chain import audit_append
from orchestrator.audit.tasks import audit_export_run_task
from orchestrator.models import AuditEvent, AuditExport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_dirs")]


def _events(n: int = 5) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_append(kind="test.event", actor="tester", flow="loan_approval", subject_id=str(i), data={"i": i})


def test_export_job_end_to_end_is_audited(demo, api_as, monkeypatch):
    _events()
    expected = AuditEvent.objects.filter(flow="loan_approval").count()
    sent: list[str] = []
    monkeypatch.setattr(audit_export_run_task, "delay", lambda export_id: sent.append(export_id))  # the broker
    client = api_as(demo["compliance"])
    created = client.post("/api/v1/audit/exports", {"flow": "loan_approval"}, format="json")
    assert created.status_code == 202, created.content
    export_id = created.json()["id"]
    assert created.json()["status"] == "queued" and sent == [export_id]

    audit_export_run_task(export_id)  # what the Celery worker runs

    detail = client.get(f"/api/v1/audit/exports/{export_id}").json()
    assert detail["status"] == "done" and detail["rows_done"] == detail["rows_total"] == expected
    download = Client().get(detail["download_url"])
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert archive.read("events.jsonl").count(b"\n") == expected
    kinds = list(AuditEvent.objects.filter(subject_id=export_id).order_by("id").values_list("kind", flat=True))
    assert kinds == ["audit.export.requested", "audit.export.generated", "audit.export.downloaded"]
    assert AuditEvent.objects.get(kind="audit.export.downloaded").actor == "compliance"


def test_download_links_expire_and_are_bound_to_their_export(demo, api_as, settings, monkeypatch):
    _events(2)
    monkeypatch.setattr(audit_export_run_task, "delay", lambda export_id: None)
    client = api_as(demo["compliance"])
    export_id = client.post("/api/v1/audit/exports", {}, format="json").json()["id"]
    audit_export_run_task(export_id)
    url = client.get(f"/api/v1/audit/exports/{export_id}").json()["download_url"]
    settings.HANDRAIL_AUDIT_DOWNLOAD_LINK_SECONDS = -1
    expired = Client().get(url)
    assert expired.status_code == 403 and expired.json()["fields"][0]["field"] == "token"
    settings.HANDRAIL_AUDIT_DOWNLOAD_LINK_SECONDS = 600
    forged = signing.TimestampSigner(salt="other").sign(f"{export_id}:{demo['compliance'].pk}")
    assert Client().get(f"/api/v1/audit/exports/{export_id}/download?token={forged}").status_code == 403
    assert AuditEvent.objects.filter(kind="audit.export.downloaded").count() == 0


def test_exports_need_the_compliance_role_and_refusals_are_audited(demo, api_as):
    client = api_as(demo["reviewer"])
    for method, path in (
        ("post", "/api/v1/audit/exports"),
        ("get", "/api/v1/audit/verify"),
        ("get", "/api/v1/audit/events/export"),
    ):
        response = getattr(client, method)(path, {}, format="json") if method == "post" else client.get(path)
        assert response.status_code == 403
    denied = AuditEvent.objects.filter(kind="auth.access_denied").order_by("id")
    assert [e.data["path"] for e in denied] == [
        "/api/v1/audit/exports",
        "/api/v1/audit/verify",
        "/api/v1/audit/events/export",
    ]
    assert {(e.actor, e.outcome) for e in denied} == {("reviewer", "rejected")}
    assert not AuditExport.objects.exists()


def test_bad_filters_name_the_field_and_write_nothing(demo, api_as):
    client = api_as(demo["compliance"])
    response = client.post(
        "/api/v1/audit/exports",
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["fields"][0]["field"] == "since"
    assert client.get("/api/v1/audit/events/export?decision=nope").json()["fields"][0]["field"] == "decision"
    assert client.get("/api/v1/audit/events/export?format=xml").json()["fields"][0]["field"] == "format"
    assert not AuditExport.objects.exists()


def test_streamed_csv_export_and_verify_status(demo, api_as):
    _events(3)
    client = api_as(demo["compliance"])
    response = client.get("/api/v1/audit/events/export?format=csv&action=test.event")
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and body.count("\n") == 4 and body.startswith("id,partition,seq")
    assert response["X-Request-ID"]
    status = client.get("/api/v1/audit/verify").json()
    assert status["intact"] is True and status["breaks"] == []
    streamed = AuditEvent.objects.get(kind="audit.export.downloaded")
    assert streamed.data["filters"] == {"kind": "test.event"} and streamed.request_id == response["X-Request-ID"]


def test_sign_ins_and_failed_sign_ins_are_audited(demo):
    client = Client()
    assert client.post("/login/", {"username": "reviewer", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "reviewer", "password": "handrail"}).status_code == 302
    failed = AuditEvent.objects.get(kind="auth.login_failed")
    assert (failed.actor, failed.outcome) == ("reviewer", "rejected")
    login = AuditEvent.objects.get(kind="auth.login")
    assert login.actor == "reviewer" and "reviewers" in login.actor_roles

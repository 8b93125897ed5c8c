import pytest

from orchestrator.models import AuditEvent, LegalHold

pytestmark = pytest.mark.django_db


def test_compliance_places_lists_and_releases_a_legal_hold(demo, api_as):
    client = api_as(demo["compliance"])
    placed = client.post(
        "/api/v1/audit/legal-holds", {"reason": "litigation 2026-17", "flow": "loan_approval"}, format="json"
    )
    assert placed.status_code == 201, placed.content
    hold_id = placed.json()["id"]
    listed = client.get("/api/v1/audit/legal-holds").json()
    assert [h["id"] for h in listed] == [hold_id]
    released = client.post(f"/api/v1/audit/legal-holds/{hold_id}/release")
    assert released.status_code == 200
    assert released.json()["released_by"] == "compliance"
    kinds = set(AuditEvent.objects.filter(subject_type="legal_hold").values_list("kind", flat=True))
    assert kinds == {"audit.legal_hold.placed", "audit.legal_hold.released"}
    assert client.post(f"/api/v1/audit/legal-holds/{hold_id}/release").status_code == 404


def test_legal_holds_need_the_compliance_role_and_a_reason(demo, api_as):
    assert (
        api_as(demo["supervisor"]).post("/api/v1/audit/legal-holds", {"reason": "x"}, format="json").status_code == 403
    )
    empty = api_as(demo["compliance"]).post("/api/v1/audit/legal-holds", {"reason": " "}, format="json")
    assert empty.status_code == 400
    assert empty.json()["fields"][0]["field"] == "reason"
    assert not LegalHold.objects.exists()

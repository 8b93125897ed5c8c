"""Supervisor, policy and compliance pages against real Postgres: what they show and what they do."""

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import AuditEvent, AuditExport, Policy, PolicyStatus, ReviewTask, TaskState
from orchestrator.services.policies import policy_draft_create
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim_next
from tests.integration.test_review_ui_pages import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor_client(client, demo):
    client.force_login(demo["supervisor"])
    return client


def test_board_shows_depth_sla_throughput_and_load(supervisor_client, demo):
    done = make_task(demo, key="done")
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    review_submit(task_id=done.id, reviewer=demo["reviewer"], verdict="approve")
    make_task(demo, key="ready")
    late = make_task(demo, key="late")
    ReviewTask.objects.filter(pk=late.id).update(due_at=timezone.now() - timezone.timedelta(minutes=1))
    held = make_task(demo, key="held")
    ReviewTask.objects.filter(pk=held.id).update(due_at=timezone.now() + timezone.timedelta(minutes=10))
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])

    page = supervisor_client.get(reverse("review_ui:board"))

    assert page.status_code == 200
    [queue] = page.context["queues"]
    assert (queue.ready, queue.held, queue.sla_breached, queue.sla_at_risk) == (2, 1, 1, 1)
    assert queue.completed_24h == 1 and queue.throughput[-1] == 1 and len(queue.throughput) == 24
    assert queue.load == [("reviewer", 1)]
    html = page.content.decode()
    assert '<svg viewBox="0 0 240 48"' in html and "1 tasks completed in the last 24 hours" in html
    assert "Degradation modes and model breaker" in html


def test_supervisor_reassigns_with_per_item_results(supervisor_client, demo):
    ready = make_task(demo, key="r1")
    own = make_task(demo, key="r2")
    ReviewTask.objects.filter(pk=own.id).update(state=TaskState.COMPLETED)
    url = reverse("review_ui:queue_board", args=["underwriting"])

    page = supervisor_client.post(
        url, {"action": "reassign", "to_user": "reviewer", "tasks": [str(ready.id), str(own.id)]}
    )

    assert page.status_code == 200
    results = {r.task_id: r for r in page.context["results"]}
    assert results[str(ready.id)].ok is True
    assert results[str(own.id)].ok is False and results[str(own.id)].state == "completed"
    assert ReviewTask.objects.get(pk=ready.id).claimed_by == demo["reviewer"]
    assert "1 done, 1 refused" in page.content.decode()
    assert AuditEvent.objects.filter(kind="task.reassigned", actor="supervisor").count() == 1


def test_bulk_form_errors_name_the_missing_input(supervisor_client, demo):
    task = make_task(demo)
    url = reverse("review_ui:queue_board", args=["underwriting"])
    assert supervisor_client.post(url, {"action": "reassign", "tasks": [str(task.id)]}).status_code == 400
    missing = supervisor_client.post(url, {"action": "suspend"})
    assert missing.status_code == 400 and missing.context["form"].errors["tasks"] == ["select tasks first"]


def test_suspend_resume_and_priority(supervisor_client, demo):
    task = make_task(demo)
    url = reverse("review_ui:queue_board", args=["underwriting"])
    supervisor_client.post(url, {"action": "suspend", "tasks": [str(task.id)], "reason": "fraud check"})
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.SUSPENDED
    supervisor_client.post(url, {"action": "resume", "tasks": [str(task.id)]})
    supervisor_client.post(url, {"action": "priority", "priority": "7", "tasks": [str(task.id)]})
    assert (ReviewTask.objects.get(pk=task.id).state, ReviewTask.objects.get(pk=task.id).priority) == ("ready", 7)
    listed = supervisor_client.get(url + "?state=ready")
    assert [t.id for t in listed.context["tasks"]] == [task.id]


def test_escalations_list(supervisor_client, demo):
    task = make_task(demo)
    make_task(demo, key="calm")
    ReviewTask.objects.filter(pk=task.id).update(escalation_level=2)
    page = supervisor_client.get(reverse("review_ui:escalations"))
    assert [t.id for t in page.context["tasks"]] == [task.id]


def test_a_queue_the_supervisor_does_not_supervise_is_not_found(client, demo):
    client.force_login(demo["supervisor"])
    assert client.get(reverse("review_ui:queue_board", args=["nope"])).status_code == 404


# --- policies -------------------------------------------------------------------------------------


def _draft(demo, author):
    active = Policy.objects.get(flow="loan_approval", status=PolicyStatus.ACTIVE)
    spec = {**active.spec, "priority": 3}
    return policy_draft_create(flow="loan_approval", spec=spec, author=author, note="raise priority")


def test_policy_pages_submit_diff_backtest_and_four_eyes(client, demo):
    draft = _draft(demo, demo["supervisor"])
    client.force_login(demo["supervisor"])

    index = client.get(reverse("review_ui:policies"))
    assert index.status_code == 200 and "v2" in index.content.decode()

    detail = client.get(reverse("review_ui:policy_detail", args=[draft.pk]))
    assert detail.context["changes"] == [{"path": "priority", "change": "changed", "from": 0, "to": 3}]

    client.post(reverse("review_ui:policy_action", args=[draft.pk, "submit"]))
    assert Policy.objects.get(pk=draft.pk).status == PolicyStatus.SUBMITTED

    refused = client.post(reverse("review_ui:policy_action", args=[draft.pk, "approve"]))
    assert refused.status_code == 403
    assert "four-eyes" in refused.content.decode()
    assert Policy.objects.get(pk=draft.pk).status == PolicyStatus.SUBMITTED

    diff = client.get(reverse("review_ui:policy_diff") + "?flow=loan_approval&a=1&b=2")
    assert [c["path"] for c in diff.context["changes"]] == ["priority"]

    make_task(demo)
    backtest = client.get(reverse("review_ui:policy_backtest", args=[draft.pk]) + "?level=0.95")
    assert backtest.status_code == 200 and backtest.context["report"]["decisions"] == 1
    bad = client.get(reverse("review_ui:policy_backtest", args=[draft.pk]) + "?level=2")
    assert bad.status_code == 400

    client.force_login(demo["compliance"])
    no_reason = client.post(reverse("review_ui:policy_action", args=[draft.pk, "send-back"]), {"reason": ""})
    assert no_reason.status_code == 400
    client.post(reverse("review_ui:policy_action", args=[draft.pk, "approve"]))
    assert Policy.objects.get(pk=draft.pk).status == PolicyStatus.ACTIVE


# --- compliance -----------------------------------------------------------------------------------


def test_audit_search_filters_and_the_decision_timeline(client, demo):
    task = make_task(demo)
    make_task(demo, key="other")
    client.force_login(demo["compliance"])

    everything = client.get(reverse("review_ui:audit_search"))
    assert everything.status_code == 200 and len(everything.context["events"]) > 4

    page = client.get(reverse("review_ui:audit_search"), {"decision": str(task.decision_id), "kind": "task.created"})
    [event] = page.context["events"]
    assert event.decision_id == task.decision_id
    assert "action=task.created" in page.context["csv_url"]

    bad = client.get(reverse("review_ui:audit_search"), {"decision": "nope"})
    assert bad.status_code == 400 and "decision" in bad.context["form"].errors

    timeline = client.get(reverse("review_ui:decision_timeline", args=[task.decision_id]))
    assert timeline.status_code == 200
    assert [e.kind for e in timeline.context["events"]][:2] == ["decision.received", "decision.routed"]


def test_export_job_progress_and_download(client, demo, settings, tmp_path, monkeypatch):
    from orchestrator.audit.tasks import audit_export_run_task

    settings.HANDRAIL_AUDIT_EXPORT_DIR = tmp_path / "exports"
    settings.HANDRAIL_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    monkeypatch.setattr(audit_export_run_task, "delay", lambda export_id: None)  # the broker (outside)
    make_task(demo)
    client.force_login(demo["compliance"])

    response = client.post(reverse("review_ui:exports"), {"flow": "loan_approval"})
    export = AuditExport.objects.get()
    assert response.status_code == 302 and export.filters == {"flow": "loan_approval"}
    row = client.get(reverse("review_ui:export_status", args=[export.id])).content.decode()
    assert 'hx-trigger="every 1s"' in row and "Queued" in row

    audit_export_run_task(str(export.id))  # what the Celery worker runs
    row = client.get(reverse("review_ui:export_status", args=[export.id])).content.decode()
    assert "hx-trigger" not in row and "Download" in row

    download = client.get(reverse("review_ui:export_download", args=[export.id]))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content)[:2] == b"PK"
    assert AuditEvent.objects.filter(kind="audit.export.downloaded", actor="compliance").count() == 1

    client.force_login(demo["supervisor"])
    assert client.get(reverse("review_ui:export_download", args=[export.id])).status_code == 403


def test_verification_page(client, demo):
    client.force_login(demo["compliance"])
    idle = client.get(reverse("review_ui:verify"))
    assert idle.status_code == 200 and idle.context["result"] is None
    ran = client.get(reverse("review_ui:verify") + "?run=1")
    assert ran.context["result"]["intact"] is True
    assert "The trail is intact" in ran.content.decode()


def test_supervisors_read_the_audit_but_do_not_export(client, demo):
    client.force_login(demo["supervisor"])
    assert client.get(reverse("review_ui:audit_search")).status_code == 200
    assert client.get(reverse("review_ui:exports")).status_code == 403
    assert client.get(reverse("review_ui:verify")).status_code == 403
    client.force_login(demo["compliance"])
    assert client.get(reverse("review_ui:board")).status_code == 403
    assert client.get(reverse("review_ui:policies")).status_code == 200

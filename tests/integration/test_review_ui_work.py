"""Work mode against real Postgres: start on open, lease renewal, the next task after a verdict, skip,
comments, request info, release, blind review, the flow's payload template and role pages (403)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import AuditEvent, Queue, Review, ReviewTask, TaskComment, TaskState
from orchestrator.services.tasks import task_claim_next
from tests.integration.test_review_ui_pages import make_task

pytestmark = pytest.mark.django_db


def test_opening_a_reserved_task_starts_work_once(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    url = reverse("review_ui:task_detail", args=[task.id])

    page = reviewer_client.get(url)
    reviewer_client.get(url)

    assert page.status_code == 200
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.IN_PROGRESS
    assert AuditEvent.objects.filter(kind="task.started", subject_id=str(task.id)).count() == 1
    html = page.content.decode()
    assert 'data-renew-url="' + reverse("review_ui:task_renew", args=[task.id]) + '"' in html
    assert 'id="lease-countdown"' in html and 'data-shortcut="a"' in html and 'id="help"' in html
    # The inbox still lists the task (in progress is held).
    assert [t.id for t in reviewer_client.get(reverse("review_ui:inbox")).context["claimed"]] == [task.id]


def test_renew_extends_the_lease_and_refuses_others(reviewer_client, client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    ReviewTask.objects.filter(pk=task.id).update(lease_expires_at=timezone.now() + timezone.timedelta(seconds=30))

    response = reviewer_client.post(reverse("review_ui:task_renew", args=[task.id]))

    assert response.status_code == 200
    assert response.json()["seconds_left"] > 800
    assert ReviewTask.objects.get(pk=task.id).lease_expires_at > timezone.now() + timezone.timedelta(minutes=10)

    client.force_login(demo["supervisor"])
    refused = client.post(reverse("review_ui:task_renew", args=[task.id]))
    assert refused.status_code == 409 and refused.json()["detail"] == "task is claimed by another reviewer"


def test_after_a_verdict_the_next_task_opens(reviewer_client, demo):
    first = make_task(demo, key="n1")
    second = make_task(demo, key="n2")
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])

    response = reviewer_client.post(reverse("review_ui:task_review", args=[first.id]), {"verdict": "approve"})

    assert response.status_code == 302
    assert response["Location"] == reverse("review_ui:task_detail", args=[second.id])
    assert ReviewTask.objects.get(pk=second.id).claimed_by == demo["reviewer"]
    page = reviewer_client.get(response["Location"])
    assert [str(m) for m in page.context["messages"]] == ["Approved. Next task opened."]


def test_skip_needs_a_note_then_opens_the_next(reviewer_client, demo):
    first = make_task(demo, key="s1")
    second = make_task(demo, key="s2")
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    url = reverse("review_ui:task_skip", args=[first.id])

    empty = reviewer_client.post(url, {"note": ""})
    assert empty.status_code == 400
    assert empty.context["forms"]["skip"].errors == {"note": ["This field is required."]}
    assert ReviewTask.objects.get(pk=first.id).claimed_by == demo["reviewer"]

    response = reviewer_client.post(url, {"note": "conflict of interest"})
    assert response["Location"] == reverse("review_ui:task_detail", args=[second.id])
    assert ReviewTask.objects.get(pk=first.id).state == TaskState.READY
    assert TaskComment.objects.get(task=first, kind="skip").text == "conflict of interest"


def test_comment_request_info_and_release(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])

    reviewer_client.post(reverse("review_ui:task_comment", args=[task.id]), {"text": "payslip looks edited"})
    page = reviewer_client.get(reverse("review_ui:task_detail", args=[task.id]))
    assert "payslip looks edited" in page.content.decode()
    assert reviewer_client.post(reverse("review_ui:task_comment", args=[task.id]), {"text": " "}).status_code == 400

    response = reviewer_client.post(
        reverse("review_ui:task_request_info", args=[task.id]), {"question": "latest payslip please"}
    )
    assert response["Location"] == reverse("review_ui:inbox")
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.INFO_REQUESTED

    other = make_task(demo, key="rel")
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    reviewer_client.post(reverse("review_ui:task_release", args=[other.id]))
    assert ReviewTask.objects.get(pk=other.id).state == TaskState.READY


def test_blind_queue_hides_the_output_until_the_first_judgement(reviewer_client, demo):
    Queue.objects.filter(slug="underwriting").update(blind_review=True)
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    url = reverse("review_ui:task_detail", args=[task.id])

    hidden = reviewer_client.get(url)
    html = hidden.content.decode()
    assert hidden.context["output_hidden"] is True
    assert "Model output as JSON" not in html and "42.0%" not in html
    assert 'action="' + reverse("review_ui:task_judge", args=[task.id]) + '"' in html
    assert 'value="approve" class="btn btn-approve" data-shortcut' not in html

    reviewer_client.post(reverse("review_ui:task_judge", args=[task.id]), {"verdict": "reject"})
    shown = reviewer_client.get(url)
    assert shown.context["output_hidden"] is False
    assert "42.0%" in shown.content.decode() and 'data-shortcut="a"' in shown.content.decode()


def test_the_flow_template_renders_the_payload_and_skipped_gates_show(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    page = reviewer_client.get(reverse("review_ui:task_detail", args=[task.id]))
    html = page.content.decode()
    assert page.context["flow_template"] == "review_ui/flows/loan_approval.html"
    assert '<strong class="figure">25,000</strong>' in html
    # The loan policy's high-tier gate does not apply to a medium-tier case: listed as skipped.
    assert "Skipped" in html and "High tier confidence" in html
    assert "Risk tier" in html and "Medium" in html


@pytest.mark.parametrize(
    "name",
    ["board", "escalations", "policies", "policy_diff", "audit_search", "exports", "verify"],
)
def test_reviewers_cannot_open_supervisor_policy_or_compliance_pages(reviewer_client, name):
    assert reviewer_client.get(reverse(f"review_ui:{name}")).status_code == 403


def test_reviewers_cannot_post_to_supervisor_policy_or_compliance_pages(reviewer_client, demo):
    for url in [
        reverse("review_ui:queue_board", args=["underwriting"]),
        reverse("review_ui:exports"),
        reverse("review_ui:policy_action", args=[1, "approve"]),
    ]:
        assert reviewer_client.post(url, {}).status_code == 403, url
    assert not Review.objects.exists()

"""The reviewer pages against real Postgres: login, inbox, claim, task page and verdicts.

Tasks are made through the real services (submit, then route) so every row has its audit events.
Under `django_db` the on-commit hooks that would reach Temporal never run.
"""

import uuid

import pytest
from django.urls import reverse

from orchestrator.models import AuditEvent, Outbox, OutboxTopic, Review, ReviewTask, TaskState
from orchestrator.services.decisions import decision_route, decision_submit
from orchestrator.services.tasks import task_claim_next

pytestmark = pytest.mark.django_db

INBOX = reverse("review_ui:inbox")


def make_task(demo, *, key: str = "ui-1", confidence: float = 0.42) -> ReviewTask:
    """A low-confidence loan decision routed to the underwriting queue."""
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=key,
        model_name="credit-gbm",
        model_version="7",
        output={"label": "approve", "limit": 25000},
        confidence=confidence,
        payload={"applicant": "A-1042", "amount": 25000, "income": 64000},
        risk={"country": "DE", "segment": "retail"},
    )
    outcome = decision_route(decision_id=str(decision.id))
    assert outcome.route == "review", outcome
    return ReviewTask.objects.select_related("decision").get(pk=outcome.task_id)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_pages_require_login(client, demo):
    task = make_task(demo)
    for method, url in [
        ("get", INBOX),
        ("get", reverse("review_ui:task_detail", args=[task.id])),
        ("post", reverse("review_ui:claim_next", args=["underwriting"])),
        ("post", reverse("review_ui:task_review", args=[task.id])),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("review_ui:login") + "?next="), url
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.READY


def test_login_and_logout(client, demo):
    page = client.get(reverse("review_ui:login"))
    assert page.status_code == 200
    assert b'<label for="id_username"' in page.content and b'<label for="id_password"' in page.content

    response = client.post(reverse("review_ui:login"), {"username": "reviewer", "password": "handrail"})
    assert response.status_code == 302 and response["Location"] == INBOX
    assert client.get(INBOX).status_code == 200

    response = client.post(reverse("review_ui:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("review_ui:login")
    assert client.get(INBOX).status_code == 302


def test_wrong_password_shows_an_error(client, demo):
    response = client.post(reverse("review_ui:login"), {"username": "reviewer", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_inbox_lists_the_users_queue_with_its_depth(reviewer_client, demo):
    make_task(demo, key="a")
    make_task(demo, key="b")
    held = task_claim_next(queue_slug="underwriting", user=demo["reviewer"])

    response = reviewer_client.get(INBOX)

    assert response.status_code == 200
    [queue] = response.context["queues"]
    assert (queue.slug, queue.name, queue.ready, queue.held) == ("underwriting", "Underwriting", 1, 1)
    assert queue.oldest_ready_at is not None
    html = response.content.decode()
    assert "Underwriting" in html
    assert f'action="{reverse("review_ui:claim_next", args=["underwriting"])}"' in html
    assert [t.id for t in response.context["claimed"]] == [held.id]
    assert f'href="{reverse("review_ui:task_detail", args=[held.id])}"' in html


def test_inbox_without_queues_says_so(client, demo):
    client.force_login(demo["compliance"])
    response = client.get(INBOX)
    assert response.status_code == 200
    assert response.context["queues"] == []
    assert "You do not work any review queue yet" in response.content.decode()


def test_claim_next_with_no_tasks_shows_the_message(reviewer_client):
    response = reviewer_client.post(reverse("review_ui:claim_next", args=["underwriting"]), follow=True)
    assert response.redirect_chain == [(INBOX, 302)]
    assert messages_of(response) == ["No tasks waiting in Underwriting"]
    assert "No tasks waiting in Underwriting" in response.content.decode()


def test_claim_next_in_a_queue_the_user_does_not_work_is_refused(client, demo):
    make_task(demo)
    client.force_login(demo["supervisor"])  # supervises underwriting but is not a member
    response = client.post(reverse("review_ui:claim_next", args=["underwriting"]), follow=True)
    assert response.redirect_chain == [(INBOX, 302)]
    assert messages_of(response) == ["you are not a member of queue 'underwriting'"]
    assert not ReviewTask.objects.filter(state=TaskState.RESERVED).exists()


def test_claim_next_opens_the_task_with_its_explanation(reviewer_client, demo):
    task = make_task(demo)

    response = reviewer_client.post(reverse("review_ui:claim_next", args=["underwriting"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("review_ui:task_detail", args=[task.id])
    page = reviewer_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Confidence 0.420 is below the threshold 0.900." in html
    assert "Policy v1" in html
    assert "credit-gbm" in html and "42.0%" in html
    assert "&quot;applicant&quot;: &quot;A-1042&quot;" in html  # pretty-printed payload
    assert "Task claimed" in html and "task.claimed" in html  # audit timeline
    assert 'value="approve"' in html and 'value="reject"' in html and 'value="modify"' in html
    assert page.context["can_review"] is True


def test_task_outside_the_users_queues_is_not_found(client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    client.force_login(demo["compliance"])
    assert client.get(reverse("review_ui:task_detail", args=[task.id])).status_code == 404
    response = client.post(reverse("review_ui:task_review", args=[task.id]), {"verdict": "approve"})
    assert response.status_code == 404
    assert not Review.objects.exists()
    assert client.get(reverse("review_ui:task_detail", args=[uuid.uuid4()])).status_code == 404


def test_supervisor_sees_the_task_but_no_verdict_form(client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    client.force_login(demo["supervisor"])
    page = client.get(reverse("review_ui:task_detail", args=[task.id]))
    assert page.status_code == 200
    assert page.context["can_review"] is False
    assert 'value="approve"' not in page.content.decode()
    assert "reviewer is reviewing this task" in page.content.decode()


def test_reject_without_a_reason_shows_the_error_and_writes_nothing(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    events_before = AuditEvent.objects.count()

    response = reviewer_client.post(
        reverse("review_ui:task_review", args=[task.id]), {"verdict": "reject", "reason": ""}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"reason": ["a reason is required to reject"]}
    html = response.content.decode()
    assert '<ul class="errorlist" id="id_reason_error"><li>a reason is required to reject</li></ul>' in html
    assert 'aria-invalid="true"' in html
    assert not Review.objects.exists()
    assert not Outbox.objects.filter(topic=OutboxTopic.VERDICT).exists()
    assert AuditEvent.objects.count() == events_before
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.RESERVED


def test_approve_redirects_to_the_inbox_with_a_message(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])

    response = reviewer_client.post(
        reverse("review_ui:task_review", args=[task.id]),
        {"verdict": "approve", "reason": "", "output": '{"ignored": true}'},
        follow=True,
    )

    assert response.redirect_chain == [(INBOX, 302)]
    assert messages_of(response) == ["Approved."]
    review = Review.objects.get(task=task)
    assert (review.verdict, review.output, review.reviewer) == ("approve", None, demo["reviewer"])
    assert ReviewTask.objects.get(pk=task.id).state == TaskState.COMPLETED


def test_reject_with_a_reason(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    response = reviewer_client.post(
        reverse("review_ui:task_review", args=[task.id]),
        {"verdict": "reject", "reason": "income_mismatch", "comment": "income not verified"},
        follow=True,
    )
    assert messages_of(response) == ["Rejected."]
    assert Review.objects.get(task=task).reason == "income_mismatch"
    assert Review.objects.get(task=task).comment == "income not verified"


def test_modify_parses_the_corrected_output(reviewer_client, demo):
    # The loan flow declares an output schema, so the correction comes from the generated form.
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    url = reverse("review_ui:task_review", args=[task.id])

    bad = reviewer_client.post(url, {"verdict": "modify", "reason": "wrong_terms", "out-label": "maybe"})
    assert bad.status_code == 400
    assert "label" in bad.context["output_form"].errors
    assert not Review.objects.exists()

    negative = reviewer_client.post(
        url, {"verdict": "modify", "reason": "wrong_terms", "out-label": "approve", "out-limit": "-1"}
    )
    assert negative.status_code == 400
    assert negative.context["output_form"].errors
    assert not Review.objects.exists()

    good = reviewer_client.post(
        url,
        {"verdict": "modify", "reason": "wrong_terms", "out-label": "approve", "out-limit": "15000"},
        follow=True,
    )
    assert messages_of(good) == ["Modified."]
    assert Review.objects.get(task=task).output == {"label": "approve", "limit": 15000}


def test_a_verdict_on_a_task_held_by_someone_else_is_a_conflict(client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    client.force_login(demo["supervisor"])

    response = client.post(reverse("review_ui:task_review", args=[task.id]), {"verdict": "approve"})

    assert response.status_code == 409
    assert response.context["form"].non_field_errors() == ["task is claimed by another reviewer"]
    assert not Review.objects.exists()


def test_a_verdict_on_a_completed_task_is_a_conflict(reviewer_client, demo):
    task = make_task(demo)
    task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    url = reverse("review_ui:task_review", args=[task.id])
    assert reviewer_client.post(url, {"verdict": "approve"}).status_code == 302

    again = reviewer_client.post(url, {"verdict": "approve"})

    assert again.status_code == 409
    assert "cannot decide a task that is completed" in again.content.decode()
    assert Review.objects.count() == 1

"""The task lifecycle on real Postgres: every transition legal and illegal, leases, four-eyes, SoD,
supervision, substitution. Tasks are created through the same services the workflow calls."""

import itertools
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from orchestrator.errors import ConflictError, PermissionDenied, ValidationFailed
from orchestrator.models import AuditEvent, Outbox, OutboxTopic, Queue, Review, ReviewTask, TaskKind, TaskState
from orchestrator.services import tasks as svc
from orchestrator.services.absence import absence_set
from orchestrator.services.decisions import decision_route, decision_submit
from orchestrator.services.reviews import review_submit

pytestmark = pytest.mark.django_db
_keys = itertools.count()
User = get_user_model()


def make_task(demo, *, reviewers: int = 1, priority: int | None = None, **extra) -> ReviewTask:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=f"lc-{next(_keys)}",
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=0.3,
        payload={"amount": 1000},
        risk={},
        **extra,
    )
    outcome = decision_route(decision_id=str(decision.id))
    task = ReviewTask.objects.get(pk=outcome.task_id)
    changes = {}
    if reviewers != task.required_reviewers:
        changes["required_reviewers"] = reviewers
    if priority is not None:
        changes["priority"] = priority
    if changes:  # the route's reviewer count and priority come from the policy; tests pin them here
        ReviewTask.objects.filter(pk=task.pk).update(**changes)
        task.refresh_from_db()
    return task


def reviewer(name: str, queue: str = "underwriting"):  # type: ignore[no-untyped-def]
    user = User.objects.create_user(name, password="x")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    Queue.objects.get(slug=queue).members.add(user)
    return user


def kinds(task: ReviewTask) -> list[str]:
    return list(AuditEvent.objects.filter(subject_id=str(task.id)).order_by("seq").values_list("kind", flat=True))


def test_claim_start_renew_release_cycle_is_audited(demo):
    task = make_task(demo)
    user = demo["reviewer"]
    assert svc.task_claim_next(queue_slug="underwriting", user=user).pk == task.pk
    task.refresh_from_db()
    assert (task.state, task.claimed_by) == (TaskState.RESERVED, user)
    first_lease = task.lease_expires_at
    svc.task_start(task_id=task.id, user=user)
    renewed = svc.task_renew_lease(task_id=task.id, user=user)
    assert renewed.lease_expires_at >= first_lease
    released = svc.task_release(task_id=task.id, user=user)
    assert (released.state, released.claimed_by) == (TaskState.READY, None)
    assert kinds(task)[-3:] == ["task.claimed", "task.started", "task.released"]


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("ready", lambda t, u, s: svc.task_start(task_id=t.id, user=u)),
        ("ready", lambda t, u, s: svc.task_release(task_id=t.id, user=u)),
        ("ready", lambda t, u, s: svc.task_resume(task_id=t.id, supervisor=s)),
        ("ready", lambda t, u, s: svc.task_provide_info(task_id=t.id, user=s, info="x")),
        ("ready", lambda t, u, s: review_submit(task_id=t.id, reviewer=u, verdict="approve")),
        ("suspended", lambda t, u, s: svc.task_claim(task_id=t.id, user=u)),
        ("suspended", lambda t, u, s: svc.task_suspend(task_id=t.id, supervisor=s)),
        ("cancelled", lambda t, u, s: svc.task_claim(task_id=t.id, user=u)),
        ("cancelled", lambda t, u, s: svc.task_cancel(task_id=t.id, actor=s, reason="again")),
        ("completed", lambda t, u, s: svc.task_reassign(task_id=t.id, supervisor=s, to_user=u)),
        ("completed", lambda t, u, s: svc.task_suspend(task_id=t.id, supervisor=s)),
        ("info_requested", lambda t, u, s: review_submit(task_id=t.id, reviewer=u, verdict="approve")),
    ],
)
def test_illegal_transitions_are_refused_with_the_current_state(demo, setup, action):
    task = make_task(demo)
    user, boss = demo["reviewer"], demo["supervisor"]
    if setup == "suspended":
        svc.task_suspend(task_id=task.id, supervisor=boss)
    elif setup == "cancelled":
        svc.task_cancel(task_id=task.id, actor=boss, reason="duplicate")
    elif setup == "completed":
        svc.task_claim(task_id=task.id, user=user)
        review_submit(task_id=task.id, reviewer=user, verdict="approve")
    elif setup == "info_requested":
        svc.task_claim(task_id=task.id, user=user)
        svc.task_request_info(task_id=task.id, user=user, question="payslip?")
    before = AuditEvent.objects.count()
    with pytest.raises(ConflictError) as refused:
        action(task, user, boss)
    assert refused.value.status == 409
    assert refused.value.context["state"] == setup
    assert AuditEvent.objects.count() == before


def test_suspend_and_resume_return_to_the_earlier_state(demo):
    task = make_task(demo)
    svc.task_claim(task_id=task.id, user=demo["reviewer"])
    assert svc.task_suspend(task_id=task.id, supervisor=demo["supervisor"], reason="audit").state == "suspended"
    resumed = svc.task_resume(task_id=task.id, supervisor=demo["supervisor"])
    assert (resumed.state, resumed.claimed_by) == (TaskState.RESERVED, demo["reviewer"])


def test_only_supervisors_supervise(demo):
    task = make_task(demo)
    with pytest.raises(PermissionDenied):
        svc.task_suspend(task_id=task.id, supervisor=demo["reviewer"])
    with pytest.raises(PermissionDenied):
        svc.task_set_priority(task_id=task.id, supervisor=demo["reviewer"], priority=5)


def test_next_task_order_is_escalation_priority_due_then_age(demo):
    now = timezone.now()
    old_low = make_task(demo)
    high = make_task(demo, priority=5)
    due_soon = make_task(demo)
    ReviewTask.objects.filter(pk=due_soon.pk).update(due_at=now + timedelta(minutes=5))
    escalated = make_task(demo)
    ReviewTask.objects.filter(pk=escalated.pk).update(escalation_level=2)
    order = []
    for _ in range(4):
        task = svc.task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
        order.append(task.pk)
        svc.task_skip(task_id=task.pk, user=demo["reviewer"], note="ordering test")
    assert order == [escalated.pk, high.pk, due_soon.pk, old_low.pk]
    assert svc.task_claim_next(queue_slug="underwriting", user=demo["reviewer"]) is None  # all skipped by me


def test_expired_lease_returns_the_task_with_an_audit_event(demo):
    task = make_task(demo)
    svc.task_claim(task_id=task.id, user=demo["reviewer"])
    ReviewTask.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ConflictError, match="expired"):
        review_submit(task_id=task.id, reviewer=demo["reviewer"], verdict="approve")
    assert svc.task_expire_leases() == 1
    task.refresh_from_db()
    assert (task.state, task.claimed_by) == (TaskState.READY, None)
    assert kinds(task)[-1] == "task.lease_expired"


def test_wip_cap_limits_open_claims(demo):
    Queue.objects.filter(slug="underwriting").update(wip_cap=1)
    make_task(demo)
    make_task(demo)
    first = svc.task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    # asking again gives back the held task rather than a second one
    assert svc.task_claim_next(queue_slug="underwriting", user=demo["reviewer"]).pk == first.pk
    other = ReviewTask.objects.exclude(pk=first.pk).get()
    with pytest.raises(ConflictError, match="allows 1"):
        svc.task_claim(task_id=other.id, user=demo["reviewer"])


def test_four_eyes_needs_two_distinct_reviewers_and_settles_once(demo):
    task = make_task(demo, reviewers=2)
    second = reviewer("second")
    svc.task_claim(task_id=task.id, user=demo["reviewer"])
    review_submit(task_id=task.id, reviewer=demo["reviewer"], verdict="approve")
    task.refresh_from_db()
    assert (task.state, task.claimed_by) == (TaskState.READY, None)
    assert not Outbox.objects.filter(topic=OutboxTopic.VERDICT).exists()
    # the first reviewer can neither claim it again nor review the decision twice
    assert svc.task_claim_next(queue_slug="underwriting", user=demo["reviewer"]) is None
    with pytest.raises(PermissionDenied, match="already reviewed"):
        svc.task_claim(task_id=task.id, user=demo["reviewer"])
    svc.task_claim(task_id=task.id, user=second)
    final = review_submit(task_id=task.id, reviewer=second, verdict="approve")
    task.refresh_from_db()
    assert (task.state, task.final_review_id) == (TaskState.COMPLETED, final.id)
    message = Outbox.objects.get(topic=OutboxTopic.VERDICT)
    assert message.payload["verdict"]["reviewers"] == ["reviewer", "second"]
    assert message.payload["verdict"]["task_id"] == str(task.id)


def test_disagreement_goes_to_adjudication_by_a_third_person(demo):
    adjudication = Queue.objects.create(slug="adjudication", name="Adjudication")
    Queue.objects.filter(slug="underwriting").update(adjudication_queue=adjudication)
    task = make_task(demo, reviewers=2)
    second = reviewer("second")
    judge = reviewer("judge", queue="adjudication")
    adjudication.members.add(demo["reviewer"])  # a first-round reviewer must still be refused
    svc.task_claim(task_id=task.id, user=demo["reviewer"])
    review_submit(task_id=task.id, reviewer=demo["reviewer"], verdict="approve")
    svc.task_claim(task_id=task.id, user=second)
    review_submit(task_id=task.id, reviewer=second, verdict="reject", reason="income_mismatch")
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED and task.final_review_id is None
    adj = ReviewTask.objects.get(kind=TaskKind.ADJUDICATION)
    assert (adj.queue, adj.parent_id) == (adjudication, task.id)
    assert svc.task_claim_next(queue_slug="adjudication", user=demo["reviewer"]) is None
    svc.task_claim(task_id=adj.id, user=judge)
    decisive = review_submit(task_id=adj.id, reviewer=judge, verdict="reject", reason="income_mismatch")
    message = Outbox.objects.get(topic=OutboxTopic.VERDICT)
    assert message.key == str(decisive.id)
    assert message.payload["verdict"]["task_id"] == str(task.id)  # the route's task, as the workflow knows it
    assert message.payload["verdict"]["reviewers"] == ["reviewer", "second", "judge"]
    assert "task.disagreement" in kinds(task)


def test_separation_of_duties_refusals(demo):
    task = make_task(demo, excluded_reviewers=["owner"])
    owner = reviewer("owner")
    demo_model = demo["demo-model"]
    Queue.objects.get(slug="underwriting").members.add(demo_model)
    with pytest.raises(PermissionDenied, match="excluded"):
        svc.task_claim(task_id=task.id, user=owner)
    with pytest.raises(PermissionDenied, match="submitted"):
        svc.task_claim(task_id=task.id, user=demo_model)
    assert svc.task_claim_next(queue_slug="underwriting", user=owner) is None
    with pytest.raises(PermissionDenied, match="excluded"):
        svc.task_reassign(task_id=task.id, supervisor=demo["supervisor"], to_user=owner)


def test_reason_codes_of_the_queue_are_enforced(demo):
    task = make_task(demo)
    svc.task_claim(task_id=task.id, user=demo["reviewer"])
    with pytest.raises(ValidationFailed) as refused:
        review_submit(task_id=task.id, reviewer=demo["reviewer"], verdict="reject", reason="because")
    assert refused.value.field == "reason"
    assert "income_mismatch" in refused.value.reason
    review_submit(task_id=task.id, reviewer=demo["reviewer"], verdict="reject", reason="income_mismatch", comment="ok")


def test_blind_queue_hides_the_model_until_a_first_judgement(demo, api_as):
    Queue.objects.filter(slug="underwriting").update(blind_review=True)
    task = make_task(demo)
    client = api_as(demo["reviewer"])
    claimed = client.post("/api/v1/queues/underwriting/claim").json()
    assert claimed["model_output_hidden"] is True
    assert claimed["decision"]["output"] is None and claimed["decision"]["confidence"] is None
    early = client.post(f"/api/v1/tasks/{task.id}/review", {"verdict": "approve"}, format="json")
    assert early.status_code == 409
    judged = client.post(f"/api/v1/tasks/{task.id}/judgement", {"verdict": "approve"}, format="json").json()
    assert judged["model_output_hidden"] is False
    assert judged["decision"]["output"] == {"label": "approve"}
    assert client.post(f"/api/v1/tasks/{task.id}/review", {"verdict": "approve"}, format="json").status_code == 201


def test_request_and_provide_info(demo, api_as):
    task = make_task(demo)
    client = api_as(demo["reviewer"])
    client.post(f"/api/v1/tasks/{task.id}/claim")
    asked = client.post(f"/api/v1/tasks/{task.id}/request-info", {"question": "latest payslip?"}, format="json")
    assert asked.json()["state"] == "info_requested"
    answered = api_as(demo["demo-model"]).post(
        f"/api/v1/tasks/{task.id}/provide-info", {"info": "attached"}, format="json"
    )
    assert answered.status_code == 200
    detail = client.get(f"/api/v1/tasks/{task.id}").json()
    assert (detail["state"], detail["claimed_by"]) == ("reserved", "reviewer")
    assert [c["kind"] for c in detail["comments"]] == ["info_request", "info"]


def test_out_of_office_substitution_acts_for_the_absent_reviewer(demo, api_as):
    delegate = reviewer("delegate")
    now = timezone.now()
    absence_set(
        user=demo["reviewer"], delegate=delegate, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=2)
    )
    task = make_task(demo)
    svc.task_reassign(task_id=task.id, supervisor=demo["supervisor"], to_user=demo["reviewer"])
    task.refresh_from_db()
    assert (task.claimed_by, task.acting_for, task.assigned_to) == (delegate, demo["reviewer"], demo["reviewer"])
    review = review_submit(task_id=task.id, reviewer=delegate, verdict="approve")
    assert review.acting_for == demo["reviewer"]
    submitted = AuditEvent.objects.get(kind="review.submitted", subject_id=str(task.id))
    assert submitted.data["acting_for"] == "reviewer"


def test_bulk_actions_report_per_item(demo, api_as):
    Queue.objects.filter(slug="underwriting").update(allow_bulk_approve=True)
    Queue.objects.get(slug="underwriting").members.add(demo["supervisor"])
    ok = make_task(demo)
    done = make_task(demo)
    svc.task_claim(task_id=done.id, user=demo["reviewer"])
    review_submit(task_id=done.id, reviewer=demo["reviewer"], verdict="approve")
    response = api_as(demo["supervisor"]).post(
        "/api/v1/tasks/bulk", {"action": "approve", "task_ids": [str(ok.id), str(done.id)]}, format="json"
    )
    results = {r["task_id"]: r for r in response.json()["results"]}
    assert results[str(ok.id)]["ok"] is True
    assert (results[str(done.id)]["ok"], results[str(done.id)]["state"]) == (False, "completed")
    assert Review.objects.get(task=ok).reviewer == demo["supervisor"]

    third = make_task(demo)
    owner = reviewer("owner2")
    response = api_as(demo["supervisor"]).post(
        "/api/v1/tasks/bulk",
        {"action": "reassign", "task_ids": [str(third.id), str(ok.id)], "to": owner.username},
        format="json",
    )
    results = {r["task_id"]: r for r in response.json()["results"]}
    assert results[str(third.id)]["ok"] is True
    assert results[str(ok.id)]["ok"] is False


def test_queue_stats(demo, api_as):
    make_task(demo)
    held = make_task(demo)
    svc.task_claim(task_id=held.id, user=demo["reviewer"])
    ReviewTask.objects.filter(pk=held.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    stats = api_as(demo["supervisor"]).get("/api/v1/queues/underwriting").json()
    assert (stats["ready"], stats["held"], stats["sla_breached"]) == (1, 1, 1)
    assert stats["load"] == {"reviewer": 1}


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_racing_for_one_task_get_one_each_or_none(demo):
    task = make_task(demo)
    rival = reviewer("rival")
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def claim(user):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            results[user.username] = svc.task_claim_next(queue_slug="underwriting", user=user)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (demo["reviewer"], rival)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, got in results.items() if got is not None]
    assert len(winners) == 1
    task.refresh_from_db()
    assert task.claimed_by.username == winners[0]
    assert AuditEvent.objects.filter(kind="task.claimed", subject_id=str(task.id)).count() == 1

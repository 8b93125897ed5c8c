"""Signed webhooks: retries with backoff against a local receiver that fails first, the delivery log,
dead letters and manual redelivery, fan-out of escalation events, and bad endpoint input."""

import pytest
from django.db import transaction
from django.utils import timezone

from orchestrator.models import AuditEvent, Notification, NotificationAttempt, NotificationStatus, Queue
from orchestrator.services.notifications import notification_deliver, notification_sweep, notify_event
from orchestrator.services.webhooks import webhook_endpoint_create
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"


def _hook(demo, url: str, *, events=("task.escalated",), queue: str = "") -> None:  # type: ignore[no-untyped-def]
    webhook_endpoint_create(
        actor=demo["supervisor"], name="ops-chat", url=url, events=list(events), secret=SECRET, queue=queue
    )


def _emit(event: str = "task.escalated", dedupe: str = "esc:1") -> list[Notification]:
    with transaction.atomic():
        return notify_event(
            event=event, flow="loan_approval", queue="underwriting", payload={"level": 1}, dedupe=dedupe
        )


def test_retries_until_the_receiver_accepts_nothing_lost_and_one_effect(demo, settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_NOTIFICATION_BACKOFF_SECONDS = 0.01
    with Receiver(secret=SECRET, fail_first=2) as receiver:
        _hook(demo, receiver.url, queue="underwriting")
        [notification] = _emit()
        assert notification.channel == "webhook" and notification.status == NotificationStatus.PENDING

        assert notification_deliver(notification_id=notification.pk) is False
        notification.refresh_from_db()
        assert notification.next_attempt_at > timezone.now()  # backed off
        assert notification_deliver(notification_id=notification.pk) is False
        assert notification_deliver(notification_id=notification.pk) is True
        assert notification_deliver(notification_id=notification.pk) is False  # delivered: never sent again

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED and notification.attempts == 3
    assert receiver.bad_signatures == 0
    assert len(receiver.requests) == 3
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert keys == {notification.dedupe_key}
    assert receiver.effects[notification.dedupe_key] == 1 and receiver.acked[notification.dedupe_key] == 1
    body = receiver.requests[-1]["body"]
    assert (body["event"], body["flow"], body["queue"], body["level"]) == (
        "task.escalated",
        "loan_approval",
        "underwriting",
        1,
    )
    headers = receiver.requests[-1]["headers"]
    assert headers["X-Handrail-Event"] == "task.escalated"
    assert headers["X-Handrail-Signature"].startswith("v1=")
    log = list(NotificationAttempt.objects.filter(notification=notification).order_by("attempt"))
    assert [(a.attempt, a.ok, a.status_code) for a in log] == [(1, False, 500), (2, False, 500), (3, True, 200)]
    assert all(a.duration_ms >= 0 for a in log)


def test_a_receiver_that_never_answers_ends_in_the_dead_letters_and_is_redelivered(demo, api_as, settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_NOTIFICATION_MAX_ATTEMPTS = 3
    settings.HANDRAIL_NOTIFICATION_BACKOFF_SECONDS = 0.0
    with Receiver(secret=SECRET, fail_first=100, status=503) as receiver:
        _hook(demo, receiver.url, events=["*"])
        [notification] = _emit(event="mode.changed", dedupe="mode:1")
        for _ in range(5):
            notification_deliver(notification_id=notification.pk)
        notification.refresh_from_db()
        assert notification.status == NotificationStatus.DEAD and notification.attempts == 3
        assert len(receiver.requests) == 3  # bounded
        assert AuditEvent.objects.filter(kind="notification.dead", subject_id=str(notification.pk)).exists()

        supervisor = api_as(demo["supervisor"])
        dead = supervisor.get("/api/v1/notifications?status=dead").json()
        assert [n["id"] for n in dead] == [notification.pk]
        detail = supervisor.get(f"/api/v1/notifications/{notification.pk}").json()
        assert [(d["attempt"], d["status_code"]) for d in detail["deliveries"]] == [(1, 503), (2, 503), (3, 503)]

        refused = api_as(demo["reviewer"]).post(f"/api/v1/notifications/{notification.pk}/redeliver")
        assert refused.status_code == 403
        receiver.fail_first = 0
        response = supervisor.post(f"/api/v1/notifications/{notification.pk}/redeliver")
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "pending"
        assert notification_sweep() == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert receiver.effects[notification.dedupe_key] == 1
    assert NotificationAttempt.objects.filter(notification=notification).count() == 4
    assert AuditEvent.objects.filter(kind="notification.redelivery_requested").count() == 1
    again = supervisor.post(f"/api/v1/notifications/{notification.pk}/redeliver")
    assert again.status_code == 202  # a delivered message may be sent again on purpose


def test_scope_and_subscription_decide_who_gets_an_event(demo):  # type: ignore[no-untyped-def]
    Queue.objects.create(slug="fraud", name="Fraud")
    webhook_endpoint_create(actor=demo["supervisor"], name="all", url="https://a.example/h", events=["*"])
    webhook_endpoint_create(
        actor=demo["supervisor"], name="fraud-only", url="https://b.example/h", events=["*"], queue="fraud"
    )
    webhook_endpoint_create(
        actor=demo["supervisor"], name="other-event", url="https://c.example/h", events=["mode.changed"]
    )
    webhook_endpoint_create(
        actor=demo["supervisor"], name="other-flow", url="https://d.example/h", events=["*"], flow="payments"
    )
    sent = _emit()
    assert [n.target for n in sent] == ["all"]


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "javascript:alert(1)", "example.com/hook", "file:///etc/passwd", "https://"]
)
def test_a_webhook_url_that_is_not_http_is_refused_naming_the_field(demo, api_as, url):  # type: ignore[no-untyped-def]
    response = api_as(demo["supervisor"]).post(
        "/api/v1/webhooks", {"name": "bad", "url": url, "events": ["*"]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["fields"][0]["field"] == "url"
    assert api_as(demo["supervisor"]).get("/api/v1/webhooks").json() == []


def test_webhook_api_creates_an_endpoint_and_shows_the_secret_once(demo, api_as):  # type: ignore[no-untyped-def]
    client = api_as(demo["supervisor"])
    created = client.post(
        "/api/v1/webhooks",
        {"name": "chat", "url": "https://chat.example/in", "events": ["task.escalated"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert len(created.json()["secret"]) > 20
    listed = client.get("/api/v1/webhooks").json()
    assert [w["name"] for w in listed] == ["chat"] and "secret" not in listed[0]
    assert api_as(demo["reviewer"]).get("/api/v1/webhooks").status_code == 403
    dup = client.post("/api/v1/webhooks", {"name": "chat", "url": "https://x.example", "events": ["*"]}, format="json")
    assert dup.status_code == 409

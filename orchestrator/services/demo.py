"""Demo data for `manage.py up` on an empty database. Demo-only credentials: never in production."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from orchestrator.audit.chain import audit_append
from orchestrator.flows import flows
from orchestrator.models import Queue
from orchestrator.selectors.users import ROLE_COMPLIANCE, ROLE_REVIEWER, ROLE_SERVICE, ROLE_SUPERVISOR
from orchestrator.services.policies import policy_ensure_default

DEMO_PASSWORD = "handrail"
DEMO_REASON_CODES = [
    {"code": "income_mismatch", "label": "Income does not match the documents"},
    {"code": "fraud_suspected", "label": "Fraud suspected"},
    {"code": "policy_exception", "label": "Outside lending policy"},
    {"code": "wrong_terms", "label": "Terms need correcting", "verdicts": ["modify"]},
    {"code": "other", "label": "Other (explain in the comment)"},
]
DEMO_USERS = {
    "reviewer": ROLE_REVIEWER,
    "supervisor": ROLE_SUPERVISOR,
    "compliance": ROLE_COMPLIANCE,
    "demo-model": ROLE_SERVICE,
}


def roles_ensure() -> dict[str, Group]:
    return {
        name: Group.objects.get_or_create(name=name)[0]
        for name in (ROLE_REVIEWER, ROLE_SUPERVISOR, ROLE_COMPLIANCE, ROLE_SERVICE)
    }


@transaction.atomic
def demo_seed() -> dict[str, Any]:
    """Create the demo users, roles, the flows' queues and policies. Idempotent; only adds what is missing."""
    groups = roles_ensure()
    User = get_user_model()
    users = {}
    created_users = []
    for username, role in DEMO_USERS.items():
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            created_users.append(username)
        user.groups.add(groups[role])
        users[username] = user
    for flow in flows().values():
        for slug, name in flow.queues:
            queue, _ = Queue.objects.get_or_create(
                slug=slug,
                defaults={"name": name, "reason_codes": DEMO_REASON_CODES, "blind_review": slug in flow.blind_queues},
            )
            queue.members.add(users["reviewer"])
            queue.supervisors.add(users["supervisor"])
        policy_ensure_default(flow=flow.name)
    if created_users:
        audit_append(
            kind="demo.seeded",
            actor="system",
            subject_type="demo",
            subject_id="seed",
            data={"users": created_users},
        )
    return {"created_users": created_users, "password": DEMO_PASSWORD}

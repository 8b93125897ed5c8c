"""What a registered flow needs in Postgres before its first decision: its queues and its first policy.

Run at worker start (`manage.py worker`), so listing a new flow in HANDRAIL_FLOWS is the only change
a deploy needs: its declared queues are created (no members yet: supervisors add people) and its
default policy becomes version 1. Idempotent; only adds what is missing, and audits what it adds.
"""

from django.db import transaction

from orchestrator.audit.chain import audit_append
from orchestrator.flows import flows
from orchestrator.models import Queue
from orchestrator.services.policies import policy_ensure_default


@transaction.atomic
def flows_provision() -> list[str]:
    """Create the registered flows' missing queues and first policies; returns the queue slugs created."""
    created = []
    for flow in flows().values():
        for slug, name in flow.queues:
            queue, made = Queue.objects.get_or_create(
                slug=slug, defaults={"name": name, "blind_review": slug in flow.blind_queues}
            )
            if made:
                created.append(slug)
                audit_append(
                    kind="queue.created",
                    actor="system",
                    flow=flow.name,
                    queue=slug,
                    subject_type="queue",
                    subject_id=slug,
                    data={"name": name, "blind_review": queue.blind_review, "by": "flow registration"},
                )
    for flow in flows().values():
        policy_ensure_default(flow=flow.name)
    return created

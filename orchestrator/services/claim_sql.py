"""The "next task" claim in SQL: the hottest write a reviewer makes.

Two prepared statements, each planned once per connection:

- QUEUE_FOR_CLAIM reads, for one reviewer and queue slug, everything the claim decides on: the queue
  id and WIP cap, membership (direct or through a group), the task the reviewer already holds there,
  how many they hold, and whom they stand in for (out-of-office delegation).
- CLAIM_READY reserves the first eligible ready (or escalated) task of that queue: ordered by
  escalation level, priority, due time and age, walking the `task_next_ready` partial index, locked
  with FOR UPDATE SKIP LOCKED so concurrent claimers never collide.

CLAIM_READY must keep a good *generic* plan (the one a prepared statement settles on): the index walk
with LIMIT 1. The per-task eligibility checks (submitter, excluded reviewers, already reviewed,
skipped) therefore sit in one correlated subquery evaluated per candidate row; written as joins, the
planner would estimate from a parameter it cannot see that nearly every decision is excluded and
sort the whole queue instead (tests/integration/test_claim_plan.py holds it to the index walk). The
eligibility predicate is the SQL twin of `task_rules.reviewer_refusal`.
"""

from orchestrator.models import ReviewTask

TASK_COLUMNS = [f.column for f in ReviewTask._meta.concrete_fields]
TASK_ATTNAMES = [f.attname for f in ReviewTask._meta.concrete_fields]
_RETURNING = ", ".join(f"t.{column}" for column in TASK_COLUMNS)

HELD = "('reserved', 'in_progress')"

QUEUE_FOR_CLAIM = f"""
SELECT q.id, q.wip_cap,
    EXISTS (SELECT 1 FROM orchestrator_queue_members m WHERE m.queue_id = q.id AND m.user_id = %(user)s)
    OR EXISTS (SELECT 1 FROM orchestrator_queue_member_groups mg
               JOIN auth_user_groups ug ON ug.group_id = mg.group_id
               WHERE mg.queue_id = q.id AND ug.user_id = %(user)s) AS member,
    (SELECT t.id FROM orchestrator_reviewtask t
     WHERE t.claimed_by_id = %(user)s AND t.queue_id = q.id AND t.state IN {HELD} AND t.lease_expires_at > %(now)s
     ORDER BY t.claimed_at LIMIT 1) AS held_id,
    CASE WHEN q.wip_cap > 0 THEN (
        SELECT count(*) FROM orchestrator_reviewtask w
        WHERE w.claimed_by_id = %(user)s AND w.queue_id = q.id AND w.state IN {HELD}) ELSE 0 END AS held_count,
    ARRAY(SELECT a.user_id FROM orchestrator_absence a
          WHERE a.delegate_id = %(user)s AND a.starts_at <= %(now)s AND a.ends_at > %(now)s) AS standing_in_for
FROM orchestrator_queue q WHERE q.slug = %(slug)s
"""

# The reviewer's own live claim in the queue: renew its lease (no state change, no audit event).
RENEW_HELD = f"""
UPDATE orchestrator_reviewtask t SET lease_expires_at = %(lease)s
WHERE t.id = %(task)s AND t.claimed_by_id = %(user)s AND t.state IN {HELD} AND t.lease_expires_at > %(now)s
RETURNING {_RETURNING}
"""

CLAIM_READY = f"""
UPDATE orchestrator_reviewtask t SET
    state = 'reserved',
    claimed_by_id = %(user)s,
    acting_for_id = CASE WHEN t.assigned_to_id IS NOT NULL AND t.assigned_to_id <> %(user)s
                         THEN t.assigned_to_id END,
    claimed_at = %(now)s,
    lease_expires_at = %(lease)s
WHERE t.id = (
    SELECT c.id FROM orchestrator_reviewtask c
    WHERE c.queue_id = %(queue)s AND c.state IN ('ready', 'escalated')
        AND (c.assigned_to_id IS NULL OR c.assigned_to_id = %(user)s
             OR c.assigned_to_id = ANY(%(standing_in_for)s::integer[]))
        AND (SELECT d.submitted_by_id IS DISTINCT FROM %(user)s
                    AND NOT d.excluded_reviewers @> %(username)s::jsonb
                    AND NOT EXISTS (SELECT 1 FROM orchestrator_review r
                                    WHERE r.decision_id = d.id AND r.reviewer_id = %(user)s)
                    AND NOT EXISTS (SELECT 1 FROM orchestrator_taskskip s
                                    WHERE s.task_id = c.id AND s.reviewer_id = %(user)s)
             FROM orchestrator_decision d WHERE d.id = c.decision_id)
    ORDER BY c.escalation_level DESC, c.priority DESC, c.due_at ASC NULLS LAST, c.created_at
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
)
RETURNING (SELECT d.flow FROM orchestrator_decision d WHERE d.id = t.decision_id), {_RETURNING}
"""

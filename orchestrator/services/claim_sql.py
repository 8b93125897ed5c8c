"""The "next task" claim as one SQL statement: the hottest write a reviewer makes.

It returns the task the reviewer already holds in the queue, else reserves the first eligible ready
(or escalated) task — ordered by escalation level, priority, due time and age over the `task_next_ready` partial
index, locked with FOR UPDATE SKIP LOCKED so concurrent claimers never collide. The eligibility
predicate is the SQL twin of `task_rules.reviewer_refusal` (tests hold both to the same cases).
"""

from orchestrator.models import ReviewTask

TASK_COLUMNS = [f.column for f in ReviewTask._meta.concrete_fields]
TASK_ATTNAMES = [f.attname for f in ReviewTask._meta.concrete_fields]

NEXT_TASK = """
WITH q AS (
    SELECT id, wip_cap FROM orchestrator_queue WHERE slug = %(slug)s
),
member AS (
    SELECT 1 FROM orchestrator_queue_members m WHERE m.queue_id = (SELECT id FROM q) AND m.user_id = %(user)s
    UNION ALL
    SELECT 1 FROM orchestrator_queue_member_groups mg
        JOIN auth_user_groups ug ON ug.group_id = mg.group_id
        WHERE mg.queue_id = (SELECT id FROM q) AND ug.user_id = %(user)s
    LIMIT 1
),
held AS (
    SELECT t.id, t.state AS previous_state FROM orchestrator_reviewtask t
    WHERE t.claimed_by_id = %(user)s AND t.queue_id = (SELECT id FROM q) AND t.state IN ('reserved', 'in_progress')
        AND t.lease_expires_at > %(now)s AND EXISTS (SELECT 1 FROM member)
    ORDER BY t.claimed_at LIMIT 1
),
ready AS (
    SELECT t.id, t.state AS previous_state FROM orchestrator_reviewtask t
        JOIN orchestrator_decision d ON d.id = t.decision_id
    WHERE t.queue_id = (SELECT id FROM q) AND t.state IN ('ready', 'escalated')
        AND NOT EXISTS (SELECT 1 FROM held) AND EXISTS (SELECT 1 FROM member)
        AND ((SELECT wip_cap FROM q) = 0 OR (
            SELECT count(*) FROM orchestrator_reviewtask w WHERE w.queue_id = (SELECT id FROM q)
                AND w.claimed_by_id = %(user)s AND w.state IN ('reserved', 'in_progress')
        ) < (SELECT wip_cap FROM q))
        AND d.submitted_by_id <> %(user)s
        AND NOT d.excluded_reviewers @> %(username)s::jsonb
        AND (t.assigned_to_id IS NULL OR t.assigned_to_id = %(user)s OR t.assigned_to_id IN (
            SELECT a.user_id FROM orchestrator_absence a
            WHERE a.delegate_id = %(user)s AND a.starts_at <= %(now)s AND a.ends_at > %(now)s))
        AND NOT EXISTS (SELECT 1 FROM orchestrator_review r
            WHERE r.decision_id = t.decision_id AND r.reviewer_id = %(user)s)
        AND NOT EXISTS (SELECT 1 FROM orchestrator_taskskip s WHERE s.task_id = t.id AND s.reviewer_id = %(user)s)
    ORDER BY t.escalation_level DESC, t.priority DESC, t.due_at ASC NULLS LAST, t.created_at
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
),
pick AS (SELECT * FROM held UNION ALL SELECT * FROM ready)
UPDATE orchestrator_reviewtask t SET
    state = CASE WHEN pick.previous_state IN ('ready', 'escalated') THEN 'reserved' ELSE t.state END,
    claimed_by_id = %(user)s,
    acting_for_id = CASE
        WHEN pick.previous_state NOT IN ('ready', 'escalated') THEN t.acting_for_id
        WHEN t.assigned_to_id IS NOT NULL AND t.assigned_to_id <> %(user)s THEN t.assigned_to_id
        END,
    claimed_at = CASE WHEN pick.previous_state IN ('ready', 'escalated') THEN %(now)s ELSE t.claimed_at END,
    lease_expires_at = %(lease)s
FROM pick, orchestrator_decision d
WHERE t.id = pick.id AND d.id = t.decision_id
RETURNING pick.previous_state, d.flow, {columns}
""".format(columns=", ".join(f"t.{column}" for column in TASK_COLUMNS))

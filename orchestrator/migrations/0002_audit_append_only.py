"""The audit trail is append-only in Postgres itself: UPDATE, DELETE and TRUNCATE are refused.

TRUNCATE is let through only in a session that sets `handrail.allow_audit_truncate = on` (the test
suite's flush between tests); row edits and deletes are never let through. A superuser can still
disable triggers, which is what the hash chain and signed checkpoints are there to expose.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION handrail_audit_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('handrail.allow_audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON orchestrator_auditevent
    FOR EACH ROW EXECUTE FUNCTION handrail_audit_reject();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON orchestrator_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION handrail_audit_reject();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON orchestrator_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON orchestrator_auditevent;
DROP FUNCTION IF EXISTS handrail_audit_reject();
"""


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0001_initial")]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]

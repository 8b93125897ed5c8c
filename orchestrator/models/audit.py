from django.db import models


class AuditChainHead(models.Model):
    """The last link of one audit hash-chain partition. Appends lock only their partition's head."""

    partition = models.PositiveSmallIntegerField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"partition {self.partition} @ {self.seq}"


class AuditEvent(models.Model):
    """One immutable entry of the audit trail (a trigger rejects UPDATE, DELETE and TRUNCATE).

    `body` holds the exact hashed bytes: the canonical JSON of every field below but the chain
    links. `hash` = SHA-256(prev_hash, body), chained per partition with a gapless `seq`. The other
    columns repeat body fields so they can be indexed and filtered; verification checks they agree.
    """

    id = models.BigAutoField(primary_key=True)
    partition = models.PositiveSmallIntegerField()
    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    kind = models.CharField(max_length=60)
    outcome = models.CharField(max_length=20, default="ok")
    actor = models.CharField(max_length=150, blank=True, default="")
    actor_roles = models.JSONField(default=list)
    decision_id = models.UUIDField(null=True, blank=True)
    flow = models.CharField(max_length=100, blank=True, default="")
    queue = models.CharField(max_length=100, blank=True, default="")
    subject_type = models.CharField(max_length=40, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict)
    body = models.TextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partition", "seq"], name="audit_partition_seq")]
        indexes = [
            models.Index(fields=["decision_id", "id"], name="audit_decision"),
            models.Index(fields=["occurred_at"], name="audit_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.partition}.{self.seq}"

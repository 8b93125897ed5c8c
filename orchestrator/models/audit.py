from django.conf import settings
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
    # Hashed only when non-empty (older events have no such key): trace/workflow/run ids, input reference.
    context = models.JSONField(default=dict)
    # Derived from data.policy.version / data.model.version (decision.routed) for fast filters; verified.
    policy_version = models.CharField(max_length=40, blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    body = models.TextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partition", "seq"], name="audit_partition_seq")]
        indexes = [
            models.Index(fields=["decision_id", "id"], name="audit_decision"),
            models.Index(fields=["occurred_at"], name="audit_occurred"),
            models.Index(fields=["actor", "occurred_at"], name="audit_actor"),
            models.Index(fields=["kind", "occurred_at"], name="audit_kind"),
            models.Index(fields=["flow", "occurred_at"], name="audit_flow"),
            models.Index(fields=["policy_version"], name="audit_policy_version"),
            models.Index(fields=["model_version"], name="audit_model_version"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.partition}.{self.seq}"


class AuditCheckpoint(models.Model):
    """A signed seal over every partition head at one moment (append-only, like the events).

    `statement` holds the exact signed bytes (canonical JSON): the heads, a Merkle root over them, the
    Merkle root of each partition's new events since the previous checkpoint, and the previous
    checkpoint's hash. `signature` is Ed25519 over `statement`; the same pair is also written to a file
    outside the database (`file_path`).
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    statement = models.TextField()
    signature = models.CharField(max_length=200)
    key_id = models.CharField(max_length=64)
    heads_root = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    events_total = models.BigIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return f"checkpoint {self.id} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditTombstone(models.Model):
    """Marks a purged prefix of one partition: events up to `up_to_seq` were removed under retention.

    The chain resumes after it from `last_hash`, which the covering signed checkpoint attests.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    partition = models.PositiveSmallIntegerField()
    from_seq = models.BigIntegerField()
    up_to_seq = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)
    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="tombstones")
    purged_count = models.BigIntegerField()
    requested_by = models.CharField(max_length=150, blank=True, default="")
    retention_days = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partition", "up_to_seq"], name="audit_tombstone_partition_seq")]

    def __str__(self) -> str:
        return f"tombstone p{self.partition} ..{self.up_to_seq}"


class LegalHold(models.Model):
    """While active, no audit event it covers may be purged. Empty flow and decision = the whole trail."""

    id = models.BigAutoField(primary_key=True)
    reason = models.CharField(max_length=500)
    flow = models.CharField(max_length=100, blank=True, default="")
    decision_id = models.UUIDField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    released_by = models.CharField(max_length=150, blank=True, default="")
    released_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"legal hold {self.id}: {self.reason[:40]}"


class AuditExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AuditExport(models.Model):
    """An export job: filters in, a signed bundle (zip) out, downloadable through a short-lived link."""

    id = models.UUIDField(primary_key=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_exports", null=True, blank=True
    )
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=AuditExportStatus.choices, default=AuditExportStatus.QUEUED)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"audit export {self.id} ({self.status})"

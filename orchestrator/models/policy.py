from django.conf import settings
from django.db import models


class PolicyStatus(models.TextChoices):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    RETIRED = "retired"


class Policy(models.Model):
    """One version of a flow's routing policy. Data, not code: compliance changes it without a deploy.

    The spec is validated by `orchestrator.gates.spec.PolicySpec`; an active version is never edited,
    and every decision pins the version that routed it.
    """

    flow = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    spec = models.JSONField()
    spec_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "version"], name="policy_flow_version"),
            models.UniqueConstraint(
                fields=["flow"], condition=models.Q(status="active"), name="policy_one_active_per_flow"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} v{self.version} ({self.status})"

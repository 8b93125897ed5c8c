"""Content moderation: a multi-label classifier scores each post; per-label thresholds decide.

Clear spam is removed and clearly harmless posts are published automatically; anything with a
meaningful hate or violence score, and everything the classifier is unsure about, goes to a **blind**
review queue: moderators give their own judgement before they see the model's labels and scores.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.flows import Flow, ModelStep

LABELS = Literal["ok", "spam", "hate", "violence", "adult"]


class Post(BaseModel):
    """The intake payload: one post."""

    model_config = ConfigDict(extra="allow")

    post_id: str = Field(min_length=1, max_length=100)
    text: str = Field(max_length=10000)
    author_id: str = Field(min_length=1, max_length=100)
    language: str = Field(default="en", min_length=2, max_length=8)


class Moderation(BaseModel):
    """The classifier's answer (and a moderator's correction): the top label, all labels, per-label scores."""

    label: LABELS
    labels: list[LABELS] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)


DEFAULT_POLICY = {
    "description": "Per-label thresholds: remove clear spam, publish clear 'ok', people judge the rest blind.",
    "queue": "moderation",
    "tiers": [
        {"name": "standard", "reviewers": 1, "sla_seconds": 4 * 3600, "timeout_outcome": "hold", "qa": {"rate": 0.02}},
        {
            "name": "sensitive",
            "priority": 5,
            "reviewers": 1,
            "sla_seconds": 3600,
            "escalation": [{"after_seconds": 1800, "action": "notify"}],
            "timeout_outcome": "hold",
            "always_human": True,
        },
    ],
    "fields": {"output.labels": {"type": "list", "default": []}},
    "tier_rules": [{"tier": "sensitive", "when": "'hate' in output.labels || 'violence' in output.labels"}],
    "default_tier": "standard",
    "gates": [
        {
            "name": "hate_score",
            "type": "confidence",
            "when": {"score_of": "hate", "at_least": 0.3},
            "route": {"kind": "review", "priority": 5},
            "description": "Even a moderate hate score is a person's call.",
        },
        {
            "name": "violence_score",
            "type": "confidence",
            "when": {"score_of": "violence", "at_least": 0.3},
            "route": {"kind": "review", "priority": 5},
        },
        {
            "name": "clear_spam",
            "type": "confidence",
            "when": {"score_of": "spam", "at_least": 0.95},
            "route": "auto_reject",
        },
        {
            "name": "clearly_ok",
            "type": "confidence",
            "when": {"label": "ok", "at_least": 0.9},
            "route": "auto_approve",
            "otherwise": "review",
        },
    ],
    "default_route": "review",
    "error_route": "review",
}

FLOW = Flow(
    name="content_moderation",
    title="Content moderation",
    description="A multi-label classifier flags posts; moderators judge the unsure and the sensitive ones blind.",
    default_policy=DEFAULT_POLICY,
    queues=(("moderation", "Moderation (blind)"),),
    blind_queues=("moderation",),
    input_schema=Post,
    output_schema=Moderation,
    model=ModelStep(name="toy-moderation", version="1", function="workflows.examples.toy_models.moderation_scores"),
    display_fields=("text", "author_id", "language"),
)

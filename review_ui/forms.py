"""Input parsing for the review pages. Rules (reason required, who may review) live in the services."""

import enum
import json
import types
import typing
from typing import Any

from django import forms

from orchestrator.errors import DomainError
from orchestrator.models import Verdict


def add_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal next to the field it names, or above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.reason)


class VerdictForm(forms.Form):
    """A reviewer's verdict. The corrected output arrives as JSON text and is parsed only for modify."""

    verdict = forms.ChoiceField(choices=Verdict.choices)
    reason = forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to reject or modify. Recorded in the audit trail.",
    )
    comment = forms.CharField(
        required=False,
        max_length=5000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional. Recorded in the audit trail.",
    )
    output = forms.CharField(
        label="Corrected output (JSON)",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Used only with Modify: the output that replaces the model's.",
    )

    def __init__(self, *args: Any, reason_codes: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if reason_codes:
            # The queue's reason codes are a required picker on reject and modify.
            choices = [("", "— choose a reason —")] + [(c["code"], c.get("label", c["code"])) for c in reason_codes]
            self.fields["reason"] = forms.ChoiceField(
                required=False,
                choices=choices,
                help_text="Required to reject or modify. Recorded in the audit trail.",
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("output", "")
        cleaned["parsed_output"] = None
        if cleaned.get("verdict") == Verdict.MODIFY and text:
            try:
                cleaned["parsed_output"] = json.loads(text)
            except json.JSONDecodeError as exc:
                self.add_error("output", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        return cleaned

    def focus_first_error(self) -> None:
        """Put the keyboard (and a screen reader) on the first field that needs fixing."""
        for name in self.fields:
            if name in self.errors:
                self.fields[name].widget.attrs["autofocus"] = True
                return


# --- modify: a form generated from the flow's output schema ----------------------------------------


class JSONField(forms.CharField):
    """A nested value of the output, edited as JSON text."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text in ("", None):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg}") from exc

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _field_for(name: str, info: Any) -> forms.Field:
    annotation, optional = _unwrap_optional(info.annotation)
    required = info.is_required() and not optional
    options: dict[str, Any] = {"label": name.replace("_", " ").capitalize(), "help_text": info.description or ""}
    if typing.get_origin(annotation) is typing.Literal:
        choices = [(str(v), str(v)) for v in typing.get_args(annotation)]
        return forms.TypedChoiceField(
            choices=([("", "—")] if not required else []) + choices, required=required, **options
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return forms.ChoiceField(
            choices=[(str(m.value), str(m.value)) for m in annotation], required=required, **options
        )
    if annotation is bool:
        return forms.BooleanField(required=False, **options)
    if annotation is int:
        return forms.IntegerField(required=required, **options)
    if annotation is float:
        return forms.FloatField(required=required, **options)
    if annotation is str:
        return forms.CharField(required=required, strip=True, **options)
    return JSONField(required=required, **options)


def output_form_class(schema: Any) -> type[forms.Form]:
    """A Django form with one field per field of the flow's pydantic output model. The service still
    validates the result against the model (the form only shapes the input)."""
    fields = {name: _field_for(name, info) for name, info in schema.model_fields.items()}
    return type(f"{schema.__name__}Form", (forms.Form,), fields)


def output_initial(output: Any) -> dict[str, Any]:
    return dict(output) if isinstance(output, dict) else {}


def output_cleaned(form: forms.Form) -> dict[str, Any]:
    """The corrected output: every field given (empty optional fields are left out)."""
    return {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}


# --- the other task actions ----------------------------------------------------------------------


class CommentForm(forms.Form):
    text = forms.CharField(label="Add a comment", max_length=5000, strip=True, widget=forms.Textarea(attrs={"rows": 2}))


class SkipForm(forms.Form):
    note = forms.CharField(
        label="Why skip this task?",
        max_length=1000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Others will take it; your next task leaves it out.",
    )


class RequestInfoForm(forms.Form):
    question = forms.CharField(
        label="What information do you need?",
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The task waits for the answer; it returns to you with a fresh claim.",
    )


class JudgementForm(forms.Form):
    verdict = forms.ChoiceField(choices=Verdict.choices)


# --- supervisors ---------------------------------------------------------------------------------


BULK_ACTIONS = [
    ("reassign", "Reassign to…"),
    ("approve", "Approve"),
    ("suspend", "Suspend"),
    ("resume", "Resume"),
    ("priority", "Set priority…"),
]


class BulkActionForm(forms.Form):
    """Selected task ids and one action for all of them; each item succeeds or fails on its own."""

    action = forms.ChoiceField(choices=BULK_ACTIONS)
    tasks = forms.TypedMultipleChoiceField(coerce=str, choices=(), error_messages={"required": "select tasks first"})
    to_user = forms.ChoiceField(label="Reviewer", required=False, choices=())
    priority = forms.IntegerField(label="Priority", required=False, min_value=-100, max_value=100)
    reason = forms.CharField(label="Reason", required=False, max_length=500, strip=True)

    def __init__(self, *args: Any, task_ids: list[str], reviewers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tasks"].choices = [(t, t) for t in task_ids]
        self.fields["to_user"].choices = [("", "— choose a reviewer —")] + [(u, u) for u in reviewers]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        action = cleaned.get("action")
        if action == "reassign" and not cleaned.get("to_user"):
            self.add_error("to_user", "choose who gets the tasks")
        if action == "priority" and cleaned.get("priority") is None:
            self.add_error("priority", "give the new priority")
        return cleaned


# --- policies ------------------------------------------------------------------------------------


class SendBackForm(forms.Form):
    reason = forms.CharField(label="Why does it go back?", max_length=1000, strip=True)


class BacktestForm(forms.Form):
    since = forms.DateTimeField(required=False, help_text="From (UTC), e.g. 2025-01-01 00:00")
    until = forms.DateTimeField(required=False, help_text="Until (UTC, exclusive)")
    level = forms.FloatField(initial=0.95, min_value=0.5, max_value=0.999, help_text="Confidence level of the bound")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] >= cleaned["until"]:
            self.add_error("since", "must be before until")
        return cleaned


# --- compliance ----------------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    """The audit trail's filters; every one given must hold. `until` is exclusive."""

    since = forms.DateTimeField(required=False, label="From")
    until = forms.DateTimeField(required=False, label="Until")
    flow = forms.CharField(required=False, max_length=100)
    decision = forms.UUIDField(required=False, label="Decision id")
    actor = forms.CharField(required=False, max_length=150)
    queue = forms.CharField(required=False, max_length=100)
    kind = forms.CharField(required=False, max_length=60, label="Action", help_text="e.g. review.submitted")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("ok", "ok"), ("refused", "refused"), ("error", "error")]
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] >= cleaned["until"]:
            self.add_error("since", "must be before until")
        return cleaned

"""Input parsing for the review pages. Rules (reason required, who may review) live in the services."""

import json
from typing import Any

from django import forms

from orchestrator.errors import DomainError
from orchestrator.models import Verdict


class VerdictForm(forms.Form):
    """A reviewer's verdict. The corrected output arrives as JSON text and is parsed only for modify."""

    verdict = forms.ChoiceField(choices=Verdict.choices)
    reason = forms.CharField(
        required=False,
        max_length=5000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to reject or modify. Recorded in the audit trail.",
    )
    output = forms.CharField(
        label="Corrected output (JSON)",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Used only with Modify: the output that replaces the model's.",
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

    def add_domain_error(self, exc: DomainError) -> None:
        """Show a service's refusal next to the field it names, or above the form."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.reason)

    def focus_first_error(self) -> None:
        """Put the keyboard (and a screen reader) on the first field that needs fixing."""
        for name in self.fields:
            if name in self.errors:
                self.fields[name].widget.attrs["autofocus"] = True
                return

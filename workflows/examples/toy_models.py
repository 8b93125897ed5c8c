"""Toy models for the examples and the demo traffic generator: deterministic functions of their inputs.

They stand in for real models (a credit scorer, a content classifier, a fraud scorer, a document
extractor) so the examples run anywhere: the same inputs always give the same answer, derived from a
hash of the inputs, shaped like what the real thing would return.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MODERATION_LABELS = ("ok", "spam", "hate", "violence", "adult")


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by the parts (the toy models' only source of variation)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fraud_score(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A fraud scorer: large, cross-border, risky-merchant payments look more like fraud."""
    amount = float(inputs.get("amount") or 0)
    merchant = inputs.get("merchant") or {}
    risk = 0.04 * _unit("fraud", inputs.get("payment_id"))
    if amount > 5000:
        risk += 0.25
    if merchant.get("country") and merchant.get("country") != inputs.get("card_country"):
        risk += 0.3
    if str(merchant.get("mcc", "")) in ("7995", "6051", "4829"):  # gambling, quasi-cash, money transfer
        risk += 0.35
    risk = min(risk, 0.999)
    label = "fraud" if risk >= 0.5 else "legit"
    confidence = round(risk if label == "fraud" else 1.0 - risk, 4)
    return {"output": {"label": label, "score": round(risk, 4)}, "confidence": confidence}


def moderation_scores(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A multi-label content classifier: one score per label, the top label and the labels above 0.5."""
    text = str(inputs.get("text", ""))
    scores = {label: round(0.08 * _unit("mod", label, text), 4) for label in MODERATION_LABELS[1:]}
    lowered = text.lower()
    for label, words in (("spam", ("buy now", "free", "click")), ("hate", ("hate",)), ("violence", ("kill",))):
        if any(word in lowered for word in words):
            scores[label] = round(0.55 + 0.44 * _unit("hit", label, text), 4)
    scores["ok"] = round(max(0.0, 1.0 - max(scores.values())), 4)
    top = max(scores, key=lambda name: scores[name])
    labels = sorted(name for name, score in scores.items() if score >= 0.5 and name != "ok")
    return {"output": {"label": top, "labels": labels, "scores": scores}, "confidence": scores[top]}


def kyc_extract(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A document extractor: reads the name, birth date and document number off an ID scan."""
    document = inputs.get("document") or {}
    confidence = round(0.7 + 0.29 * _unit("kyc", document.get("scan_id")), 4)
    output = {
        "name": document.get("printed_name", ""),
        "birth_date": document.get("printed_birth_date", ""),
        "document_number": document.get("printed_number", ""),
    }
    return {"output": output, "confidence": confidence}


def kyc_risk(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A customer-risk scorer over the (reviewed) extracted fields."""
    risk = round(_unit("kyc-risk", inputs.get("document_number"), inputs.get("name")), 4)
    label = "high_risk" if risk > 0.8 else "standard"
    return {"output": {"label": label, "risk": risk, **dict(inputs)}, "confidence": round(1.0 - abs(risk - 0.8), 4)}

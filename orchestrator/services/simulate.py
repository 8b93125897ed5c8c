"""Demo traffic: plausible decisions for the example flows, produced with toy models and a seeded RNG.

Each generator returns the keyword arguments of `decision_submit` for one decision: either a finished
decision (output and confidence from a toy model) or, for flows with a model step, the model's
`inputs`. `manage.py simulate` submits them through the intake service at a steady rate.
"""

import random
from collections.abc import Callable
from typing import Any

from workflows.examples import toy_models

Generator = Callable[[random.Random, int], dict[str, Any]]

_COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US", "GB"]
_POSTS = [
    "Lovely weather for the match today",
    "Buy now!!! free crypto, click the link",
    "I hate mondays, coffee please",
    "Our new recipe: lentil soup with lemon",
    "Click here for free followers",
    "That referee should be fired, honestly",
    "Photos from the hiking trip",
]


def _loan(rng: random.Random, n: int) -> dict[str, Any]:
    income = round(rng.lognormvariate(10.9, 0.45), -2)
    amount = round(min(rng.lognormvariate(9.6, 1.0), 900000), -2)
    decline = amount > 0.8 * income or rng.random() < 0.15
    confidence = round(min(0.999, max(0.3, rng.betavariate(8, 1.6))), 3)
    flags = ["sanctions"] if rng.random() < 0.01 else (["adverse_media"] if rng.random() < 0.04 else [])
    return {
        "model_name": "credit-gbm",
        "model_version": "7",
        "output": {"label": "decline" if decline else "approve", "limit": int(amount)},
        "confidence": confidence,
        "payload": {"applicant": f"A-{100000 + n}", "amount": amount, "income": income},
        "risk": {"country": rng.choice(_COUNTRIES), "flags": flags, "pep": rng.random() < 0.005},
    }


def _moderation(rng: random.Random, n: int) -> dict[str, Any]:
    text = f"{rng.choice(_POSTS)} #{n}"
    inputs = {"post_id": f"post-{n}", "text": text, "author_id": f"u-{rng.randint(1, 5000)}", "language": "en"}
    if rng.random() < 0.5:  # half arrive classified already, half ask the flow's model step
        answer = toy_models.moderation_scores(inputs)
        return {"model_name": "toy-moderation", "model_version": "1", "payload": inputs, **answer}
    return {"inputs": inputs}


def _payment(rng: random.Random, n: int) -> dict[str, Any]:
    card = rng.choice(_COUNTRIES)
    cross_border = rng.random() < 0.2
    amount = round(rng.lognormvariate(4.2, 1.6), 2)
    return {
        "inputs": {
            "payment_id": f"pay-{n}-{rng.randint(0, 10**6)}",
            "amount": max(amount, 1.0),
            "currency": "EUR",
            "card_country": card,
            "merchant": {
                "id": f"m-{rng.randint(1, 800)}",
                "country": rng.choice(_COUNTRIES) if cross_border else card,
                "mcc": rng.choice(["5411", "5812", "5999", "4111", "7995", "6051", "4829"]),
            },
        }
    }


def _kyc(rng: random.Random, n: int) -> dict[str, Any]:
    year = rng.randint(1940, 2005)
    document = {
        "scan_id": f"scan-{n}",
        "printed_name": rng.choice(["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]),
        "printed_birth_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "printed_number": f"X{rng.randint(10**6, 10**7)}",
    }
    return {"inputs": {"document": document}}


def _expense(rng: random.Random, n: int) -> dict[str, Any]:
    amount = round(rng.lognormvariate(4.5, 1.2), 2)
    return {
        "model_name": "expense-rules",
        "model_version": "2",
        "output": {"label": "approve" if rng.random() < 0.9 else "reject"},
        "confidence": round(rng.uniform(0.6, 0.999), 3),
        "payload": {
            "employee": f"e-{rng.randint(1, 300)}",
            "amount": amount,
            "category": rng.choice(["travel", "meals", "equipment", "other"]),
        },
    }


GENERATORS: dict[str, Generator] = {
    "loan_approval": _loan,
    "content_moderation": _moderation,
    "payment_fraud": _payment,
    "kyc_onboarding": _kyc,
    "expense_approval": _expense,
}


def simulated_decision(flow: str, rng: random.Random, n: int) -> dict[str, Any]:
    """`decision_submit` keyword arguments for the `n`-th simulated decision of `flow`."""
    return GENERATORS[flow](rng, n)

"""`manage.py simulate --rate N [--duration S] [--flow F]`: demo traffic so queues fill (and drain).

Decisions are submitted through the intake service (the path the API takes), as the demo service
account, with toy models producing plausible payloads, confidences and labels. With `--review-rate`
simulated reviewers (demo-only accounts `sim-reviewer-*`) also work the queues, so they drain.
"""

import random
import time
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.errors import DomainError
from orchestrator.flows import flows
from orchestrator.models import Queue
from orchestrator.selectors.users import ROLE_REVIEWER
from orchestrator.services.decisions import decision_submit
from orchestrator.services.reviews import review_submit
from orchestrator.services.simulate import GENERATORS, simulated_decision
from orchestrator.services.tasks import task_claim_next, task_judge_blind

SIM_REVIEWERS = 3


class Command(BaseCommand):
    help = "Submit realistic demo decisions at a steady rate (toy models) so you can watch queues fill and drain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, required=True, help="decisions per second")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
        parser.add_argument("--flow", action="append", default=[], help="only this flow (repeatable)")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable traffic")
        parser.add_argument(
            "--review-rate", type=float, default=0.0, help="verdicts per second from simulated reviewers (0 = none)"
        )
        parser.add_argument("--submitter", default="demo-model", help="service account that submits")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive")
        registered = flows()
        chosen = options["flow"] or [name for name in registered if name in GENERATORS]
        unknown = [name for name in chosen if name not in registered or name not in GENERATORS]
        if unknown:
            raise CommandError(f"no traffic generator for flow(s) {', '.join(unknown)}; have: {', '.join(GENERATORS)}")
        if not chosen:
            raise CommandError("none of the registered flows has a traffic generator")
        submitter = get_user_model().objects.filter(username=options["submitter"]).first()
        if submitter is None:
            raise CommandError(f"no user {options['submitter']!r}: run `manage.py seed_demo` first")
        rng = random.Random(options["seed"])
        reviewers = self._reviewers(chosen) if options["review_rate"] > 0 else []
        run = uuid.uuid4().hex[:6]
        self.stdout.write(f"simulating {options['rate']}/s for {', '.join(chosen)} (Ctrl-C stops)")
        started = time.monotonic()
        sent = refused = verdicts = 0
        next_submit = next_review = started
        try:
            while not options["duration"] or time.monotonic() - started < options["duration"]:
                now = time.monotonic()
                if now >= next_submit:
                    flow = rng.choice(chosen)
                    try:
                        decision_submit(
                            submitted_by=submitter,
                            flow=flow,
                            idempotency_key=f"sim-{run}-{sent + refused}",
                            **simulated_decision(flow, rng, sent + refused),
                        )
                        sent += 1
                    except DomainError as exc:
                        refused += 1
                        self.stderr.write(f"{flow}: refused ({exc.field}: {exc.reason})")
                    next_submit += 1.0 / options["rate"]
                if reviewers and now >= next_review:
                    verdicts += self._review_one(rng, reviewers, chosen)
                    next_review += 1.0 / options["review_rate"]
                if sent and sent % 50 == 0 and now >= next_submit - 1.0 / options["rate"]:
                    self.stdout.write(f"  {sent} submitted, {verdicts} verdicts")
                time.sleep(max(0.0, min(next_submit, next_review if reviewers else next_submit) - time.monotonic()))
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"submitted {sent} decisions ({refused} refused), {verdicts} simulated verdicts")

    def _reviewers(self, chosen: list[str]) -> list[Any]:
        """Demo-only reviewer accounts (no usable password) who work the chosen flows' queues."""
        group = Group.objects.get_or_create(name=ROLE_REVIEWER)[0]
        slugs = {slug for name in chosen for slug, _ in flows()[name].queues}
        queues = list(Queue.objects.filter(slug__in=slugs))
        people = []
        for index in range(1, SIM_REVIEWERS + 1):
            user, created = get_user_model().objects.get_or_create(username=f"sim-reviewer-{index}")
            if created:
                user.set_unusable_password()
                user.save()
            user.groups.add(group)
            user.review_queues.add(*queues)
            people.append(user)
        return people

    def _review_one(self, rng: random.Random, reviewers: list[Any], chosen: list[str]) -> int:
        """One simulated reviewer takes their next task in a random queue and mostly agrees with the model."""
        slugs = [slug for name in chosen for slug, _ in flows()[name].queues]
        user = rng.choice(reviewers)
        try:
            task = task_claim_next(queue_slug=rng.choice(slugs), user=user)
            if task is None:
                return 0
            verdict = "approve" if rng.random() < 0.75 else "reject"
            if task.queue.blind_review:
                task_judge_blind(task_id=task.id, user=user, verdict=verdict)
            review_submit(
                task_id=task.id, reviewer=user, verdict=verdict, reason="other" if verdict == "reject" else ""
            )
        except DomainError:
            return 0
        return 1

"""`manage.py seed_demo`: demo users, queues and policies on an empty database (used by `up`)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from orchestrator.services.demo import DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = "Seed demo users (password 'handrail'), queues and policies. Skips a database that has users."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--force", action="store_true", help="seed even if the database already has users")

    def handle(self, *args: object, **options: object) -> None:
        if get_user_model().objects.exists() and not options["force"]:
            self.stdout.write("seed_demo: database already has users; nothing seeded")
            return
        result = demo_seed()
        self.stdout.write(self.style.WARNING("DEMO ONLY — these accounts are for trying Handrail locally:"))
        for username, role in DEMO_USERS.items():
            self.stdout.write(f"  {username:<11} password {result['password']!r:<11} role {role}")

"""Prepare the demo: an admin user with known credentials and generated shop data."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Customer

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "retention-demo"  # noqa: S105 - a local demo's documented login
# The web UI's roles (groups made by migration): username, group, may use the admin.
DEMO_ROLES = (("agent", "Agents", False), ("marketer", "Marketing", True),
              ("manager", "Managers", True))  # fmt: skip


class Command(BaseCommand):
    help = "Create the demo admin user and, if the database has no customers, demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args: Any, customers: int, seed: int, addr: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup creates a user with a published password: DEBUG only.")
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        for username, group_name, staff in DEMO_ROLES:
            member, _ = get_user_model().objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            member.is_staff = staff  # marketing and managers edit rules in the admin
            member.set_password(DEMO_PASSWORD)
            member.save()
            member.groups.set([Group.objects.get(name=group_name)])
        if Customer.objects.exists():
            self.stdout.write("Demo data already present; keeping it.")
        else:
            call_command("generate_demo", customers=customers, seed=seed, stdout=self.stdout)
            # The churn model trains once the worker has scored the texts, then the
            # interventions' demo rules play one past season and decide for today; by task
            # name, as the CRM does not import the apps above it.
            current_app.send_task(
                "churnmodel.bootstrap", kwargs={"then": "interventions.demo_season"}
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo ready. Web UI: http://{addr}/  sign in as agent, marketer or manager "
                f"(password: {DEMO_PASSWORD})\nAdmin: http://{addr}/admin/  user: "
                f"{DEMO_USERNAME}  password: {DEMO_PASSWORD}\nAPI docs: http://{addr}/api/docs/\n"
                "The worker scores the demo's texts in the background, then trains the churn "
                "model, scores every customer, plays one past season of the demo's "
                "intervention rules and decides for today; Ctrl-C stops everything."
            )
        )

"""uplift_report: per rule and per action, how many customers the interventions kept,
against the control group, and what that cost."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interventions.models import Rule
from interventions.uplift import format_report, uplift_report


class Command(BaseCommand):
    help = (
        "Treated and control counts, retention, uplift with its 95% interval, incremental "
        "revenue, cost and cost per customer kept, per rule and per action."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rule", type=int, default=None, help="Only this rule (its id).")
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        rule_id = options["rule"]
        if rule_id is not None and not Rule.objects.filter(pk=rule_id).exists():
            raise CommandError(f"There is no rule with id {rule_id}.")
        rows = uplift_report(rule_id)
        if options["json"]:
            self.stdout.write(json.dumps([row.as_dict() for row in rows], indent=2))
        else:
            self.stdout.write(format_report(rows))

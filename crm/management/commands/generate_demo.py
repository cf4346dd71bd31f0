"""generate_demo: fill the CRM with a believable shop and write its hidden churn truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from crm.demo.generate import DemoDataExists, Mode, demo_generate


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--end-date {value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Generate 18 months of demo shop data (customers, orders, events, reviews, tickets) "
        "ending at --end-date, and write the hidden ground truth to --truth-file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=5000, help="Default: 5000.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data.")
        parser.add_argument(
            "--end-date", dest="end_date", default=None,
            help="Last day of the simulated period, YYYY-MM-DD (default: today, UTC).",
        )  # fmt: skip
        parser.add_argument(
            "--truth-file", dest="truth_file", default=None,
            help="Where to write the ground truth CSV (default: CRM_DEMO_TRUTH_PATH).",
        )  # fmt: skip
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--append", action="store_true", help="Add to a database that has customers."
        )
        existing.add_argument("--flush", action="store_true", help="Delete all CRM data first.")
        parser.add_argument(
            "--no-score", dest="no_score", action="store_true",
            help="Do not announce the texts to the sentiment worker (the sweeper finds them).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.now().date()
        end_date = _date(options["end_date"]) if options["end_date"] else today
        if end_date > today:
            raise CommandError(f"--end-date {end_date} lies in the future (today is {today}).")
        if options["customers"] < 1:
            raise CommandError("--customers must be at least 1.")
        truth_path = Path(options["truth_file"] or settings.CRM_DEMO_TRUTH_PATH)
        mode: Mode = "append" if options["append"] else "flush" if options["flush"] else "new"
        verbose = options["verbosity"] >= 1
        try:
            summary = demo_generate(
                customers=options["customers"],
                seed=options["seed"],
                end_date=end_date,
                truth_path=truth_path,
                mode=mode,
                announce=not options["no_score"],
                progress=self.stdout.write if options["verbosity"] >= 2 else None,
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc)) from None
        if verbose:
            rows = ", ".join(f"{count} {table}" for table, count in summary.rows.items())
            self.stdout.write(self.style.SUCCESS(f"Generated {rows}."))
            self.stdout.write(f"Ground truth: {summary.truth_path}")
        if options["verbosity"] >= 2:
            timings = ", ".join(f"{step} {sec:.1f}s" for step, sec in summary.seconds.items())
            self.stdout.write(f"Timings: {timings}")

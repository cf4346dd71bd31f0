"""Score every customer with the active churn model (the nightly job, by hand)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Score every customer with the active churn model: probability, risk band, reasons and "
        "segment, a new history row each; refits the segments and measures feature drift. "
        "--customer scores just those customers (ids)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customer", type=int, action="append", default=[])
        parser.add_argument("--chunk-size", type=int)

    def handle(self, *args: Any, **o: Any) -> None:
        from churnmodel.registry import ModelRefused
        from churnmodel.scoring import NoModel, score_all, score_customers

        try:
            if o["customer"]:
                count = score_customers(o["customer"])
                self.stdout.write(f"Scored {count} customers.")
                return
            run = score_all(chunk_size=o["chunk_size"])
        except (NoModel, ModelRefused) as exc:
            raise CommandError(str(exc)) from exc
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0
        self.stdout.write(
            f"Scored {run.customers:,} customers with model {run.model_version} in {seconds:.1f} s."
        )
        if run.error:
            self.stderr.write(f"Served by a fallback model: {run.error}")
        if run.drifted:
            self.stdout.write("Drift (PSI > threshold): " + ", ".join(
                f"{f} {run.drift[f]:.2f}" for f in run.drifted))  # fmt: skip
        sizes = run.segments.get("sizes", {})
        if sizes:
            self.stdout.write("Segments: " + ", ".join(f"{n} {s:,}" for n, s in sizes.items()))

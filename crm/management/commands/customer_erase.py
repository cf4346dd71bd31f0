"""`manage.py customer_erase EXTERNAL_ID [--noinput]`: remove everything personal held
about one customer (crm.privacy.customer_erase) and record who did it, for a
data-protection erasure request. Asks for confirmation unless --noinput; running it again
for the same customer changes nothing and records another audit entry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.privacy import UnknownCustomer, customer_by_external_id, customer_erase


class Command(BaseCommand):
    help = (
        "Erase a customer's personal data: contact details, texts, notes, scores, reasons "
        "and email bodies; orders, ratings and intervention outcomes stay, anonymised."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_id", help="The shop's id of the customer.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            customer = customer_by_external_id(options["external_id"])
        except UnknownCustomer as exc:
            raise CommandError(str(exc)) from exc
        if options["interactive"]:
            answer = input(
                f"This erases the personal data of customer {customer.external_id} for good.\n"
                "Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Erasure cancelled.")
        erasure = customer_erase(customer=customer, via="command")
        counts = erasure.counts
        self.stdout.write(
            f"Erased customer {customer.external_id} (audit entry {erasure.pk}): "
            f"{sum(counts['deleted'].values())} rows deleted, "
            f"{sum(counts['blanked'].values())} rows blanked."
        )
        for what in ("deleted", "blanked"):
            for label, count in counts[what].items():
                if count:
                    self.stdout.write(f"  {what} {count} {label}")

"""`manage.py customer_export EXTERNAL_ID [--output FILE]`: everything held about one
customer, as JSON (crm.privacy.customer_export), for a data-protection access request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.privacy import UnknownCustomer, customer_by_external_id, customer_export, export_json


class Command(BaseCommand):
    help = (
        "Write everything held about a customer (records, texts, scores, reasons, "
        "interventions) as JSON to stdout or to --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_id", help="The shop's id of the customer.")
        parser.add_argument(
            "--output", type=Path, help="Write the JSON to this file instead of stdout."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            customer = customer_by_external_id(options["external_id"])
        except UnknownCustomer as exc:
            raise CommandError(str(exc)) from exc
        text = export_json(customer_export(customer=customer))
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text)
            return
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from exc
        self.stderr.write(f"Wrote the export of {customer.external_id} to {output}.")

"""Score every text that lacks a score from one analyzer's installed version, in batches."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crm.models import CustomerText
from sentiment.analyzers import get_analyzer
from sentiment.selectors import texts_missing_score
from sentiment.services import texts_score


class Command(BaseCommand):
    help = (
        "Re-score texts with one analyzer in batches, in this process, with a progress bar. "
        "Only texts without a score from the installed version are computed, unless --force; "
        "safe to interrupt and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Django's own --version (print Django's version) gives way to the model version.
        # argparse checks conflicts in the group that holds the options, hence both.
        parser.conflict_handler = parser._optionals.conflict_handler = "resolve"
        parser.add_argument("--analyzer", required=True, help="vader or transformer")
        parser.add_argument(
            "--version",
            dest="model_version",
            help="the version to score with; must be the installed one (a guard against "
            "scoring with a model other than the one you meant)",
        )
        parser.add_argument("--force", action="store_true", help="recompute existing scores")
        parser.add_argument("--batch-size", type=int, default=settings.SENTIMENT_BATCH_SIZE)
        parser.add_argument("--limit", type=int, help="stop after this many texts")

    def handle(
        self,
        *args: Any,
        analyzer: str,
        model_version: str | None,
        force: bool,
        batch_size: int,
        limit: int | None,
        **options: Any,
    ) -> None:
        try:
            instance = get_analyzer(analyzer)
        except Exception as exc:
            raise CommandError(f"Analyzer {analyzer!r} cannot load: {exc}") from exc
        if model_version and model_version != instance.version:
            raise CommandError(
                f"The installed {analyzer} is version {instance.version}, not {model_version}."
            )
        texts = (
            CustomerText.objects.all()
            if force
            else texts_missing_score(analyzer=instance.name, version=instance.version)
        )
        ids = list(texts.order_by("pk").values_list("pk", flat=True)[:limit])
        written = 0
        with tqdm(total=len(ids), unit="text", disable=not ids) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                written += texts_score(text_ids=batch, analyzers=[instance], force=force)
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(f"{written} texts scored by {instance.name} {instance.version}.")
        )

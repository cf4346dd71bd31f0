"""Fine-tune the transformer analyzer on public data and/or the shop's own feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sentiment.training import shop

MANIFEST_METRICS = ("sst2_dev_accuracy", "uci_mean_accuracy", "clothing_test_macro_f1")


class Command(BaseCommand):
    help = (
        "Train a new transformer adapter + head (LoRA on all-MiniLM-L6-v2). Sources: the public "
        "data in --data (SST-2 + clothing reviews), the shop's star-rated reviews "
        "(--shop-reviews: 1-2 negative, 3 neutral, 4-5 positive), agents' overrides "
        "(--overrides) and CSV files of text,label (--extra). The new model is written to "
        "--output and compared with the current one on the same held-out rows; --activate "
        "installs it only if it does at least as well."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=settings.SENTIMENT_TRAINING_DATA)
        parser.add_argument("--no-public", action="store_true", help="skip the public data")
        parser.add_argument("--shop-reviews", action="store_true")
        parser.add_argument("--overrides", action="store_true")
        parser.add_argument("--extra", type=Path, action="append", default=[])
        parser.add_argument(
            "--init-from",
            default=None,
            help="'current' (continue from the active model; the default without public "
            "data), 'none', or an artifact folder",
        )
        parser.add_argument("--epochs", type=float, default=1.0)
        parser.add_argument("--max-steps", type=int)
        parser.add_argument("--time-budget", type=float, help="seconds")
        parser.add_argument("--sst2-limit", type=int)
        parser.add_argument("--lr", type=float, default=8e-4)
        parser.add_argument("--output", type=Path)
        parser.add_argument("--activate", action="store_true")
        parser.add_argument(
            "--force", action="store_true", help="activate even if it does not do as well"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        from sentiment.analyzers.transformer import ArtifactError
        from sentiment.training.train import train

        current = Path(settings.SENTIMENT_TRANSFORMER_DIR)
        public = not o["no_public"]
        if public and not (Path(o["data"]) / "sentiment").is_dir():
            raise CommandError(
                f"No public data at {o['data']} (expected a sentiment/ folder); pass --data "
                "or --no-public."
            )
        extra: list[shop.Row] = []
        held_out: list[shop.Row] = []
        if o["shop_reviews"]:
            train_rows, held_out = shop.shop_review_rows()
            extra += train_rows
            self.stdout.write(f"shop reviews: {len(train_rows)} to train, {len(held_out)} held out")
        if o["overrides"]:
            rows = shop.override_rows()
            extra += rows
            self.stdout.write(f"agents' overrides: {len(rows)}")
        for path in o["extra"]:
            try:
                rows = shop.read_rows_csv(path)
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            extra += rows
            self.stdout.write(f"{path}: {len(rows)} rows")
        if not public and not extra:
            raise CommandError("Nothing to train on: add --shop-reviews, --overrides or --extra.")

        init = o["init_from"] or ("none" if public else "current")
        init_from = {"none": None, "current": current}.get(init, Path(init))
        output = o["output"] or (
            Path(settings.SENTIMENT_MODEL_CACHE)
            / "candidates"
            / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        )
        try:
            manifest = train(
                data_dir=o["data"],
                output_dir=output,
                include_public=public,
                extra_rows=extra,
                init_from=init_from,
                epochs=o["epochs"],
                max_steps=o["max_steps"],
                time_budget_s=o["time_budget"],
                sst2_limit=o["sst2_limit"],
                lr=o["lr"],
                evaluate_after=public,
                log=self.stdout.write,
            )
        except ArtifactError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"new model {output} ({manifest['size_bytes']} bytes)")

        better = self._compare(current, output, manifest, held_out)
        if not o["activate"]:
            self.stdout.write("Not activated (pass --activate to install it).")
            return
        if not better and not o["force"]:
            raise CommandError(
                "The new model does not do as well as the current one; kept the current."
            )
        shop.activate(output, current, manifest["files"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Activated in {current}. Restart the workers, then "
                "`python manage.py rescore --analyzer transformer` re-scores every text."
            )
        )

    def _compare(
        self,
        current: Path,
        candidate: Path,
        manifest: dict[str, Any],
        held_out: list[shop.Row],
    ) -> bool:
        """Print current vs new on the same rows; True if the new one does at least as well."""
        from sentiment.analyzers.transformer import read_manifest

        try:
            current_manifest = read_manifest(current)
        except Exception as exc:
            self.stdout.write(f"current model unreadable ({exc}); the new one wins")
            return True
        if held_out:
            old, new = shop.measure(current, held_out), shop.measure(candidate, held_out)
            self.stdout.write(f"held-out shop reviews ({len(held_out)} rows):")
            for key in ("accuracy", "macro_f1"):
                self.stdout.write(f"  {key:10} current {old[key]:.4f}  new {new[key]:.4f}")
            return new["macro_f1"] >= old["macro_f1"]
        old_metrics, new_metrics = current_manifest.get("metrics", {}), manifest.get("metrics", {})
        shared = [k for k in MANIFEST_METRICS if k in old_metrics and k in new_metrics]
        if not shared:
            self.stdout.write("no held-out rows in common with the current model: cannot compare")
            return False
        for key in shared:
            self.stdout.write(
                f"  {key:24} current {old_metrics[key]:.4f}  new {new_metrics[key]:.4f}"
            )
        return sum(new_metrics[k] for k in shared) >= sum(old_metrics[k] for k in shared)

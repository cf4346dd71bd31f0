"""Train a churn model with a time-based split, save it as a version, promote it if better."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        # ArgumentTypeError: argparse shows its message (a ValueError's it replaces).
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Train churn candidates (logistic regression, LightGBM) on several cutoffs whose label "
        "windows close before the validation cutoff, calibrate on the latest of them, measure "
        "on the validation cutoff (default: the latest the data allows) against a recency rule "
        "and without text features, save the model as a new version, and make it active only "
        "if it beats the active one on the same validation cutoff."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--validation-cutoff", type=_date, help="YYYY-MM-DD (that day counts)")
        parser.add_argument("--horizon-days", type=int, default=settings.CHURN_HORIZON_DAYS)
        parser.add_argument(
            "--target", choices=("purchase", "activity"), default=settings.CHURN_TARGET,
            help="churned = no purchase (default) or no activity at all in the horizon",
        )  # fmt: skip
        parser.add_argument(
            "--active-days", type=int, default=settings.CHURN_ACTIVE_DAYS or None,
            help="only customers who bought within this many days before a cutoff count "
            "(default: everyone who ever bought)",
        )  # fmt: skip
        parser.add_argument("--cutoffs", type=int, default=4, help="training cutoffs (default 4)")
        parser.add_argument("--step-days", type=int, default=30, help="days between them")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--no-save", action="store_true", help="measure only")

    def handle(self, *args: Any, **o: Any) -> None:
        from churnmodel import registry
        from churnmodel.labels import IncompleteWindowError
        from churnmodel.training import TrainingError, day_end, train

        if o["horizon_days"] < 1 or o["cutoffs"] < 1 or o["step_days"] < 1:
            raise CommandError("--horizon-days, --cutoffs and --step-days must be positive.")
        cutoff = day_end(o["validation_cutoff"]) if o["validation_cutoff"] else None
        options = {
            "validation_cutoff": cutoff,
            "horizon_days": o["horizon_days"],
            "target": o["target"],
            "cutoff_count": o["cutoffs"],
            "step_days": o["step_days"],
            "active_days": o["active_days"],
        }
        try:
            if o["no_save"]:
                report = dict(train(**options).report)
            else:
                version, decision = registry.training_run(**options)
                report = dict(version.metrics, version=version.pk, promoted=decision.promoted,
                              promotion=decision.reason)  # fmt: skip
        except (TrainingError, IncompleteWindowError) as exc:
            raise CommandError(f"{exc} No model was saved.") from exc
        if o["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(format_report(report))


def format_report(report: dict[str, Any]) -> str:
    """The training report as text for a terminal."""
    active = report.get("active_days")
    lines = [
        f"Churn = {report['target']} gap of {report['horizon_days']} days"
        + (f" among customers active in the {active} days before" if active else "") + "; "
        f"validation cutoff {report['validation_cutoff'][:10]}",
        "Training cutoffs: " + ", ".join(c[:10] for c in report["training_cutoffs"])
        + (f" (calibrated on {report['calibration_cutoff'][:10]})"
           if report["calibration_cutoff"] else ""),
        "Customers: " + ", ".join(f"{k} {v:,}" for k, v in report["customers"].items()),
        f"Base rate: training {report['base_rate']['training']:.3f}, "
        f"validation {report['base_rate']['validation']:.3f} "
        f"(base-rate forecast Brier {report['base_rate_brier']:.4f})",
        "Candidates on the calibration cutoff (ROC-AUC): " + ", ".join(
            f"{name} {m['roc_auc']:.4f}" for name, m in report["candidates"].items()
        ) + f"; chosen: {report['algorithm']}",
        "",
        f"{'on validation':<22}{'ROC-AUC':>9}{'PR-AUC':>9}{'Brier':>9}{'lift@10%':>10}",
    ]  # fmt: skip
    for label, key in (
        ("model", "model"),
        ("recency-only rule", "recency_rule"),
        ("RFM logistic", "rfm_logistic"),
        ("model without text", "without_text"),
    ):
        m = report[key]
        lift = "-" if m["top_decile_lift"] is None else f"{m['top_decile_lift']:.2f}"
        lines.append(
            f"{label:<22}{m['roc_auc']:>9.4f}{m['pr_auc']:>9.4f}{m['brier']:>9.4f}{lift:>10}"
        )
    lines += ["", "Calibration (validation): predicted vs observed churn per probability bin"]
    for row in report["model"]["calibration"]:
        lines.append(
            f"  {row['bin']:<9} {row['customers']:>7,} customers  "
            f"predicted {row['predicted']:.3f}  observed {row['observed']:.3f}"
        )
    if "version" in report:
        lines += ["", f"Saved as version {report['version']}. {report['promotion']}"]
    return "\n".join(lines)

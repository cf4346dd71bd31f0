"""Admin for the churn model: versions with their metrics and calibration, batch runs with
drift flags, and the score history. All read-only: models are trained and promoted by
`churn_train`, scores written by the scorer, never typed in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from churnmodel.models import ChurnScore, ModelVersion, ScoringRun
from crm.admin import LargeTablePaginator, ReadOnlyAdminMixin, change_link, customer_label

METRIC_ROWS = (
    ("Model", "model"),
    ("Recency-only rule", "recency_rule"),
    ("RFM logistic regression", "rfm_logistic"),
    ("Model without text features", "without_text"),
)


def _metrics_table(report: dict[str, Any]) -> SafeString:
    rows = []
    for label, key in METRIC_ROWS:
        m = report.get(key)
        if m:
            lift = "-" if m.get("top_decile_lift") is None else f"{m['top_decile_lift']:.2f}"
            rows.append((label, f"{m['roc_auc']:.4f}", f"{m['pr_auc']:.4f}",
                         f"{m['brier']:.4f}", lift))  # fmt: skip
    body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            rows)  # fmt: skip
    return format_html(
        "<table><thead><tr><th>on the validation cutoff</th><th>ROC-AUC</th><th>PR-AUC</th>"
        "<th>Brier</th><th>lift, top 10%</th></tr></thead><tbody>{}</tbody></table>"
        "<p>Base-rate forecast Brier: {}</p>",
        body,
        report.get("base_rate_brier", "-"),
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "is_active", "created_at", "validation_cutoff", "auc", "brier_score",
                    "text_gain", "artifact", "promotion_note")  # fmt: skip
    list_filter = ("is_active", "algorithm", "horizon_days", "target")
    fields = ("algorithm", "target", "horizon_days", "is_active", "activated_at",
              "promotion_note", "validation_cutoff", "cutoffs", "customers", "metrics_table",
              "calibration_table", "candidates", "feature_list", "training_data_hash",
              "artifact", "artifact_path", "artifact_sha256", "library_versions",
              "created_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="artifact")
    def artifact(self, obj: ModelVersion) -> SafeString:
        """Whether the file could serve now (present, checksum matches): a deleted or
        corrupted artifact shows here, with why, while workers fall back or stop."""
        from churnmodel.registry import ModelRefused, check_artifact

        try:
            check_artifact(obj)
        except ModelRefused as exc:
            return format_html('<strong class="errornote">refused: {}</strong>', exc)
        return format_html("{}", "ok")

    @admin.display(description="ROC-AUC")
    def auc(self, obj: ModelVersion) -> str:
        return f"{obj.roc_auc:.4f}" if obj.roc_auc is not None else "-"

    @admin.display(description="Brier")
    def brier_score(self, obj: ModelVersion) -> str:
        return f"{obj.brier:.4f}" if obj.brier is not None else "-"

    @admin.display(description="AUC from text")
    def text_gain(self, obj: ModelVersion) -> str:
        gain = obj.metrics.get("text_features_auc_gain")
        return "-" if gain is None else f"{gain:+.4f}"

    @admin.display(description="training cutoffs")
    def cutoffs(self, obj: ModelVersion) -> str:
        return ", ".join(c[:10] for c in obj.training_cutoffs)

    @admin.display(description="customers")
    def customers(self, obj: ModelVersion) -> str:
        counts = obj.metrics.get("customers", {})
        rates = obj.metrics.get("base_rate", {})
        return "; ".join(
            f"{part} {counts[part]:,}"
            + (f" (base rate {rates[part]:.3f})" if part in rates else "")
            for part in counts
        )

    @admin.display(description="metrics")
    def metrics_table(self, obj: ModelVersion) -> SafeString:
        return _metrics_table(obj.metrics)

    @admin.display(description="calibration (validation)")
    def calibration_table(self, obj: ModelVersion) -> SafeString:
        rows = [
            (r["bin"], f"{r['customers']:,}", f"{r['predicted']:.3f}", f"{r['observed']:.3f}")
            for r in obj.metrics.get("model", {}).get("calibration", [])
        ]
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th>predicted</th><th>customers</th><th>mean predicted</th>"
            "<th>observed churn</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="candidates (calibration cutoff)")
    def candidates(self, obj: ModelVersion) -> str:
        return ", ".join(
            f"{name}: ROC-AUC {m['roc_auc']:.4f}"
            for name, m in obj.metrics.get("candidates", {}).items()
        )

    @admin.display(description="features")
    def feature_list(self, obj: ModelVersion) -> str:
        return f"{len(obj.features)}: " + ", ".join(obj.features)


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "model_version", "customers", "duration", "drift_flag", "error")
    fields = ("model_version", "started_at", "finished_at", "customers", "drift_flag",
              "drift_table", "segment_sizes", "error")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="seconds")
    def duration(self, obj: ScoringRun) -> str:
        if obj.finished_at is None:
            return "running"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f}"

    @admin.display(description="drift")
    def drift_flag(self, obj: ScoringRun) -> SafeString:
        if not obj.drifted:
            return format_html("{}", "none")
        return format_html(
            '<strong style="color:#b00">{} features drifted (PSI &gt; {})</strong>: {}',
            len(obj.drifted),
            settings.CHURN_DRIFT_THRESHOLD,
            ", ".join(obj.drifted),
        )

    @admin.display(description="population stability index per feature")
    def drift_table(self, obj: ScoringRun) -> SafeString:
        rows = sorted(obj.drift.items(), key=lambda item: -item[1])
        threshold = settings.CHURN_DRIFT_THRESHOLD
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((f, f"{v:.3f}", "drifted" if v > threshold else "") for f, v in rows),
            ),
        )

    @admin.display(description="segments")
    def segment_sizes(self, obj: ScoringRun) -> str:
        return "; ".join(f"{n}: {s:,}" for n, s in obj.segments.get("sizes", {}).items())


@admin.register(ChurnScore)
class ChurnScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("customer_link", "risk", "band", "segment", "model_version", "scored_at")
    list_filter = ("band", "segment", "model_version")
    list_select_related = ("customer", "model_version")
    search_fields = ("customer__external_id",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    fields = ("customer_link", "risk", "band", "segment", "reason_list", "model_version", "run",
              "scored_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="customer")
    def customer_link(self, obj: ChurnScore) -> str:
        return change_link(obj.customer, customer_label(obj.customer))

    @admin.display(description="risk")
    def risk(self, obj: ChurnScore) -> str:
        return obj.statement

    @admin.display(description="reasons")
    def reason_list(self, obj: ChurnScore) -> SafeString:
        items = []
        for reason in obj.reasons:
            arrow = "↑" if reason["direction"] == "up" else "↓"
            quotes = "; ".join(f"“{q}”" for q in reason.get("evidence", []))
            items.append((arrow, reason["text"], f"{reason['weight']:+.2f}", quotes))
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{} {} ({}) <em>{}</em></li>", items),
        )

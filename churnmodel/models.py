"""The churn model registry, the scores it gives, and the batch runs that give them.

A ModelVersion is immutable once written: its algorithm, features, cutoffs, metrics and
artifact checksum describe exactly what was trained and how well it did on data it never
saw. Only which version is active changes, through `churnmodel.registry.promote`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import Customer


class Target(models.TextChoices):
    PURCHASE = "purchase", "no purchase"
    ACTIVITY = "activity", "no activity"


class Band(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


def band_for(probability: float) -> str:
    """The risk band of a probability, from the CHURN_RISK_* thresholds."""
    if probability >= settings.CHURN_RISK_HIGH:
        return Band.HIGH
    if probability >= settings.CHURN_RISK_MEDIUM:
        return Band.MEDIUM
    return Band.LOW


class ImmutableError(Exception):
    """A model version's recorded facts cannot change after it is written."""


class ModelVersion(models.Model):
    MUTABLE_FIELDS = frozenset({"is_active", "activated_at", "promotion_note"})

    created_at = models.DateTimeField(auto_now_add=True)
    algorithm = models.CharField(max_length=40)
    features = models.JSONField(help_text="Feature names, in the order the model reads them.")
    target = models.CharField(max_length=10, choices=Target.choices, default=Target.PURCHASE)
    horizon_days = models.PositiveIntegerField()
    training_cutoffs = models.JSONField(help_text="ISO dates of the training cutoffs.")
    validation_cutoff = models.DateTimeField()
    training_data_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the training matrix and labels."
    )
    metrics = models.JSONField(help_text="The training report (see churnmodel.training).")
    distributions = models.JSONField(
        default=dict, help_text="Per-feature bins and shares at training, for drift (PSI)."
    )
    library_versions = models.JSONField(default=dict)
    artifact_path = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    promotion_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_churn_model"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.pk} {self.algorithm} ({self.horizon_days} d)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise ImmutableError(
                    f"Model version {self.pk} is immutable; only "
                    f"{', '.join(sorted(self.MUTABLE_FIELDS))} can change."
                )
        super().save(*args, **kwargs)

    @property
    def roc_auc(self) -> float | None:
        return self.metrics.get("model", {}).get("roc_auc")

    @property
    def brier(self) -> float | None:
        return self.metrics.get("model", {}).get("brier")


class ScoringRun(models.Model):
    """One batch scoring of every active customer: its model, drift and segments."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="runs")
    customers = models.PositiveIntegerField(default=0)
    drift = models.JSONField(default=dict, help_text="Population stability index per feature.")
    drifted = models.JSONField(default=list, help_text="Features whose PSI passed the threshold.")
    segments = models.JSONField(
        default=dict, help_text="The k-means scaler, centroids, names and sizes."
    )
    error = models.TextField(blank=True)
    task_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The Celery task that ran it: a redelivered task finishes this run "
        "instead of starting another.",
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["task_id"], condition=~Q(task_id=""), name="one_run_per_task"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} at {self.started_at:%Y-%m-%d %H:%M}"


class ChurnScore(models.Model):
    """A customer's risk at one moment, with the model and reasons behind it; history is
    kept (a new row per scoring), the newest row is the current risk."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="churn_scores")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="scores")
    run = models.ForeignKey(
        ScoringRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="scores"
    )
    probability = models.FloatField()
    band = models.CharField(max_length=8, choices=Band.choices)
    horizon_days = models.PositiveIntegerField()
    target = models.CharField(max_length=10, choices=Target.choices, default=Target.PURCHASE)
    reasons = models.JSONField(
        default=list,
        help_text="Top factors up and down: {key, direction, weight, text, text_ids, evidence}.",
    )
    segment = models.CharField(max_length=60, blank=True)
    scored_at = models.DateTimeField()
    task_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The Celery task of an incremental re-score: the same message delivered "
        "twice writes one row.",
    )

    class Meta:
        ordering = ["-scored_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "task_id"],
                condition=~Q(task_id=""),
                name="one_score_per_customer_task",
            )
        ]
        indexes = [
            models.Index(fields=["customer", "-scored_at"], name="churn_score_customer_time"),
            models.Index(fields=["band", "-scored_at"], name="churn_score_band_time"),
        ]

    def __str__(self) -> str:
        return self.statement

    @property
    def statement(self) -> str:
        """ "62% risk of no purchase in the next 60 days"."""
        what = Target(self.target).label
        return f"{self.probability:.0%} risk of {what} in the next {self.horizon_days} days"


class CurrentRisk(models.Model):
    """Each customer's newest score, one row per customer, with the facts the at-risk list
    filters and sorts on (band, probability, segment, spend): a copy kept by the scorer so
    the list reads one indexed table instead of picking the newest of millions of history
    rows per request. History stays in ChurnScore; this row is derived and rebuildable
    (`churnmodel.scoring.rebuild_current_risk`)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="current_risk"
    )
    probability = models.FloatField()
    band = models.CharField(max_length=8, choices=Band.choices)
    segment = models.CharField(max_length=60, blank=True)
    top_reason = models.CharField(max_length=300, blank=True)
    spend_365d = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="Spend in the 365 days up to scored_at."
    )
    complaints = models.CharField(
        max_length=200,
        blank=True,
        help_text='Aspects mentioned negatively in the 90 days up to scored_at, as ",a,b,".',
    )
    scored_at = models.DateTimeField()
    last_contact_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The newest treatment that counts as a contact (kept by interventions).",
    )

    class Meta:
        indexes = [
            models.Index(fields=["-probability", "customer"], name="current_risk_probability"),
            models.Index(fields=["band", "-probability"], name="current_risk_band"),
            models.Index(fields=["-spend_365d", "customer"], name="current_risk_spend"),
            models.Index(fields=["segment", "-probability"], name="current_risk_segment"),
            models.Index(fields=["-scored_at", "customer"], name="current_risk_recent"),
            models.Index(fields=["last_contact_at"], name="current_risk_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.probability:.0%} {self.band}"

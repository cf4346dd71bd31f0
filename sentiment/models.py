"""Scores of customer texts, one row per (text, analyzer, analyzer version).

A score is tied to the content hash of the text it was computed from, so an edited text
counts as unscored until it is scored again; a text with nothing to score (blank) gets a
row with label "empty" and no number, so it is never mistaken for a neutral opinion.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from crm.models import CustomerText


class SentimentScore(models.Model):
    class Label(models.TextChoices):
        NEGATIVE = "negative"
        NEUTRAL = "neutral"
        POSITIVE = "positive"
        EMPTY = "empty", "nothing to score"

    SCORED_LABELS = (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)

    text = models.ForeignKey(CustomerText, on_delete=models.CASCADE, related_name="scores")
    analyzer = models.CharField(max_length=32)
    analyzer_version = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64, help_text="Hash of the text as scored.")
    label = models.CharField(max_length=10, choices=Label.choices)
    score = models.FloatField(null=True, blank=True, help_text="-1 (negative) to 1 (positive).")
    scored_at = models.DateTimeField()

    class Meta:
        ordering = ["-scored_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["text", "analyzer", "analyzer_version"], name="one_score_per_text_version"
            ),
            models.CheckConstraint(
                condition=(Q(label="empty", score__isnull=True) | Q(score__gte=-1, score__lte=1))
                & ~Q(label__in=["negative", "neutral", "positive"], score__isnull=True),
                name="score_present_unless_empty",
            ),
        ]
        indexes = [models.Index(fields=["analyzer", "label"], name="score_analyzer_label")]

    def __str__(self) -> str:
        value = "—" if self.score is None else f"{self.score:+.2f}"
        return f"{self.analyzer} {self.label} {value}"

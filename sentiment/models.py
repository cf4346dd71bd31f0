"""Scores of customer texts, their aspects, and agents' corrections of them.

A score is one row per (text, analyzer, analyzer version), tied to the content hash of the
text it was computed from, so an edited text counts as unscored until it is scored again.
A text with nothing to score (blank, punctuation only) gets label "empty" and a text in a
language the analyzers cannot read gets "unsupported": both have no number, so neither is
ever mistaken for a neutral opinion.

A LabelOverride is an agent's correction: it wins over every analyzer wherever a text's
sentiment is used (see sentiment.selectors), and is training data for the next model.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import CustomerText


class Label(models.TextChoices):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    EMPTY = "empty", "nothing to score"
    UNSUPPORTED = "unsupported", "unsupported language"


SCORED_LABELS = (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)


class Aspect(models.TextChoices):
    DELIVERY = "delivery", "Delivery"
    PRICE = "price", "Price / value"
    QUALITY = "quality", "Product quality"
    FIT = "fit", "Sizing / fit"
    SERVICE = "service", "Customer service"
    RETURNS = "returns", "Returns / refunds"
    WEBSITE = "website", "Website / app"
    OTHER = "other", "Other"


class SentimentScore(models.Model):
    Label = Label
    SCORED_LABELS = SCORED_LABELS

    text = models.ForeignKey(CustomerText, on_delete=models.CASCADE, related_name="scores")
    analyzer = models.CharField(max_length=32)
    analyzer_version = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64, help_text="Hash of the text as scored.")
    label = models.CharField(max_length=16, choices=Label.choices)
    score = models.FloatField(null=True, blank=True, help_text="-1 (negative) to 1 (positive).")
    probabilities = models.JSONField(
        null=True,
        blank=True,
        help_text="[P(negative), P(neutral), P(positive)], where the analyzer has them.",
    )
    confidence = models.FloatField(
        null=True,
        blank=True,
        help_text="Top class probability (transformer) or intensity |score| (VADER).",
    )
    language = models.CharField(
        max_length=8, blank=True, help_text="ISO 639-1 code; blank when there are no words."
    )
    sentence_count = models.PositiveIntegerField(
        default=0, help_text="Sentences scored (sentences in another language are left out)."
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text='The most negative and most positive sentences: {"negative": '
        '{"start", "end", "text", "score"}, "positive": {...}}; offsets into the text.',
    )
    scored_at = models.DateTimeField()

    class Meta:
        ordering = ["-scored_at"]
        permissions = [("view_voice", "Can read the voice-of-the-customer dashboard")]
        constraints = [
            models.UniqueConstraint(
                fields=["text", "analyzer", "analyzer_version"], name="one_score_per_text_version"
            ),
            models.CheckConstraint(
                condition=(
                    Q(label__in=["empty", "unsupported"], score__isnull=True)
                    | Q(score__gte=-1, score__lte=1)
                )
                & ~Q(label__in=["negative", "neutral", "positive"], score__isnull=True),
                name="score_present_unless_unscorable",
            ),
        ]
        indexes = [models.Index(fields=["analyzer", "label"], name="score_analyzer_label")]

    def __str__(self) -> str:
        value = "—" if self.score is None else f"{self.score:+.2f}"
        return f"{self.analyzer} {self.label} {value}"


class AspectMention(models.Model):
    """What a text says about one aspect, per the score (analyzer) it came with."""

    score = models.ForeignKey(SentimentScore, on_delete=models.CASCADE, related_name="aspects")
    aspect = models.CharField(max_length=16, choices=Aspect.choices)
    label = models.CharField(max_length=16, choices=Label.choices[:3])
    polarity = models.FloatField(help_text="Mean score of the sentences that mention it.")
    sentence = models.TextField(
        blank=True, help_text="The sentence that says it most strongly (for quoting)."
    )

    class Meta:
        ordering = ["aspect"]
        constraints = [
            models.UniqueConstraint(fields=["score", "aspect"], name="one_mention_per_aspect")
        ]
        indexes = [
            models.Index(fields=["aspect", "label"], name="aspect_label"),
            # The voice dashboard's most negative mentions of one aspect, worst first.
            models.Index(fields=["aspect", "label", "polarity"], name="aspect_label_polarity"),
        ]

    def __str__(self) -> str:
        return f"{self.get_aspect_display()}: {self.label}"


class LabelOverride(models.Model):
    """An agent's correction of a text's sentiment label.

    Applies to the content it was made on (`content_hash`): if the customer edits the text,
    the model's label of the new content counts again. The newest override wins.
    """

    text = models.ForeignKey(CustomerText, on_delete=models.CASCADE, related_name="overrides")
    content_hash = models.CharField(max_length=64)
    previous_label = models.CharField(
        max_length=16, choices=Label.choices, blank=True, help_text="What the text showed before."
    )
    label = models.CharField(max_length=16, choices=Label.choices[:3])
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["text", "-created_at"], name="override_text_time")]

    def __str__(self) -> str:
        return f"{self.previous_label or '—'} → {self.label}"


class WeeklyVoice(models.Model):
    """One finished week of what customers said, by analyzer: the mean score of the texts
    written that week (aspect blank) or the negative mentions of one aspect. Stored each
    night for finished weeks so the voice dashboard reads a few hundred rows instead of
    aggregating half a year of scores per request; derived, and rebuilt by
    `sentiment.services.voice_aggregate`."""

    week = models.DateField(help_text="The Monday the week starts on (shop's time zone).")
    analyzer = models.CharField(max_length=32)
    aspect = models.CharField(max_length=16, blank=True, choices=Aspect.choices)
    texts = models.PositiveIntegerField(
        default=0, help_text="Scored texts (all-text row) or texts mentioning the aspect."
    )
    mean_score = models.FloatField(null=True, blank=True)
    negative_mentions = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["week", "aspect"]
        constraints = [
            models.UniqueConstraint(
                fields=["analyzer", "week", "aspect"], name="one_voice_row_per_week"
            )
        ]

    def __str__(self) -> str:
        return f"{self.week} {self.analyzer} {self.aspect or 'all'}"

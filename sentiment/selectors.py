"""Reads for the sentiment pipeline and for everything downstream of it.

Downstream code (churn features, the agent UI, exports) asks for a text's *effective*
label through `with_effective_label`, never reads SentimentScore directly: an agent's
override wins over every analyzer, then the primary analyzer, then any other analyzer,
always for the text's current content only.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import Case, Exists, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from crm.models import CustomerText
from sentiment.models import LabelOverride, SentimentScore


def texts_missing_score(*, analyzer: str, version: str) -> QuerySet[CustomerText]:
    """Texts with no score from this analyzer version for their current content."""
    current = SentimentScore.objects.filter(
        text=OuterRef("pk"),
        analyzer=analyzer,
        analyzer_version=version,
        content_hash=OuterRef("content_hash"),
    )
    return CustomerText.objects.filter(~Exists(current))


def _current_override() -> QuerySet[LabelOverride]:
    return LabelOverride.objects.filter(
        text=OuterRef("pk"), content_hash=OuterRef("content_hash")
    ).order_by("-created_at", "-pk")


def _current_score(analyzer: str | None = None) -> QuerySet[SentimentScore]:
    scores = SentimentScore.objects.filter(
        text=OuterRef("pk"), content_hash=OuterRef("content_hash")
    )
    if analyzer is not None:
        scores = scores.filter(analyzer=analyzer)
    return scores.order_by("-scored_at", "-pk")


def with_effective_label(texts: QuerySet[CustomerText]) -> QuerySet[CustomerText]:
    """Annotate `effective_label`, `effective_score` and `label_source` on each text.

    label_source is "override", the analyzer's name, or None (not scored yet). The score is
    the primary analyzer's (or the other's) even when an override sets the label: an
    override corrects the label, it does not invent a number.
    """
    primary = settings.SENTIMENT_PRIMARY_ANALYZER
    override = Subquery(_current_override().values("label")[:1])
    primary_label = Subquery(_current_score(primary).values("label")[:1])
    any_label = Subquery(_current_score().values("label")[:1])
    any_analyzer = Subquery(_current_score().values("analyzer")[:1])
    return texts.annotate(
        override_label=override,
        effective_label=Coalesce(override, primary_label, any_label),
        effective_score=Coalesce(
            Subquery(_current_score(primary).values("score")[:1]),
            Subquery(_current_score().values("score")[:1]),
        ),
        label_source=Case(
            When(override_label__isnull=False, then=Value("override")),
            When(Exists(_current_score(primary)), then=Value(primary)),
            default=any_analyzer,
        ),
    )


def effective_label(text: CustomerText) -> str | None:
    """The label a user sees for one text (override, else primary analyzer, else any)."""
    annotated = with_effective_label(CustomerText.objects.filter(pk=text.pk)).first()
    return getattr(annotated, "effective_label", None)


def override_training_rows() -> Iterator[tuple[str, str]]:
    """(text, label) for every text whose current content an agent labelled; newest wins.

    These are the rows `train_sentiment --overrides` learns from.
    """
    texts = (
        CustomerText.objects.annotate(
            override_label=Subquery(_current_override().values("label")[:1])
        )
        .filter(override_label__isnull=False)
        .select_related("review", "message")
        .order_by("pk")
    )
    for text in texts.iterator(chunk_size=500):
        body = text.text
        if body.strip():
            yield body, text.override_label

"""Reads for the sentiment pipeline."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from crm.models import CustomerText
from sentiment.models import SentimentScore


def texts_missing_score(*, analyzer: str, version: str) -> QuerySet[CustomerText]:
    """Texts with no score from this analyzer version for their current content."""
    current = SentimentScore.objects.filter(
        text=OuterRef("pk"),
        analyzer=analyzer,
        analyzer_version=version,
        content_hash=OuterRef("content_hash"),
    )
    return CustomerText.objects.filter(~Exists(current))

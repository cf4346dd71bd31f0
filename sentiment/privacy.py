"""Sentiment's part of a customer's export and erasure (see crm.privacy), registered from
SentimentConfig.ready()."""

from __future__ import annotations

from typing import Any

from crm.models import Customer
from crm.privacy import Erasing, record, register_eraser, register_exporter
from sentiment.models import AspectMention, LabelOverride, SentimentScore


def export(customer: Customer) -> dict[str, Any]:
    """Every score of the customer's texts with its evidence sentences and aspects, and
    every agent's correction of their labels."""
    scores = (
        SentimentScore.objects.filter(text__customer=customer)
        .prefetch_related("aspects")
        .order_by("text_id", "analyzer", "scored_at", "pk")
    )
    overrides = LabelOverride.objects.filter(text__customer=customer).order_by("created_at", "pk")
    return {
        "sentiment": {
            "scores": [
                {**record(s), "aspects": [record(a) for a in s.aspects.all()]} for s in scores
            ],
            "overrides": [record(o) for o in overrides],
        }
    }


def erase(erasing: Erasing) -> None:
    """Delete everything derived from the customer's texts: scores (their evidence
    sentences are quotes), aspect mentions (each quotes a sentence) and the agents'
    corrections (the reason may repeat what was written). They were also training rows of
    the next sentiment model: gone, they no longer are.

    The weekly voice figures (WeeklyVoice) stay: counts and means per week, nothing of
    any one customer; finished weeks are not recomputed.
    """
    customer = erasing.customer
    erasing.delete(AspectMention.objects.filter(score__text__customer=customer))
    erasing.delete(SentimentScore.objects.filter(text__customer=customer))
    erasing.delete(LabelOverride.objects.filter(text__customer=customer))


def register() -> None:
    register_exporter("sentiment", export, order=10)
    register_eraser("sentiment", erase, order=10)

"""The voice-of-the-customer figures by week: the nightly aggregate stores finished weeks
exactly as a live count gives them, the current week stays live, and a rerun replaces."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from sentiment.models import WeeklyVoice
from sentiment.selectors import voice_weeks, voice_weeks_live, week_start
from sentiment.services import texts_score, voice_aggregate
from tests.factories import CustomerFactory, ReviewFactory
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db

BODIES = (
    "The delivery was two weeks late. Awful service.",
    "Lovely quality, fits perfectly. Great value for the price.",
    "The zip broke after one day and the refund took a month.",
)


def review(days_ago: float, body: str) -> None:
    written = ReviewFactory(customer=CustomerFactory(), rating=3, title="", body=body,
                            created_at=timezone.now() - timedelta(days=days_ago))  # fmt: skip
    texts_score(text_ids=[written.customer_text.pk])


def figures(rows: list[WeeklyVoice]) -> list[tuple]:
    return sorted((r.week, r.aspect, r.texts, round(r.mean_score or 0, 9), r.negative_mentions)
                  for r in rows)  # fmt: skip


def test_stored_weeks_equal_the_live_count_and_this_week_stays_live() -> None:
    """GIVEN reviews over the last four weeks, counted live
    WHEN the nightly aggregate runs (twice), and then a customer writes again today
    THEN the dashboard's rows equal the live count, only finished weeks are stored, and
    today's review is in this week's figures at once."""
    for n, days in enumerate((0, 3, 8, 9, 16, 24)):
        review(days, BODIES[n % 3])
    analyzer = settings.SENTIMENT_PRIMARY_ANALYZER
    since = week_start(timezone.now()) - timedelta(weeks=25)
    live = figures(voice_weeks_live(analyzer=analyzer, start=since))
    assert len({row[0] for row in live}) >= 3 and any(row[1] for row in live)

    stored = voice_aggregate(weeks=27)
    assert voice_aggregate(weeks=27) == stored == WeeklyVoice.objects.count()  # replaced
    assert not WeeklyVoice.objects.filter(week__gte=week_start(timezone.now()).date()).exists()
    rows, aggregated_at = voice_weeks(analyzer=analyzer, since=since)
    assert figures(rows) == live and aggregated_at is not None

    review(0, "The delivery was late again and nobody answered.")
    this_week = week_start(timezone.now()).date()
    rows, _ = voice_weeks(analyzer=analyzer, since=since)
    assert figures(rows) == figures(voice_weeks_live(analyzer=analyzer, start=since))
    assert figures(rows) != live and any(r.week == this_week for r in rows)


def test_the_voice_page_charts_the_stored_weeks_and_says_when_they_were_counted() -> None:
    for days in (2, 9, 16):
        review(days, BODIES[0])
    voice_aggregate(weeks=27)
    page = signed_in("Marketing").get("/voice/?aspect=delivery").content.decode()
    assert "Finished weeks as counted at" in page and page.count("<svg") >= 2
    assert "Delivery" in page and "two weeks late" in page


def test_the_voice_page_keeps_its_live_part_for_the_cache_time_then_counts_afresh(
    settings,
) -> None:
    from django.core.cache import cache

    settings.SENTIMENT_VOICE_CACHE_SECONDS = 300
    cache.clear()
    review(1, "The delivery was two weeks late. Awful service.")
    marketer = signed_in("Marketing")
    assert "two weeks late" in marketer.get("/voice/?aspect=delivery").content.decode()
    review(1, "The courier threw the parcel over the fence and it was late again.")
    kept = marketer.get("/voice/?aspect=delivery").content.decode()
    assert "over the fence" not in kept  # the kept page, for up to 300 s
    cache.clear()  # as when the time is up
    assert "over the fence" in marketer.get("/voice/?aspect=delivery").content.decode()

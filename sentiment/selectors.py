"""Reads for the sentiment pipeline and for everything downstream of it.

Downstream code (churn features, the agent UI, exports) asks for a text's *effective*
label through `with_effective_label`, never reads SentimentScore directly: an agent's
override wins over every analyzer, then the primary analyzer, then any other analyzer,
always for the text's current content only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from crm.models import CustomerText
from sentiment.models import (
    SCORED_LABELS,
    AspectMention,
    LabelOverride,
    SentimentScore,
    WeeklyVoice,
)


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

    These are the rows `train_sentiment --overrides` learns from; an erased customer's
    texts are never among them.
    """
    texts = (
        CustomerText.objects.filter(customer__is_erased=False)
        .annotate(override_label=Subquery(_current_override().values("label")[:1]))
        .filter(override_label__isnull=False)
        .select_related("review", "message")
        .order_by("pk")
    )
    for text in texts.iterator(chunk_size=500):
        body = text.text
        if body.strip():
            yield body, text.override_label


# --- Voice of the customer, by week ------------------------------------------------------


def week_start(at: datetime) -> datetime:
    """Midnight of the Monday that `at` falls in, in the shop's time zone."""
    local = timezone.localtime(at)
    monday = local.date() - timedelta(days=local.weekday())
    return timezone.make_aware(datetime.combine(monday, time.min))


def _as_date(week: datetime | date) -> date:
    if isinstance(week, datetime):
        return timezone.localtime(week).date() if timezone.is_aware(week) else week.date()
    return week


def voice_weeks_live(
    *, analyzer: str, start: datetime, end: datetime | None = None
) -> list[WeeklyVoice]:
    """Unsaved WeeklyVoice rows for texts written in [start, end), computed from the
    scores: per week the mean score of the analyzer's current-content scores, and per
    aspect the texts mentioning it and how many of them negatively."""
    window = Q(text__written_at__gte=start)
    if end is not None:
        window &= Q(text__written_at__lt=end)
    scores = SentimentScore.objects.filter(
        window, analyzer=analyzer, content_hash=F("text__content_hash"), label__in=SCORED_LABELS
    )
    now = timezone.now()
    rows = [
        WeeklyVoice(
            week=_as_date(w["week"]),
            analyzer=analyzer,
            texts=w["n"],
            mean_score=w["mean"],
            computed_at=now,
        )
        for w in scores.annotate(week=TruncWeek("text__written_at"))
        .values("week")
        .annotate(mean=Avg("score"), n=Count("pk"))
        .order_by("week")
    ]
    mentions = (
        AspectMention.objects.filter(score__in=scores)
        .annotate(week=TruncWeek("score__text__written_at"))
        .values("aspect", "week")
        .annotate(n=Count("pk"), negative=Count("pk", filter=Q(label="negative")))
        .order_by("week", "aspect")
    )
    rows += [
        WeeklyVoice(
            week=_as_date(m["week"]),
            analyzer=analyzer,
            aspect=m["aspect"],
            texts=m["n"],
            negative_mentions=m["negative"],
            computed_at=now,
        )
        for m in mentions
    ]
    return rows


def voice_weeks(*, analyzer: str, since: datetime) -> tuple[list[WeeklyVoice], datetime | None]:
    """The weekly rows from `since` (a week start) to now: the finished weeks the nightly
    aggregate stored, and live figures for the weeks it has not covered (the current
    week, or all of them before the first aggregate). Also when the stored rows were
    computed (None if none were used)."""
    stored = WeeklyVoice.objects.filter(analyzer=analyzer, week__gte=_as_date(since))
    bounds = stored.aggregate(first=Min("week"), last=Max("week"), at=Max("computed_at"))
    if bounds["first"] is None:
        return voice_weeks_live(analyzer=analyzer, start=since), None
    first = timezone.make_aware(datetime.combine(bounds["first"], time.min))
    after = timezone.make_aware(datetime.combine(bounds["last"] + timedelta(days=7), time.min))
    rows = voice_weeks_live(analyzer=analyzer, start=since, end=first) if first > since else []
    rows += list(stored.order_by("week", "aspect"))
    rows += voice_weeks_live(analyzer=analyzer, start=after)
    return rows, bounds["at"]

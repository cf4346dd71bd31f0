"""Which customers a rule matches now: one query over customers, their latest churn score
and the facts the conditions name, so a dry run and (later) the decision engine agree.

Matching reads only what is true now: the newest churn score (band, probability,
segment), spend over the last 365 days, days since the last order, open tickets, the mean
sentiment score of what the customer wrote in the last 30 days (the primary analyzer's,
current content, unsupported or empty texts left out), and negative aspect mentions in
those 30 days. Erased customers never match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    DecimalField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from churnmodel.features import ANALYZED_LABELS
from churnmodel.models import Band, ChurnScore
from crm.models import Customer, Order, Ticket
from interventions.models import Rule, TicketCondition
from sentiment.models import AspectMention, SentimentScore

BAND_ORDER = {Band.LOW: 0, Band.MEDIUM: 1, Band.HIGH: 2}


def _recent_scores(since: datetime, **text: Any) -> QuerySet[SentimentScore]:
    """Scores the primary analyzer gave to the current content of texts written after
    `since` (narrowed by `text`), unsupported or empty texts left out."""
    return SentimentScore.objects.filter(
        text__written_at__gt=since,
        analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
        content_hash=F("text__content_hash"),
        label__in=ANALYZED_LABELS,
        **text,
    )


def _latest(field_name: str) -> Subquery:
    newest = ChurnScore.objects.filter(customer=OuterRef("pk")).order_by("-scored_at", "-pk")
    return Subquery(newest.values(field_name)[:1])


def rule_matches(rule: Rule, *, at: datetime | None = None) -> QuerySet[Customer]:
    """The customers every set condition of `rule` holds for, at `at` (default now)."""
    at = at or timezone.now()
    customers: Any = Customer.objects.filter(is_erased=False).annotate(
        risk_probability=_latest("probability"),
        risk_band=_latest("band"),
        risk_segment=_latest("segment"),
    )
    if rule.requires_consent or rule.action in ("coupon", "email"):
        customers = customers.filter(marketing_consent=True)
    if rule.min_band:
        allowed = [b for b, rank in BAND_ORDER.items() if rank >= BAND_ORDER[Band(rule.min_band)]]
        customers = customers.filter(risk_band__in=allowed)
    if rule.min_probability is not None:
        customers = customers.filter(risk_probability__gte=rule.min_probability)
    if rule.segments:
        customers = customers.filter(risk_segment__in=rule.segments)
    if rule.min_spend_365d is not None or rule.max_spend_365d is not None:
        year = Order.objects.filter(
            customer=OuterRef("pk"), placed_at__gt=at - timedelta(days=365), placed_at__lte=at
        ).exclude(status=Order.Status.CANCELLED)
        spend = year.values("customer").annotate(total=Sum("total")).values("total")[:1]
        money = DecimalField(max_digits=14, decimal_places=2)
        customers = customers.annotate(
            spend_365d=Coalesce(Subquery(spend, output_field=money), Value(0, output_field=money))
        )
        if rule.min_spend_365d is not None:
            customers = customers.filter(spend_365d__gte=rule.min_spend_365d)
        if rule.max_spend_365d is not None:
            customers = customers.filter(spend_365d__lte=rule.max_spend_365d)
    if rule.min_days_since_order is not None or rule.max_days_since_order is not None:
        customers = customers.annotate(last_order_at=Max("orders__placed_at"))
        if rule.min_days_since_order is not None:
            since = at - timedelta(days=rule.min_days_since_order)
            # Never ordered counts as "long ago".
            customers = customers.filter(
                Q(last_order_at__lte=since) | Q(last_order_at__isnull=True)
            )
        if rule.max_days_since_order is not None:
            customers = customers.filter(
                last_order_at__gte=at - timedelta(days=rule.max_days_since_order)
            )
    if rule.open_ticket != TicketCondition.ANY:
        is_open = Exists(
            Ticket.objects.filter(customer=OuterRef("pk"), status__in=("open", "pending"))
        )
        customers = customers.filter(
            is_open if rule.open_ticket == TicketCondition.OPEN else ~is_open
        )
    month = at - timedelta(days=30)
    if rule.max_sentiment_30d is not None:
        recent = _recent_scores(month, text__customer=OuterRef("pk"))
        mean = recent.values("text__customer").annotate(mean=Avg("score")).values("mean")[:1]
        customers = customers.annotate(sentiment_30d=Subquery(mean)).filter(
            sentiment_30d__lt=rule.max_sentiment_30d
        )
    if rule.negative_aspects:
        mentioned = AspectMention.objects.filter(
            score__text__customer=OuterRef("pk"),
            score__text__written_at__gt=month,
            score__analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
            score__content_hash=F("score__text__content_hash"),
            label="negative",
            aspect__in=rule.negative_aspects,
        )
        customers = customers.filter(Exists(mentioned))
    return customers


def sentiment_30d(customer_id: int, at: datetime) -> float | None:
    """Mean score of what the customer wrote in the 30 days up to `at` (primary analyzer,
    current content), None if nothing was scored: recorded on every decision."""
    recent = _recent_scores(at - timedelta(days=30), text__customer_id=customer_id)
    return recent.filter(text__written_at__lte=at).aggregate(mean=Avg("score"))["mean"]


@dataclass
class DryRun:
    matching: int
    sample: list[Customer]
    warnings: list[str] = field(default_factory=list)


def rule_dry_run(rule: Rule, *, sample_size: int = 10) -> DryRun:
    """How many customers the rule would match now, a sample of them (highest risk first),
    and warnings for conditions that can never match."""
    matches: Any = rule_matches(rule)
    warnings = []
    if not ChurnScore.objects.exists() and (rule.min_band or rule.min_probability is not None
                                            or rule.segments):  # fmt: skip
        warnings.append("No churn scores yet: risk and segment conditions match nobody.")
    known_segments = set(ChurnScore.objects.values_list("segment", flat=True).distinct())
    unknown = [s for s in rule.segments if s not in known_segments]
    if unknown and known_segments:
        warnings.append(
            f"No customer is in segment {', '.join(unknown)}; "
            f"the segments now are: {', '.join(sorted(s for s in known_segments if s))}."
        )
    today = timezone.localdate()
    if rule.ends_on and rule.ends_on < today:
        warnings.append(f"The rule ended on {rule.ends_on}: it will not act.")
    if not rule.enabled:
        warnings.append("The rule is disabled: it will not act.")
    sample = list(matches.order_by(F("risk_probability").desc(nulls_last=True), "pk")[:sample_size])
    return DryRun(matching=matches.count(), sample=sample, warnings=warnings)

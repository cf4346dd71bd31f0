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
from decimal import Decimal
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
from churnmodel.models import Band, ChurnScore, CurrentRisk
from crm.models import Customer, Order, Ticket
from interventions.models import Action, CouponKind, Group, Intervention, Rule, TicketCondition
from sentiment.models import AspectMention, SentimentScore

CENT = Decimal("0.01")
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


MONEY = DecimalField(max_digits=14, decimal_places=2)


def latest_score_field(field_name: str, at: datetime, *, customer: str = "pk") -> Subquery:
    """`field_name` of the newest churn score at `at` of the customer the outer query's
    `customer` field names ("pk" on customers, "customer" on rows that point to one)."""
    newest = ChurnScore.objects.filter(customer=OuterRef(customer), scored_at__lte=at)
    return Subquery(newest.order_by("-scored_at", "-pk").values(field_name)[:1])


def _spend_orders(at: datetime) -> QuerySet[Order]:
    return Order.objects.spend_in_year_to(at)


def spend_365d_of(at: datetime, *, customer: str = "pk") -> Coalesce:
    """The spend over the 365 days up to `at` of the outer query's customer (0 if none),
    as an expression to annotate; `customer` as in latest_score_field."""
    year = _spend_orders(at).filter(customer=OuterRef(customer))
    total = year.values("customer").annotate(total=Sum("total")).values("total")[:1]
    return Coalesce(Subquery(total, output_field=MONEY), Value(0, output_field=MONEY))


def spend_365d(customer_id: int, at: datetime) -> Decimal:
    """What the customer spent in the 365 days up to `at` (cancelled orders left out)."""
    total = _spend_orders(at).filter(customer_id=customer_id).aggregate(s=Sum("total"))["s"]
    return total or Decimal(0)


def risk_fields(at: datetime, *, customer: str = "") -> dict[str, Any]:
    """Annotations risk_probability, risk_band and risk_segment: the newest churn score at
    `at` of the customer (the queryset's own rows, or the `customer` relation of them).

    When no score is newer than `at` (deciding or counting now), every customer's newest
    score is their CurrentRisk row: one join instead of three subqueries per customer,
    which is what keeps a rule's count at 100,000 customers interactive. As of an earlier
    moment (the simulation, a past season) the history is read."""
    newest = CurrentRisk.objects.aggregate(at=Max("scored_at"))["at"]
    if newest is None or newest <= at:
        prefix = f"{customer}__" if customer else ""
        return {
            f"risk_{name}": F(f"{prefix}current_risk__{name}")
            for name in ("probability", "band", "segment")
        }
    return {
        f"risk_{name}": latest_score_field(name, at, customer=customer or "pk")
        for name in ("probability", "band", "segment")
    }


def rule_matches(
    rule: Rule, *, at: datetime | None = None, consent: bool = True
) -> QuerySet[Customer]:
    """The customers every set condition of `rule` holds for, as the facts stood at `at`
    (default now). With consent=False, the consent condition is left to the caller (the
    engine records who was skipped for want of it)."""
    at = at or timezone.now()
    customers: Any = Customer.objects.filter(is_erased=False).annotate(**risk_fields(at))
    if consent and rule.needs_consent:
        customers = customers.filter(marketing_consent=True)
    if rule.min_band:
        allowed = [b for b, rank in BAND_ORDER.items() if rank >= BAND_ORDER[Band(rule.min_band)]]
        customers = customers.filter(risk_band__in=allowed)
    if rule.min_probability is not None:
        customers = customers.filter(risk_probability__gte=rule.min_probability)
    if rule.segments:
        customers = customers.filter(risk_segment__in=rule.segments)
    if rule.min_spend_365d is not None or rule.max_spend_365d is not None:
        customers = customers.annotate(spend_365d=spend_365d_of(at))
        if rule.min_spend_365d is not None:
            customers = customers.filter(spend_365d__gte=rule.min_spend_365d)
        if rule.max_spend_365d is not None:
            customers = customers.filter(spend_365d__lte=rule.max_spend_365d)
    if rule.min_days_since_order is not None or rule.max_days_since_order is not None:
        customers = customers.annotate(
            last_order_at=Max("orders__placed_at", filter=Q(orders__placed_at__lte=at))
        )
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
        # Open at `at`: opened by then, and not solved by then (or still unsolved now).
        unsolved = Q(solved_at__gt=at) | Q(solved_at__isnull=True, status__in=("open", "pending"))
        is_open = Exists(
            Ticket.objects.filter(unsolved, customer=OuterRef("pk"), opened_at__lte=at)
        )
        customers = customers.filter(
            is_open if rule.open_ticket == TicketCondition.OPEN else ~is_open
        )
    month = at - timedelta(days=30)
    if rule.max_sentiment_30d is not None:
        recent = _recent_scores(month, text__customer=OuterRef("pk"), text__written_at__lte=at)
        mean = recent.values("text__customer").annotate(mean=Avg("score")).values("mean")[:1]
        customers = customers.annotate(sentiment_30d=Subquery(mean)).filter(
            sentiment_30d__lt=rule.max_sentiment_30d
        )
    if rule.negative_aspects:
        mentioned = AspectMention.objects.filter(
            score__text__customer=OuterRef("pk"),
            score__text__written_at__gt=month,
            score__text__written_at__lte=at,
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


def contacts(**filters: Any) -> QuerySet[Intervention]:
    """Interventions that count as a contact (failed or rejected ones do not)."""
    return Intervention.objects.filter(**filters).exclude(status__in=Intervention.NOT_CONTACTED)


def month_bounds(at: datetime) -> tuple[datetime, datetime]:
    """The calendar month (in the shop's time zone) that `at` falls in: [start, end)."""
    local = timezone.localtime(at)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def day_bounds(at: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(at)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def month_spend(rule: Rule, at: datetime) -> Decimal:
    """What the rule's treated interventions of `at`'s month cost or have reserved."""
    start, end = month_bounds(at)
    spent = contacts(rule=rule, group=Group.TREATED, decided_at__gte=start, decided_at__lt=end)
    return spent.aggregate(total=Sum("cost"))["total"] or Decimal(0)


def day_count(rule: Rule, at: datetime) -> int:
    """How many customers the rule treated on `at`'s day."""
    start, end = day_bounds(at)
    return contacts(
        rule=rule, group=Group.TREATED, decided_at__gte=start, decided_at__lt=end
    ).count()


def typical_order(customer_id: int | None, at: datetime) -> Decimal:
    """The customer's mean order over the last 365 days (the shop's when they have none):
    what a percent coupon is expected to be redeemed on."""
    orders = _spend_orders(at)
    mean = None
    if customer_id is not None:
        mean = orders.filter(customer_id=customer_id).aggregate(m=Avg("total"))["m"]
    if mean is None:
        mean = orders.aggregate(m=Avg("total"))["m"]
    return Decimal(mean or settings.INTERVENTIONS_DEFAULT_ORDER_VALUE).quantize(CENT)


def expected_cost(rule: Rule, customer_id: int | None, at: datetime) -> Decimal:
    """What treating this customer will cost at most, as reserved against the budget: the
    gift's unit cost, the cost of an agent call or an email, and for a coupon its discount
    (a percent coupon's on the customer's typical order, at least its minimum order)."""
    if rule.action == Action.GIFT:
        return rule.gift_unit_cost or Decimal(0)
    if rule.action == Action.CALL:
        return Decimal(str(settings.INTERVENTIONS_CALL_COST))
    if rule.action == Action.EMAIL:
        return Decimal(str(settings.INTERVENTIONS_EMAIL_COST))
    value = rule.coupon_value or Decimal(0)
    if rule.coupon_kind == CouponKind.AMOUNT:
        return value
    basket = max(typical_order(customer_id, at), rule.coupon_min_order or Decimal(0))
    return (basket * value / 100).quantize(CENT)


@dataclass
class DryRun:
    matching: int
    sample: list[Customer]
    warnings: list[str] = field(default_factory=list)
    # Of those, how many the engine could act on today: not in an open intervention, the
    # contact gap or this rule's cooldown, and within what is left of its caps.
    after_limits: int = 0
    limits: list[str] = field(default_factory=list)


def after_limits(rule: Rule, matches: QuerySet[Customer], at: datetime) -> tuple[int, list[str]]:
    """How many of `matches` the rule could act on at `at`, and which limits bind."""
    gap_days = settings.INTERVENTIONS_CONTACT_GAP_DAYS
    gap = at - timedelta(days=gap_days)
    free = matches.exclude(
        Exists(Intervention.objects.filter(customer=OuterRef("pk"), is_open=True))
    ).exclude(
        Exists(contacts(customer=OuterRef("pk"), decided_at__gt=gap))
    ).exclude(
        Exists(contacts(customer=OuterRef("pk"), rule=rule,
                        decided_at__gt=at - timedelta(days=rule.cooldown_days)))
    )  # fmt: skip
    count = free.count()
    limits = []
    if count < matches.count():
        limits.append(
            f"{matches.count() - count:,} in an open intervention, the {gap_days}-day contact "
            f"gap or this rule's {rule.cooldown_days}-day cooldown"
        )
    stretch = 1 / (1 - float(rule.holdout_share))
    if rule.daily_count_cap is not None:
        # Held-out customers count against no cap: the caps stretch over the treated share.
        left_today = int(max(rule.daily_count_cap - day_count(rule, at), 0) * stretch)
        if left_today < count:
            limits.append(f"daily cap: {left_today} more today")
            count = left_today
    if rule.monthly_budget is not None:
        left = rule.monthly_budget - month_spend(rule, at)
        unit = expected_cost(rule, None, at)
        treated = int(max(left, Decimal(0)) // unit) if unit > 0 else count
        affordable = int(treated * stretch) if unit > 0 else count
        if affordable < count:
            limits.append(
                f"monthly budget: EUR {max(left, Decimal(0)):,.2f} left, about EUR {unit:,.2f} "
                f"per customer"
            )
            count = affordable
    return count, limits


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
    count, limits = after_limits(rule, matches, timezone.now())
    now = timezone.now()
    if rule.monthly_budget is not None and month_spend(rule, now) >= rule.monthly_budget:
        warnings.append("The monthly budget is spent: the rule stops issuing until next month.")
    if rule.daily_count_cap is not None and day_count(rule, now) >= rule.daily_count_cap:
        warnings.append("The daily count cap is reached: the rule stops issuing until tomorrow.")
    return DryRun(matching=matches.count(), sample=sample, warnings=warnings,
                  after_limits=count, limits=limits)  # fmt: skip

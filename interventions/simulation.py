"""One season of interventions on the demo world, with known true effects.

The decision engine runs as of a past day on the demo data (churn scores as of that day
when a model is active), carries out what it decides (emails go to a dummy backend: a
simulation sends nothing), and the simulated customers respond: the world's own orders in
the window are what each customer did left alone, and a treated customer who did not
order is won back with the chance `crm.demo.effects` gives for their traits, with an
order (carrying the coupon code for a coupon) in the window. Then the outcomes are
measured, so the uplift report can be held against the truth: per rule and action, the
mean true effect over every decided customer (treated and control alike).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Avg, Min, Q
from django.utils import timezone

from crm.demo.effects import redeems_anyway_chance, win_back_chance
from crm.demo.truth import read_truth
from crm.models import Order, Ticket
from interventions import services
from interventions.models import (
    Action,
    CallTask,
    Coupon,
    CouponKind,
    Group,
    Intervention,
    Rule,
    TicketCondition,
)

logger = logging.getLogger(__name__)


@dataclass
class Season:
    at: datetime
    frame: pd.DataFrame  # one row per intervention of the season, with its true effect

    def true_effects(self) -> pd.DataFrame:
        """Mean true effect and customers per rule and action."""
        grouped = self.frame.groupby(["rule_id", "action"])
        return grouped.agg(true_effect=("true_effect", "mean"), customers=("true_effect", "size"))


def simulate_season(*, at: datetime, truth_path: Path, seed: int = 0) -> Season:
    """Decide as of `at`, carry out, let the customers respond, measure: see the module."""
    _score_as_of(at)
    dummy = get_connection("django.core.mail.backends.dummy.EmailBackend")
    services.decide_batch(
        None, at=at, carry=lambda pk: services.carry_out(pk, at=at, connection=dummy)
    )
    interventions = list(
        Intervention.objects.filter(decided_at=at).select_related("customer").order_by("pk")
    )
    frame = _respond(interventions, at, read_truth(truth_path), np.random.default_rng(seed))
    services.measure_outcomes()
    return Season(at=at, frame=frame)


def _score_as_of(at: datetime) -> None:
    from churnmodel import scoring
    from churnmodel.registry import ModelRefused

    try:
        scoring.score_all(at=at)
    except (scoring.NoModel, ModelRefused) as exc:
        logger.info("Season at %s without churn scores: %s", at, exc)


def _respond(
    interventions: list[Intervention], at: datetime, truth: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    if not interventions:
        return pd.DataFrame(columns=["intervention", "rule_id", "action", "group", "true_effect"])
    traits = truth.set_index("external_id").reindex([i.customer.external_id for i in interventions])
    if traits["price_sensitivity"].isna().any():
        missing = traits.index[traits["price_sensitivity"].isna()][:3].tolist()
        raise ValueError(f"Customers missing from the truth file, e.g. {missing}.")
    ids = [i.customer_id for i in interventions]
    window = timedelta(days=interventions[0].window_days)
    first_order = dict(
        Order.objects.filter(customer_id__in=ids, placed_at__gt=at, placed_at__lte=at + window)
        .exclude(status=Order.Status.CANCELLED)
        .order_by()
        .values_list("customer_id")
        .annotate(first=Min("placed_at"))
    )
    unresolved = set(
        Ticket.objects.filter(Q(solved_at__gt=at) | Q(solved_at__isnull=True),
                              customer_id__in=ids, opened_at__lte=at)
        .values_list("customer_id", flat=True)
    )  # fmt: skip
    basket = dict(
        Order.objects.filter(customer_id__in=ids, placed_at__lte=at)
        .order_by()
        .values_list("customer_id")
        .annotate(mean=Avg("total"))
    )
    coupons = {c.intervention_id: c for c in Coupon.objects.filter(intervention__in=interventions)}
    anyway = np.array([i.customer_id in first_order for i in interventions])
    ticket_open = np.array([i.customer_id in unresolved for i in interventions])
    chance = np.zeros(len(interventions))
    for action in Action.values:
        rows = np.array([i.action == action for i in interventions])
        if rows.any():
            chance[rows] = win_back_chance(
                action,
                price_sensitivity=traits["price_sensitivity"].to_numpy()[rows],
                dissatisfaction_price=traits["dissatisfaction_price"].to_numpy()[rows],
                service_sensitivity=traits["service_sensitivity"].to_numpy()[rows],
                unresolved_ticket=ticket_open[rows],
            )
    redeem_anyway = redeems_anyway_chance(traits["price_sensitivity"].to_numpy())
    draws, redeem_draws, days = (
        rng.random(len(interventions)),
        rng.random(len(interventions)),
        rng.random(len(interventions)),
    )
    new_orders, redeemed = [], []
    for k, intervention in enumerate(interventions):
        if intervention.group != Group.TREATED or intervention.status != Intervention.Status.DONE:
            continue
        coupon = coupons.get(intervention.pk)
        # A won-back customer orders within the window (a coupon's: while it is valid).
        last = coupon.valid_until if coupon else at + window
        if not anyway[k] and draws[k] < chance[k]:
            placed = at + (last - at - timedelta(days=1)) * days[k] + timedelta(hours=1)
            total = Decimal(basket.get(intervention.customer_id) or 55).quantize(Decimal("0.01"))
            new_orders.append(Order(customer_id=intervention.customer_id, placed_at=placed,
                                    total=total, status=Order.Status.DELIVERED,
                                    delivered_at=placed + timedelta(days=3),
                                    coupon_code=coupon.code if coupon else ""))  # fmt: skip
        elif (anyway[k] and coupon is not None and redeem_draws[k] < redeem_anyway[k]
              and first_order[intervention.customer_id] <= coupon.valid_until):  # fmt: skip
            redeemed.append(
                (intervention.customer_id, first_order[intervention.customer_id], coupon.code)
            )
    with transaction.atomic():
        # The simulated agents made every call the next day.
        CallTask.objects.filter(intervention__in=interventions, completed_at__isnull=True).update(
            outcome=CallTask.Outcome.REACHED,
            notes="Simulated season.",
            completed_at=at + timedelta(days=1),
        )
        Order.objects.bulk_create(new_orders, batch_size=1000)  # no signals: the past
        for customer_id, placed, code in redeemed:
            Order.objects.filter(customer_id=customer_id, placed_at=placed).update(coupon_code=code)
    return pd.DataFrame({
        "intervention": [i.pk for i in interventions],
        "customer_id": ids,
        "rule_id": [i.rule_id for i in interventions],
        "action": [i.action for i in interventions],
        "group": [i.group for i in interventions],
        "ordered_anyway": anyway,
        "win_back_chance": chance,
        "true_effect": (~anyway) * chance,
    })  # fmt: skip


def experiment_rules() -> dict[str, Rule]:
    """One rule per action, half held out, on conditions that need no churn model: the
    rules of the simulation test and of benchmarks/uplift_coverage.py."""
    half = {"holdout_share": Decimal("0.5"), "requires_consent": False}
    return {
        "call": Rule.objects.create(
            name="call open tickets", action=Action.CALL, priority=300, call_due_hours=24,
            call_instructions="Solve their ticket.", open_ticket=TicketCondition.OPEN, **half),
        "coupon": Rule.objects.create(
            name="coupon lapsing", action=Action.COUPON, priority=200, min_days_since_order=21,
            coupon_kind=CouponKind.PERCENT, coupon_value=Decimal(15), coupon_valid_days=21,
            **half),
        "gift": Rule.objects.create(
            name="gift valuable", action=Action.GIFT, priority=150, gift_unit_cost=Decimal(9),
            gift_description="Tote bag", min_spend_365d=Decimal(150), **half),
        "email": Rule.objects.create(
            name="email everyone", action=Action.EMAIL, priority=100, email_subject="Hello",
            email_template="Hello {name}, our new season is in.", **half),
    }  # fmt: skip


def demo_rules() -> list[Rule]:
    """Four rules a marketer might start with; half held out so that one demo season of
    2,000 customers shows results (10% is the default, for a real shop's volumes)."""
    half = {"holdout_share": Decimal("0.50"), "requires_consent": False}
    specs: list[dict[str, Any]] = [
        {"name": "Call: open ticket, at risk", "action": Action.CALL, "priority": 300,
         "min_band": "medium", "open_ticket": TicketCondition.OPEN, "call_due_hours": 24,
         "call_instructions": "Their ticket is still open and they may leave: solve it on "
                              "the phone, apologise, and log what they say."},
        {"name": "Coupon: lapsing, at risk", "action": Action.COUPON, "priority": 200,
         "min_band": "medium", "min_days_since_order": 30, "coupon_kind": CouponKind.PERCENT,
         "coupon_value": Decimal(15), "coupon_min_order": Decimal(30), "coupon_valid_days": 21,
         "monthly_budget": Decimal(5000)},
        {"name": "Gift: valuable, at risk", "action": Action.GIFT, "priority": 150,
         "min_band": "medium", "min_spend_365d": Decimal(200),
         "gift_description": "Tote bag with a handwritten card", "gift_unit_cost": Decimal(9)},
        {"name": "Email: we miss you", "action": Action.EMAIL, "priority": 100,
         "min_days_since_order": 45, "email_subject": "We miss you, {name}",
         "email_template": "Hello {name},\n\nit has been a while. Our new season is in."},
    ]  # fmt: skip
    rules = []
    for spec in specs:
        rule = Rule(**half, **spec)
        rule.full_clean()
        rule.save()
        rules.append(rule)
    return rules


def demo_season() -> str:
    """The demo's first run: demo rules (when there are none), a season two months back
    on the demo world, then today's decisions."""
    from interventions.tasks import carry_out_later

    if not Rule.objects.exists():
        demo_rules()
    truth_path = Path(settings.CRM_DEMO_TRUTH_PATH)
    message = "no demo truth file: no simulated season"
    if truth_path.exists() and not Intervention.objects.exists():
        at = timezone.now() - timedelta(days=settings.CHURN_HORIZON_DAYS + 2)
        season = simulate_season(at=at, truth_path=truth_path)
        true = season.true_effects()
        names = dict(Rule.objects.values_list("pk", "name"))
        effects = ", ".join(
            f"{names[rule_id]} {row.true_effect * 100:+.1f} points"
            for (rule_id, _), row in true.iterrows()
        )
        message = (
            f"simulated season at {at:%Y-%m-%d}: {len(season.frame)} decisions; true effects "
            f"(uplift_report should find them): {effects}"
        )
    made = services.decide_batch(None, carry=carry_out_later)
    return f"{message}; today: {made} decisions"

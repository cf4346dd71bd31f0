"""The decision engine: for one customer, the highest-priority rule that matches, through
one contact ledger, with a deterministic control group.

Order of checks, each recorded as the reason when nothing is decided: the customer exists
and is not erased; no open intervention (any rule, any channel); the global contact gap
(INTERVENTIONS_CONTACT_GAP_DAYS) since the last one; then the enabled rules in force today,
highest priority first, the first one that matches and is out of its cooldown wins. The
customer's row is locked for the decision, and a partial unique constraint allows one open
intervention per customer, so concurrent deciders create exactly one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Customer
from interventions.models import Group, Intervention, Rule
from interventions.selectors import rule_matches, sentiment_30d


def holdout_draw(customer_id: int, rule_id: int, month: str, band: str) -> float:
    """A number in [0, 1), the same for the same (customer, rule, month, band): below the
    rule's holdout share means control. The band in the key keeps the draw independent
    within each risk band (stratified in expectation); the month lets a customer held out
    once be treated in another month."""
    digest = hashlib.sha256(f"{customer_id}:{rule_id}:{month}:{band}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Decision:
    intervention: Intervention | None
    reason: str


def decide_for(customer_id: int, *, at: datetime | None = None) -> Decision:
    """Decide for one customer now; idempotent while an intervention is open."""
    at = at or timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None or customer.is_erased:
            return Decision(None, "customer unknown or erased")
        open_one = Intervention.objects.filter(customer=customer, is_open=True).first()
        if open_one is not None:
            return Decision(None, f"an intervention is open ({open_one})")
        gap = timedelta(days=settings.INTERVENTIONS_CONTACT_GAP_DAYS)
        if Intervention.objects.filter(customer=customer, decided_at__gt=at - gap).exists():
            return Decision(None, f"contacted in the last {gap.days} days")
        today = at.date()
        rules = Rule.objects.filter(enabled=True).filter(
            Q(starts_on__isnull=True) | Q(starts_on__lte=today),
            Q(ends_on__isnull=True) | Q(ends_on__gte=today),
        )
        for rule in rules.order_by("-priority", "pk"):
            match = rule_matches(rule, at=at).filter(pk=customer.pk).first()
            if match is None:
                continue
            cooling = Intervention.objects.filter(
                customer=customer, rule=rule, decided_at__gt=at - timedelta(days=rule.cooldown_days)
            )
            if cooling.exists():
                continue
            return _record(rule, match, at)
        return Decision(None, "no rule matches")


def _record(rule: Rule, match: Customer, at: datetime) -> Decision:
    from churnmodel.models import ChurnScore

    month = f"{at:%Y-%m}"
    band = getattr(match, "risk_band", None) or ""
    control = holdout_draw(match.pk, rule.pk, month, band) < float(rule.holdout_share or Decimal(0))
    score = ChurnScore.objects.filter(customer=match).order_by("-scored_at", "-pk").first()
    try:
        with transaction.atomic():
            intervention = Intervention.objects.create(
                customer=match,
                rule=rule,
                group=Group.CONTROL if control else Group.TREATED,
                action=rule.action,
                status=Intervention.Status.HELD_OUT if control else Intervention.Status.PLANNED,
                decided_at=at,
                month=month,
                risk_probability=score.probability if score else None,
                risk_band=band,
                reasons=score.reasons if score else [],
                sentiment_30d=sentiment_30d(match.pk, at),
            )
    except IntegrityError:  # another worker decided for this customer a moment ago
        return Decision(None, "an intervention is open (decided concurrently)")
    group = "held out as control" if control else "treated"
    return Decision(intervention, f"rule {rule.name}: {group}")

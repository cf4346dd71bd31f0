"""The interventions' part of a customer's export and erasure (see crm.privacy),
registered from InterventionsConfig.ready()."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Customer
from crm.privacy import Erasing, record, register_eraser, register_exporter
from interventions.models import CallTask, Email, GiftFulfilment, Intervention, Skip

ERASED_ERROR = "Not carried out: the customer was erased."


def _one(instance: Any, attribute: str) -> dict[str, Any] | None:
    related = getattr(instance, attribute, None)
    return record(related) if related is not None else None


def export(customer: Customer) -> dict[str, Any]:
    """Every intervention decided for the customer, with its coupon, email, gift and call
    and the change history kept of it, and the times a rule skipped them (and why)."""
    interventions = (
        Intervention.objects.filter(customer=customer)
        .select_related("coupon", "email", "gift", "call")
        .order_by("decided_at", "pk")
    )
    rows = []
    for intervention in interventions:
        row = record(intervention)
        for attribute in ("coupon", "email", "gift", "call"):
            row[attribute] = _one(intervention, attribute)
        row["history"] = [
            record(h) for h in intervention.history.order_by("history_date", "history_id")
        ]
        call = getattr(intervention, "call", None)
        if call is not None:
            row["call_history"] = [
                record(h) for h in call.history.order_by("history_date", "history_id")
            ]
        rows.append(row)
    skips = Skip.objects.filter(customer=customer).order_by("on", "pk")
    return {"interventions": rows, "skips": [record(s) for s in skips]}


def erase(erasing: Erasing) -> None:
    """Erase what the interventions say about the customer, keep what they count.

    Erased: the risk reasons and sentiment the decision saw (reasons quote the customer's
    texts), the exact risk probability, the error text; each email's recipient, subject
    and body (addressed by name); the agents' call notes; and the same fields in the
    change history (django-simple-history keeps a copy per save), with any reason typed
    for a change. An intervention still waiting to be carried out or approved closes
    failed (costing nothing), and a call still in the queue leaves it: nobody may contact
    the customer now.

    Kept, for the uplift and cost reports: each intervention's rule, group, action,
    status, risk band, cost, dates and outcome (ordered again, revenue, coupon redeemed);
    coupons (code, value, redemption), gifts (the rule's description and cost), calls'
    instructions (the rule's), priority, times and outcome; skips (rule, reason, day)."""
    customer, at = erasing.customer, erasing.at
    interventions = Intervention.objects.filter(customer=customer)
    ids = list(interventions.values_list("pk", flat=True))
    erasing.blank(interventions, reasons=[], risk_probability=None, sentiment_30d=None, error="")
    # Already counted above; closed the way a failed one is (services._fail).
    interventions.filter(
        status__in=(Intervention.Status.PLANNED, Intervention.Status.AWAITING_APPROVAL)
    ).update(
        status=Intervention.Status.FAILED,
        error=ERASED_ERROR,
        is_open=False,
        cost=Decimal(0),
        closed_at=at,
    )
    calls = CallTask.objects.filter(intervention__in=ids)
    erasing.blank(calls, notes="")
    calls.filter(completed_at__isnull=True).update(completed_at=at)  # leaves the queue
    erasing.blank(Email.objects.filter(intervention__in=ids), to="", subject="", body="")

    history = Intervention.history.model.objects.filter(id__in=ids)
    erasing.blank(
        history, risk_probability=None, sentiment_30d=None, error="", history_change_reason=None
    )
    call_ids = list(calls.values_list("pk", flat=True))
    erasing.blank(
        CallTask.history.model.objects.filter(id__in=call_ids),
        notes="",
        history_change_reason=None,
    )
    gift_ids = list(
        GiftFulfilment.objects.filter(intervention__in=ids).values_list("pk", flat=True)
    )
    erasing.blank(
        GiftFulfilment.history.model.objects.filter(id__in=gift_ids), history_change_reason=None
    )


def register() -> None:
    register_exporter("interventions", export, order=30)
    register_eraser("interventions", erase, order=30)

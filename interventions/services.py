"""The decision engine and the actions: for one customer, the highest-priority rule that
matches, through one contact ledger, with a deterministic control group; then the action
(coupon, email, gift fulfilment, agent call) carried out exactly once.

Order of checks, each recorded as the reason when nothing is decided: the customer exists
and is not erased; no open intervention (any rule, any channel); the global contact gap
(INTERVENTIONS_CONTACT_GAP_DAYS) since the last contact; then the enabled rules in force
that day, highest priority first. The first rule that matches, is out of its cooldown, has
the customer's consent where it needs it and has budget left decides. The customer's row
is locked for the decision, the rule's row while its budget is checked, and a partial
unique constraint allows one open intervention per customer: concurrent deciders create
exactly one intervention and never spend past a cap.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from churnmodel.models import CurrentRisk
from crm.models import Customer, Order
from interventions.models import (
    Action,
    CallTask,
    Coupon,
    Email,
    GiftFulfilment,
    Group,
    Intervention,
    Rule,
    Skip,
)
from interventions.selectors import (
    contacts,
    day_count,
    expected_cost,
    month_spend,
    rule_matches,
    sentiment_30d,
    spend_365d,
)

logger = logging.getLogger(__name__)

Status = Intervention.Status


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


def rules_in_force(day: Any) -> QuerySet[Rule]:
    """Enabled rules whose active dates include `day`, highest priority first."""
    return (
        Rule.objects.filter(enabled=True)
        .filter(
            Q(starts_on__isnull=True) | Q(starts_on__lte=day),
            Q(ends_on__isnull=True) | Q(ends_on__gte=day),
        )
        .order_by("-priority", "pk")
    )


def decide_for(
    customer_id: int, *, at: datetime | None = None, matches: dict[int, set[int]] | None = None
) -> Decision:
    """Decide for one customer now (or as of `at`); idempotent while an intervention is open.

    `matches` (rule id -> ids of the customers it matches, consent aside) lets a batch
    compute each rule's matches once instead of once per customer."""
    at = at or timezone.now()
    with transaction.atomic():
        customer, refusal = _ledger_open(customer_id, at)
        if customer is None:
            return Decision(None, refusal)
        skipped: list[str] = []
        for rule in rules_in_force(timezone.localtime(at).date()):
            if matches is not None:
                if customer.pk not in matches.get(rule.pk, ()):
                    continue
            elif not rule_matches(rule, at=at, consent=False).filter(pk=customer.pk).exists():
                continue
            decision = _try_rule(rule, customer, at)
            if decision.intervention is not None:
                return decision
            skipped.append(f"{rule.name}: {decision.reason}")
        return Decision(None, "; ".join(skipped) or "no rule matches")


def decide_manually(customer_id: int, rule: Rule, *, at: datetime | None = None) -> Decision:
    """An agent's choice of a rule's action for a customer, whatever its conditions say;
    still through the contact ledger, the rule's cooldown, consent, caps and holdout."""
    at = at or timezone.now()
    with transaction.atomic():
        customer, refusal = _ledger_open(customer_id, at)
        if customer is None:
            return Decision(None, refusal)
        decision = _try_rule(rule, customer, at)
        if decision.intervention is None:
            return Decision(None, f"{rule.name}: {decision.reason}")
        return decision


def _ledger_open(customer_id: int, at: datetime) -> tuple[Customer | None, str]:
    """Lock the customer; return them if the ledger lets anyone contact them now, else
    None and why (erased, an open intervention, the contact gap)."""
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        return None, "customer unknown"
    if customer.is_erased:
        _skip(customer, None, Skip.Reason.ERASED, at)
        return None, "customer erased"
    open_one = Intervention.objects.filter(customer=customer, is_open=True).first()
    if open_one is not None:
        return None, f"an intervention is open ({open_one})"
    gap = timedelta(days=settings.INTERVENTIONS_CONTACT_GAP_DAYS)
    if contacts(customer=customer, decided_at__gt=at - gap, decided_at__lte=at).exists():
        return None, f"contacted in the last {gap.days} days"
    return customer, ""


def _try_rule(rule: Rule, customer: Customer, at: datetime) -> Decision:
    """The rule's own checks for this customer (cooldown, consent, email address, caps),
    then the decision; inside the caller's transaction and customer lock."""
    cooldown = timedelta(days=rule.cooldown_days)
    if contacts(customer=customer, rule=rule, decided_at__gt=at - cooldown).exists():
        return Decision(None, f"in its {rule.cooldown_days}-day cooldown")
    if rule.needs_consent and not customer.marketing_consent:
        _skip(customer, rule, Skip.Reason.NO_CONSENT, at)
        return Decision(None, "no marketing consent")
    if rule.sends_email and not customer.email:
        _skip(customer, rule, Skip.Reason.NO_EMAIL, at)
        return Decision(None, "no email address")
    return _decide_under_budget(rule, customer, at)


def decide_batch(
    customer_ids: Iterable[int] | None,
    *,
    at: datetime | None = None,
    carry: Callable[[int], Any] | None = None,
) -> int:
    """Decide for these customers (None: everyone some rule in force matches), each in
    its own transaction; `carry` gets each treated intervention ready to be carried out.
    Returns how many interventions were made (treated and control)."""
    at = at or timezone.now()
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    matches: dict[int, set[int]] = {}
    for rule in rules_in_force(timezone.localtime(at).date()):
        found = rule_matches(rule, at=at, consent=False).values_list("pk", flat=True)
        if wanted is None:
            matches[rule.pk] = set(found)
        else:
            matches[rule.pk] = set()
            for start in range(0, len(wanted), 1000):
                matches[rule.pk].update(found.filter(pk__in=wanted[start : start + 1000]))
    candidates = set().union(*matches.values())
    if wanted is not None:  # an erased customer among them is skipped with the reason
        erased = Customer.objects.filter(pk__in=wanted, is_erased=True).values_list("pk", flat=True)
        candidates.update(erased)
    made = 0
    for customer_id in sorted(candidates):
        decision = decide_for(customer_id, at=at, matches=matches)
        if decision.intervention is None:
            continue
        made += 1
        if carry is not None and decision.intervention.status == Status.PLANNED:
            carry(decision.intervention.pk)
    return made


def _skip(customer: Customer, rule: Rule | None, reason: str, at: datetime) -> None:
    skip, created = Skip.objects.get_or_create(
        customer=customer, rule=rule, reason=reason, on=timezone.localtime(at).date()
    )
    if not created:
        Skip.objects.filter(pk=skip.pk).update(times=F("times") + 1)


def _decide_under_budget(rule: Rule, customer: Customer, at: datetime) -> Decision:
    """Within the caller's transaction: lock the rule (so two workers cannot both take its
    last budget), check the caps, draw the holdout and record the intervention."""
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    cost = expected_cost(rule, customer.pk, at)
    if rule.daily_count_cap is not None and day_count(rule, at) >= rule.daily_count_cap:
        _skip(customer, rule, Skip.Reason.DAILY_CAP, at)
        return Decision(None, f"daily cap of {rule.daily_count_cap} reached")
    if rule.monthly_budget is not None and month_spend(rule, at) + cost > rule.monthly_budget:
        _skip(customer, rule, Skip.Reason.BUDGET, at)
        return Decision(None, f"monthly budget of {rule.monthly_budget} reached")
    return _record(rule, customer, at, cost)


def _record(rule: Rule, customer: Customer, at: datetime, cost: Decimal) -> Decision:
    from churnmodel.models import ChurnScore

    month = f"{timezone.localtime(at):%Y-%m}"
    score = (
        ChurnScore.objects.filter(customer=customer, scored_at__lte=at)
        .order_by("-scored_at", "-pk")
        .first()
    )
    band = score.band if score else ""
    control = holdout_draw(customer.pk, rule.pk, month, band) < float(rule.holdout_share)
    if control:
        status = Status.HELD_OUT
    elif rule.approval_above_cost is not None and cost > rule.approval_above_cost:
        status = Status.AWAITING_APPROVAL
    else:
        status = Status.PLANNED
    try:
        with transaction.atomic():
            intervention = Intervention.objects.create(
                customer=customer,
                rule=rule,
                group=Group.CONTROL if control else Group.TREATED,
                action=rule.action,
                status=status,
                decided_at=at,
                month=month,
                risk_probability=score.probability if score else None,
                risk_band=band,
                reasons=score.reasons if score else [],
                sentiment_30d=sentiment_30d(customer.pk, at),
                cost=Decimal(0) if control else cost,
                window_days=settings.CHURN_HORIZON_DAYS,
            )
            if not control:
                last_contact_sync(customer_ids=[customer.pk])
    except IntegrityError:  # another worker decided for this customer a moment ago
        return Decision(None, "an intervention is open (decided concurrently)")
    outcome = {
        Status.HELD_OUT: "held out as control",
        Status.PLANNED: "treated",
        Status.AWAITING_APPROVAL: f"treated, awaiting approval (costs {cost})",
    }[status]
    return Decision(intervention, f"rule {rule.name}: {outcome}")


# --- Actions ---------------------------------------------------------------------------------

DEFAULT_COUPON_SUBJECT = "A little something from us"
DEFAULT_COUPON_TEMPLATE = (
    "Hello {name},\n\nwe would like to see you again: your code {coupon_code} gives you "
    "{coupon_value} on your next order, until {coupon_valid_until}.\n"
)


class RenderError(Exception):
    """An email template that cannot be rendered for this customer."""


def render_email(intervention: Intervention, coupon: Coupon | None) -> tuple[str, str]:
    """The subject and body of the intervention's email, for its customer."""
    rule, customer = intervention.rule, intervention.customer
    subject = rule.email_subject or DEFAULT_COUPON_SUBJECT
    template = rule.email_template or DEFAULT_COUPON_TEMPLATE
    context = {
        "name": customer.name or "there",
        "coupon_code": coupon.code if coupon else "",
        "coupon_value": coupon.label() if coupon else "",
        "coupon_valid_until": f"{timezone.localtime(coupon.valid_until):%d %B %Y}"
        if coupon
        else "",
        "gift": rule.gift_description,
    }
    try:
        return subject.format(**context), template.format(**context)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise RenderError(f"The email template does not render: {exc!r}.") from exc


def carry_out(intervention_id: int, *, at: datetime | None = None, connection: Any = None) -> str:
    """Carry out a planned intervention: issue its coupon, create its fulfilment or call
    task, send its email. Safe to run again: what exists is found, not made twice, and an
    email already sent is not sent again. Returns the resulting status.

    A template that fails to render marks the intervention failed with the error: nothing
    is sent and it does not count towards cooldowns, gaps or the budget."""
    at = at or timezone.now()
    with transaction.atomic():
        intervention = (
            Intervention.objects.select_for_update()
            .select_related("rule", "customer")
            .get(pk=intervention_id)
        )
        if intervention.status != Status.PLANNED:
            return str(intervention.status)
        try:
            with transaction.atomic():
                email = _prepare(intervention, at)
        except RenderError as exc:
            _fail(intervention, str(exc), at)
            return str(intervention.status)
        if email is None:
            intervention.status = Status.DONE
            intervention.save(update_fields=["status"])
            return str(intervention.status)
    return send_prepared_email(email.pk, connection=connection, at=at)


def _prepare(intervention: Intervention, at: datetime) -> Email | None:
    rule, customer = intervention.rule, intervention.customer
    coupon = None
    if intervention.action == Action.COUPON:
        coupon, _ = Coupon.objects.get_or_create(
            intervention=intervention,
            defaults={
                "kind": rule.coupon_kind,
                "value": rule.coupon_value or Decimal(0),
                "min_order": rule.coupon_min_order,
                "issued_at": at,
                "valid_until": at + timedelta(days=rule.coupon_valid_days or 0),
            },
        )
    elif intervention.action == Action.GIFT:
        GiftFulfilment.objects.get_or_create(
            intervention=intervention,
            defaults={"description": rule.gift_description,
                      "unit_cost": rule.gift_unit_cost or Decimal(0)},
        )  # fmt: skip
    elif intervention.action == Action.CALL:
        spend = spend_365d(customer.pk, at)
        CallTask.objects.get_or_create(
            intervention=intervention,
            defaults={
                "instructions": rule.call_instructions,
                "priority": round((intervention.risk_probability or 0.5) * max(float(spend), 1), 2),
                "due_at": at + timedelta(hours=rule.call_due_hours or 24),
            },
        )
    if not rule.sends_email:
        return None
    if not customer.email:
        raise RenderError("The customer has no email address.")
    subject, body = render_email(intervention, coupon)
    email, _ = Email.objects.get_or_create(
        intervention=intervention, defaults={"to": customer.email, "subject": subject, "body": body}
    )
    return email


def rule_matches_count(*, rule: Rule, at: datetime | None = None) -> int:
    """Count whom `rule` matches now and store it on the rule (without touching its change
    history); the rules page shows it with its time. Idempotent: a recount overwrites."""
    at = at or timezone.now()
    count = rule_matches(rule, at=at).count()
    Rule.objects.filter(pk=rule.pk).update(matches_now=count, matches_counted_at=at)
    rule.matches_now, rule.matches_counted_at = count, at
    return count


def last_contact_sync(*, customer_ids: Iterable[int] | None) -> int:
    """Copy each customer's newest contact (a treatment not failed or rejected) onto their
    CurrentRisk row, which the at-risk list filters and sorts on; None: every customer
    (after `rebuild_current_risk`). Called wherever a decision is made or undone, inside
    its transaction. Returns the rows updated."""
    newest = (
        contacts(customer=OuterRef("customer"), group=Group.TREATED)
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    rows = CurrentRisk.objects.all()
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=list(customer_ids))
    return rows.update(last_contact_at=Subquery(newest))


def _fail(intervention: Intervention, error: str, at: datetime) -> None:
    intervention.status = Status.FAILED
    intervention.error = error
    intervention.is_open = False
    intervention.cost = Decimal(0)
    intervention.closed_at = at
    with transaction.atomic():
        intervention.save(update_fields=["status", "error", "is_open", "cost", "closed_at"])
        last_contact_sync(customer_ids=[intervention.customer_id])
    logger.warning("Intervention %s failed: %s", intervention.pk, error)


def send_prepared_email(
    email_id: int, *, connection: Any = None, at: datetime | None = None
) -> str:
    """Send a recorded email unless it was sent already; the row lock keeps two workers
    from both sending it. A transport error propagates (the task retries)."""
    with transaction.atomic():
        email = Email.objects.select_for_update().select_related("intervention").get(pk=email_id)
        intervention = email.intervention
        if email.sent_at is None and not email.to:
            return str(intervention.status)  # erased after it was prepared: nobody to mail
        if email.sent_at is None:
            EmailMessage(email.subject, email.body, to=[email.to], connection=connection).send()
            email.sent_at = at or timezone.now()
            email.save(update_fields=["sent_at"])
        if intervention.status == Status.PLANNED:
            intervention.status = Status.DONE
            intervention.save(update_fields=["status"])
        return str(intervention.status)


class NotAllowed(Exception):
    pass


def approve(intervention: Intervention, user: Any, *, approved: bool = True) -> None:
    """A user with the approval permission lets a costly intervention go ahead (it is then
    carried out) or rejects it (it closes, costs nothing, and is no contact)."""
    if not user.has_perm("interventions.approve_intervention"):
        raise NotAllowed("You may not approve interventions.")
    with transaction.atomic():
        locked = Intervention.objects.select_for_update().get(pk=intervention.pk)
        if locked.status != Status.AWAITING_APPROVAL:
            raise NotAllowed(f"It is {locked.get_status_display().lower()}, not awaiting approval.")
        locked.decided_by = user
        if approved:
            locked.status = Status.PLANNED
            locked.save(update_fields=["status", "decided_by"])
        else:
            locked.status = Status.REJECTED
            locked.is_open = False
            locked.cost = Decimal(0)
            locked.closed_at = timezone.now()
            locked.save(update_fields=["status", "decided_by", "is_open", "cost", "closed_at"])
            last_contact_sync(customer_ids=[locked.customer_id])
    if approved:
        carry_out(intervention.pk)


def claim_call(call: CallTask, user: Any) -> bool:
    """The agent takes the call, unless another agent has it already (kept in its history)."""
    with transaction.atomic():
        locked = CallTask.objects.select_for_update().get(pk=call.pk)
        if locked.claimed_by_id is not None:
            return locked.claimed_by_id == user.pk
        locked.claimed_by, locked.claimed_at = user, timezone.now()
        locked.save(update_fields=["claimed_by", "claimed_at"])
        return True


# --- Outcomes --------------------------------------------------------------------------------


def measure_outcomes(*, at: datetime | None = None) -> int:
    """Close every intervention whose window has passed: did the customer order again in
    it, what they spent, whether the coupon was redeemed (an order carrying its code, by
    its expiry), and what the intervention really cost. Returns how many it closed."""
    at = at or timezone.now()
    closed = 0
    windows = set(
        Intervention.objects.filter(measured_at__isnull=True).values_list("window_days", flat=True)
    )
    for days in sorted(windows):
        due = Intervention.objects.filter(
            measured_at__isnull=True, window_days=days, decided_at__lte=at - timedelta(days=days)
        )
        for ids in _batches(due.values_list("pk", flat=True), 500):
            closed += _measure(ids, at)
    return closed


def _batches(ids: Iterable[int], size: int) -> Iterable[list[int]]:
    batch: list[int] = []
    for pk in ids:
        batch.append(pk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _measure(ids: list[int], at: datetime) -> int:
    call_cost = Decimal(str(settings.INTERVENTIONS_CALL_COST))
    email_cost = Decimal(str(settings.INTERVENTIONS_EMAIL_COST))
    with transaction.atomic():
        interventions = list(
            Intervention.objects.select_for_update()
            .filter(pk__in=ids, measured_at__isnull=True)
            .select_related("rule")
        )
        coupons = {c.intervention_id: c for c in Coupon.objects.filter(intervention__in=ids)}
        gifts = dict(
            GiftFulfilment.objects.filter(intervention__in=ids).values_list(
                "intervention_id", "unit_cost"
            )
        )
        made = CallTask.objects.filter(intervention__in=ids).exclude(outcome="")
        calls = set(made.values_list("intervention_id", flat=True))  # a call costs once made
        sent = set(Email.objects.filter(intervention__in=ids, sent_at__isnull=False)
                   .values_list("intervention_id", flat=True))  # fmt: skip
        for intervention in interventions:
            orders = Order.objects.filter(
                customer_id=intervention.customer_id,
                placed_at__gt=intervention.decided_at,
                placed_at__lte=intervention.window_ends_at,
            ).exclude(status=Order.Status.CANCELLED)
            totals = orders.aggregate(n=Count("pk"), s=Sum("total"))
            intervention.ordered_again = totals["n"] > 0
            intervention.revenue = totals["s"] or Decimal(0)
            cost = Decimal(0)
            coupon = coupons.get(intervention.pk)
            if coupon is not None:
                redeemed = (
                    orders.filter(coupon_code=coupon.code, placed_at__lte=coupon.valid_until)
                    .order_by("placed_at")
                    .first()
                )
                intervention.coupon_redeemed = redeemed is not None
                if redeemed is not None:
                    coupon.redeemed_order = redeemed
                    coupon.discount = coupon.discount_on(redeemed.total)
                    coupon.save(update_fields=["redeemed_order", "discount"])
                    cost += coupon.discount
            if intervention.pk in gifts:
                cost += gifts[intervention.pk]
            if intervention.pk in calls:
                cost += call_cost
            if intervention.pk in sent and intervention.action == Action.EMAIL:
                cost += email_cost
            intervention.cost = cost
            intervention.measured_at = at
            intervention.is_open = False
            if intervention.status == Status.AWAITING_APPROVAL:
                intervention.status = Status.REJECTED
                intervention.error = "Not approved within its window."
            elif intervention.status not in Intervention.NOT_CONTACTED:
                intervention.status = Status.CLOSED
            intervention.closed_at = intervention.closed_at or at
            intervention.save()
        expired = [i.customer_id for i in interventions if i.status == Status.REJECTED]
        if expired:  # never approved: not a contact after all
            last_contact_sync(customer_ids=expired)
        # A call nobody made in the window leaves the queue: it is too late to matter.
        for call in CallTask.objects.filter(intervention__in=ids, completed_at__isnull=True):
            call.completed_at = at
            call.notes = "Not called before the intervention's window closed."
            call.save(update_fields=["completed_at", "notes"])
    return len(interventions)

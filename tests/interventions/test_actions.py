"""Carrying out what the engine decided: coupons, emails, gifts, agent calls and approvals;
budgets and caps; outcomes; and the bad input around them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from crm.models import Order
from interventions import services
from interventions.models import (
    COUPON_ALPHABET,
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
from interventions.selectors import month_bounds, month_spend, rule_dry_run
from interventions.services import approve, carry_out, decide_batch, decide_for, measure_outcomes
from tests.factories import CustomerFactory, OrderFactory, UserFactory
from tests.interventions.test_decisions import coupon_rule
from tests.interventions.test_matching import score

pytestmark = pytest.mark.django_db

NOW = timezone.now()
Status = Intervention.Status


def at_risk(n: int = 1, **fields) -> list:
    customers = []
    for _ in range(n):
        customer = CustomerFactory(marketing_consent=True, **fields)
        score(customer, 0.8, "high", "")
        customers.append(customer)
    return customers


def decided(customer, **kw) -> Intervention:
    intervention = decide_for(customer.pk, **kw).intervention
    assert intervention is not None
    return intervention


def test_a_coupon_is_unique_unguessable_mailed_once_and_a_retry_issues_no_second() -> None:
    customers = at_risk(3, name="Ana")
    coupon_rule(coupon_valid_days=14, email_subject="For you, {name}",
                email_template="Hi {name}: {coupon_code} gives {coupon_value} until "
                               "{coupon_valid_until}.")  # fmt: skip
    made = [decided(c, at=NOW) for c in customers]
    for intervention in made:
        assert carry_out(intervention.pk, at=NOW) == Status.DONE
        assert carry_out(intervention.pk, at=NOW) == Status.DONE  # a retried task

    coupons = list(Coupon.objects.all())
    assert len(coupons) == 3 and len({c.code for c in coupons}) == 3
    assert all(len(c.code) == 12 and set(c.code) <= set(COUPON_ALPHABET) for c in coupons)
    assert coupons[0].valid_until == NOW + timedelta(days=14)
    assert len(mail.outbox) == 3
    first = mail.outbox[0]
    code = Coupon.objects.get(intervention=made[0]).code
    assert first.subject == "For you, Ana" and code in first.body and "10% off" in first.body
    assert first.to == [customers[0].email]
    assert Email.objects.filter(sent_at__isnull=False).count() == 3


def test_a_mail_server_error_leaves_the_email_to_retry_and_the_retry_sends_it_once() -> None:
    (customer,) = at_risk()
    coupon_rule()
    intervention = decided(customer)
    down = ConnectionRefusedError("smtp down")
    backend = "django.core.mail.backends.locmem.EmailBackend.send_messages"
    with mock.patch(backend, side_effect=down), pytest.raises(ConnectionRefusedError):
        carry_out(intervention.pk)
    intervention.refresh_from_db()
    assert intervention.status == Status.PLANNED and Coupon.objects.count() == 1
    assert not Email.objects.get().sent_at and not mail.outbox
    email_id = Email.objects.get().pk
    assert services.send_prepared_email(email_id) == Status.DONE
    assert services.send_prepared_email(email_id) == Status.DONE
    assert len(mail.outbox) == 1 and Coupon.objects.count() == 1


def test_a_template_that_fails_to_render_fails_sends_nothing_and_spares_the_cooldown() -> None:
    (customer,) = at_risk()
    rule = Rule.objects.create(name="mail", action=Action.EMAIL, email_subject="Hi",
                               email_template="Hello {name:d}", holdout_share=Decimal(0),
                               cooldown_days=30)  # fmt: skip
    rule.full_clean()  # "{name:d}" names a known placeholder: it passes the save checks
    intervention = decided(customer, at=NOW)

    assert carry_out(intervention.pk, at=NOW) == Status.FAILED
    intervention.refresh_from_db()
    assert "does not render" in intervention.error and "Unknown format code" in intervention.error
    assert not intervention.is_open and not mail.outbox and not Email.objects.exists()
    # Not charged: neither the contact gap nor the rule's cooldown holds the customer back.
    rule.email_template = "Hello {name}"
    rule.save()
    again = decide_for(customer.pk, at=NOW + timedelta(hours=1))
    assert again.intervention is not None, again.reason


def test_a_customer_without_an_email_address_is_skipped_and_a_lost_one_fails() -> None:
    no_address, lost = at_risk(2)
    no_address.email = ""
    no_address.save()
    rule = coupon_rule()
    assert decide_for(no_address.pk).reason == "coupon: no email address"
    assert Skip.objects.get().reason == Skip.Reason.NO_EMAIL
    intervention = decided(lost)
    lost.email = ""  # removed between the decision and carrying it out
    lost.save()
    assert carry_out(intervention.pk) == Status.FAILED
    assert not Coupon.objects.exists()  # rolled back with the failure
    assert Intervention.objects.get().error == "The customer has no email address."
    assert rule.sends_email


def test_a_gift_creates_a_fulfilment_and_a_call_lands_in_the_queue_by_value_at_risk() -> None:
    small, big = at_risk(2)
    OrderFactory(customer=big, placed_at=NOW - timedelta(days=20), total=Decimal("900.00"))
    OrderFactory(customer=small, placed_at=NOW - timedelta(days=20), total=Decimal("20.00"))
    Rule.objects.create(name="call", action=Action.CALL, call_instructions="Ask what went wrong",
                        call_due_hours=4, holdout_share=Decimal(0), requires_consent=False,
                        priority=10)  # fmt: skip
    for customer in (small, big):
        carry_out(decided(customer, at=NOW).pk, at=NOW)
    queue = list(CallTask.objects.filter(completed_at__isnull=True))
    assert [c.intervention.customer for c in queue] == [big, small]
    assert queue[0].priority == pytest.approx(0.8 * 900) and queue[0].due_at == NOW + timedelta(
        hours=4
    )

    Rule.objects.filter(name="call").update(enabled=False)
    Rule.objects.create(name="gift", action=Action.GIFT, gift_description="Socks",
                        gift_unit_cost=Decimal("4.50"), holdout_share=Decimal(0),
                        requires_consent=False)  # fmt: skip
    (other,) = at_risk()
    carry_out(decided(other).pk)
    gift = GiftFulfilment.objects.get()
    assert (gift.description, gift.unit_cost, gift.status) == ("Socks", Decimal("4.50"), "pending")
    gift.status = GiftFulfilment.Status.SHIPPED
    gift.save()
    assert [h.status for h in gift.history.order_by("history_date")] == ["pending", "shipped"]


def test_one_agent_claims_a_call_and_logs_its_outcome() -> None:
    (customer,) = at_risk()
    Rule.objects.create(name="call", action=Action.CALL, call_instructions="Call",
                        call_due_hours=24, holdout_share=Decimal(0))  # fmt: skip
    carry_out(decided(customer).pk)
    call = CallTask.objects.get()
    ana, bo = UserFactory(), UserFactory()
    assert services.claim_call(call, ana) is True
    assert services.claim_call(call, bo) is False
    call.refresh_from_db()
    assert call.claimed_by == ana


def test_costly_interventions_wait_for_a_user_with_the_approval_permission() -> None:
    (customer,) = at_risk()
    Rule.objects.create(name="gift", action=Action.GIFT, gift_description="Hamper",
                        gift_unit_cost=Decimal(60), approval_above_cost=Decimal(50),
                        holdout_share=Decimal(0))  # fmt: skip
    decision = decide_for(customer.pk)
    intervention = decision.intervention
    assert (
        intervention.status == Status.AWAITING_APPROVAL and "awaiting approval" in decision.reason
    )
    assert carry_out(intervention.pk) == Status.AWAITING_APPROVAL  # nothing happens yet
    assert not GiftFulfilment.objects.exists()

    clerk, lead = UserFactory(), UserFactory()
    lead.user_permissions.add(Permission.objects.get(codename="approve_intervention"))
    with pytest.raises(services.NotAllowed):
        approve(intervention, clerk)
    approve(intervention, lead)
    intervention.refresh_from_db()
    assert intervention.status == Status.DONE and intervention.decided_by == lead
    assert GiftFulfilment.objects.exists()
    statuses = [h.status for h in intervention.history.order_by("history_date", "history_id")]
    assert statuses == ["awaiting_approval", "planned", "done"]


def test_a_rejected_intervention_closes_costs_nothing_and_is_no_contact() -> None:
    (customer,) = at_risk()
    Rule.objects.create(name="gift", action=Action.GIFT, gift_description="Hamper",
                        gift_unit_cost=Decimal(60), approval_above_cost=Decimal(50),
                        holdout_share=Decimal(0), cooldown_days=60)  # fmt: skip
    lead = UserFactory(is_superuser=True)
    approve(decided(customer, at=NOW), lead, approved=False)
    rejected = Intervention.objects.get()
    assert (rejected.status, rejected.is_open, rejected.cost) == ("rejected", False, Decimal(0))
    assert decide_for(customer.pk, at=NOW + timedelta(days=1)).intervention is not None


def test_the_monthly_budget_stops_a_rule_mid_batch_and_says_why() -> None:
    customers = at_risk(5)
    rule = Rule.objects.create(name="gift", action=Action.GIFT, gift_description="Mug",
                               gift_unit_cost=Decimal(10), monthly_budget=Decimal(30),
                               holdout_share=Decimal(0), requires_consent=False)  # fmt: skip
    assert rule_dry_run(rule).after_limits == 3

    made = decide_batch([c.pk for c in customers], at=NOW)

    assert made == 3
    assert month_spend(rule, NOW) == Decimal(30)
    assert Skip.objects.filter(rule=rule, reason=Skip.Reason.BUDGET).count() == 2
    dry = rule_dry_run(rule)
    assert dry.after_limits == 0 and any("budget is spent" in w for w in dry.warnings)
    # A new month, a new budget.
    following = month_bounds(NOW)[1] + timedelta(hours=1)
    Intervention.objects.update(is_open=False)
    assert decide_batch([customers[-1].pk], at=following + timedelta(days=20)) == 1


def test_the_daily_cap_counts_treated_customers_of_the_day() -> None:
    customers = at_risk(4)
    rule = coupon_rule(daily_count_cap=2)
    day = datetime(2026, 11, 10, 9, tzinfo=UTC)
    assert decide_batch([c.pk for c in customers], at=day) == 2
    assert Skip.objects.filter(rule=rule, reason=Skip.Reason.DAILY_CAP).count() == 2
    Intervention.objects.update(is_open=False, decided_at=day - timedelta(days=20))
    assert decide_batch([c.pk for c in customers[2:]], at=day + timedelta(days=1)) == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_spend_past_the_budget() -> None:
    """Two real transactions on PostgreSQL race for the last EUR 10 of a rule's budget."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks across connections: PostgreSQL")
    first, second = at_risk(2)
    Rule.objects.create(name="gift", action=Action.GIFT, gift_description="Mug",
                        gift_unit_cost=Decimal(10), monthly_budget=Decimal(10),
                        holdout_share=Decimal(0), requires_consent=False)  # fmt: skip
    start = threading.Barrier(2)

    def decide(customer_id: int) -> None:
        try:
            start.wait()
            decide_for(customer_id, at=NOW)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(c.pk,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Intervention.objects.count() == 1
    assert Skip.objects.filter(reason=Skip.Reason.BUDGET).count() == 1


def test_the_holdout_month_is_the_shops_calendar_month(settings) -> None:
    """The last second of October and the first of November draw with different keys; the
    month comes from the shop's time zone, not UTC."""
    settings.TIME_ZONE = "Europe/Berlin"
    (customer,) = at_risk()
    coupon_rule(holdout_share=Decimal("0.5"), cooldown_days=0)
    settings.INTERVENTIONS_CONTACT_GAP_DAYS = 0
    last_second = decided(customer, at=datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC))
    assert last_second.month == "2026-10"  # 23:59:59 in Berlin
    Intervention.objects.update(is_open=False)
    first_minute = decided(customer, at=datetime(2026, 10, 31, 23, 0, 30, tzinfo=UTC))
    assert first_minute.month == "2026-11"  # 00:00:30 on 1 November in Berlin
    for intervention in (last_second, first_minute):
        share = services.holdout_draw(
            customer.pk, intervention.rule_id, intervention.month, intervention.risk_band
        )
        assert intervention.group == (Group.CONTROL if share < 0.5 else Group.TREATED)


def test_outcomes_close_the_window_with_orders_revenue_and_redemption() -> None:
    kept, lost = at_risk(2)
    rule = coupon_rule(coupon_valid_days=10)
    start = NOW - timedelta(days=70)
    for customer in (kept, lost):
        carry_out(decided(customer, at=start).pk, at=start)
    code = Coupon.objects.get(intervention__customer=kept).code
    OrderFactory(customer=kept, placed_at=start + timedelta(days=5), total=Decimal("80.00"),
                 coupon_code=code)  # fmt: skip
    OrderFactory(customer=kept, placed_at=start + timedelta(days=30), total=Decimal("20.00"))
    OrderFactory(customer=lost, placed_at=start + timedelta(days=65), total=Decimal("50.00"))
    assert measure_outcomes(at=start + timedelta(days=59)) == 0  # window not over yet

    assert measure_outcomes() == 2
    assert measure_outcomes() == 0  # measured once
    won = Intervention.objects.get(customer=kept)
    assert (won.ordered_again, won.revenue, won.coupon_redeemed) == (True, Decimal(100), True)
    assert won.cost == Decimal("8.00") and not won.is_open and won.status == Status.CLOSED
    gone = Intervention.objects.get(customer=lost)
    assert (gone.ordered_again, gone.revenue, gone.coupon_redeemed, gone.cost) == (
        False, Decimal(0), False, Decimal(0))  # fmt: skip
    assert Coupon.objects.get(intervention=won).redeemed_order.total == Decimal("80.00")
    assert month_spend(rule, start) == Decimal("8.00")
    assert Order.objects.count() == 3


def test_a_call_nobody_made_leaves_the_queue_when_its_window_closes() -> None:
    (customer,) = at_risk()
    Rule.objects.create(name="call", action=Action.CALL, call_instructions="Call",
                        call_due_hours=24, holdout_share=Decimal(0))  # fmt: skip
    start = NOW - timedelta(days=70)
    carry_out(decided(customer, at=start).pk, at=start)
    assert CallTask.objects.filter(completed_at__isnull=True).count() == 1
    measure_outcomes()
    call = CallTask.objects.get()
    assert call.completed_at is not None and not call.outcome
    assert "window closed" in call.notes
    assert Intervention.objects.get().cost == Decimal(0)  # a call costs once it is made

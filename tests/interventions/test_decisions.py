"""The decision engine: highest-priority matching rule, one contact ledger, a deterministic
control group, and exactly one intervention under concurrent decisions."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from interventions.models import Action, CouponKind, Group, Intervention, Rule, Skip
from interventions.services import decide_for, holdout_draw
from tests.factories import CustomerFactory, ReviewFactory
from tests.interventions.test_matching import score

NOW = timezone.now()


def coupon_rule(**fields) -> Rule:
    return Rule.objects.create(**{"name": "coupon", "action": Action.COUPON,
                                  "coupon_kind": CouponKind.PERCENT, "coupon_value": Decimal(10),
                                  "coupon_valid_days": 7, "holdout_share": Decimal(0),
                                  **fields})  # fmt: skip


@pytest.fixture
def risky(db):
    customer = CustomerFactory(marketing_consent=True)
    score(customer, 0.8, "high", "lapsing high spenders")
    return customer


def test_the_highest_priority_matching_rule_decides_and_records_what_it_saw(risky) -> None:
    from sentiment.services import texts_score

    review = ReviewFactory(customer=risky, created_at=NOW - timedelta(days=2),
                           body="Terrible. Broken again.", rating=1)  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])
    coupon_rule(name="low", priority=1)
    call = Rule.objects.create(name="call", action=Action.CALL, call_instructions="Ask why",
                               call_due_hours=24, priority=50, min_band="high",
                               holdout_share=Decimal(0))  # fmt: skip
    coupon_rule(name="never", priority=99, min_probability=0.95)

    decision = decide_for(risky.pk)

    made = decision.intervention
    assert made is not None and made.rule == call and made.group == Group.TREATED
    assert (made.risk_probability, made.risk_band) == (0.8, "high")
    assert made.sentiment_30d is not None and made.sentiment_30d < 0
    assert decision.reason == "rule call: treated"


def test_one_open_intervention_and_a_gap_between_contacts(risky, settings) -> None:
    settings.INTERVENTIONS_CONTACT_GAP_DAYS = 14
    rule = coupon_rule(cooldown_days=30)
    first = decide_for(risky.pk, at=NOW).intervention
    assert first is not None
    assert decide_for(risky.pk, at=NOW).reason.startswith("an intervention is open")
    Intervention.objects.filter(pk=first.pk).update(is_open=False, closed_at=NOW)
    assert decide_for(risky.pk, at=NOW + timedelta(days=10)).reason == (
        "contacted in the last 14 days"
    )
    # Past the gap but inside the rule's own cooldown: no rule left to act.
    assert (
        decide_for(risky.pk, at=NOW + timedelta(days=20)).reason == "coupon: in its 30-day cooldown"
    )
    assert Intervention.objects.filter(rule=rule).count() == 1


def test_erased_and_unconsenting_customers_are_skipped_with_a_reason(db) -> None:
    rule = coupon_rule()
    erased = CustomerFactory(is_erased=True)
    silent = CustomerFactory(marketing_consent=False)
    score(silent, 0.8, "high", "")
    assert decide_for(erased.pk).reason == "customer erased"
    assert decide_for(silent.pk).reason == "coupon: no marketing consent"  # coupons need it
    decide_for(silent.pk)
    skips = {(s.customer_id, s.rule_id, s.reason, s.times) for s in Skip.objects.all()}
    assert skips == {(erased.pk, None, "erased", 1), (silent.pk, rule.pk, "no_consent", 2)}
    assert not Intervention.objects.exists()


def test_the_control_group_is_deterministic_and_near_the_holdout_share() -> None:
    draws = [holdout_draw(c, 7, "2026-11", "high") for c in range(4000)]
    assert draws == [holdout_draw(c, 7, "2026-11", "high") for c in range(4000)]
    share = sum(d < 0.1 for d in draws) / len(draws)
    assert 0.085 < share < 0.115
    # Month boundaries: the last instant of a month and the first of the next draw anew.
    assert [holdout_draw(c, 7, "2026-11", "high") < 0.5 for c in range(50)] != [
        holdout_draw(c, 7, "2026-12", "high") < 0.5 for c in range(50)
    ]


def test_a_held_out_customer_is_recorded_without_action(risky) -> None:
    rule = coupon_rule(holdout_share=Decimal("0.5"))
    month = f"{NOW:%Y-%m}"
    customers = [risky, *(CustomerFactory(marketing_consent=True) for _ in range(15))]
    for customer in customers[1:]:
        score(customer, 0.8, "high", "")
    made = [decide_for(c.pk, at=NOW).intervention for c in customers]
    held = {i.customer_id for i in made if i and i.group == Group.CONTROL}
    expected = {c.pk for c in customers if holdout_draw(c.pk, rule.pk, month, "high") < 0.5}
    assert held == expected and 0 < len(held) < len(customers)
    assert all(i.status == Intervention.Status.HELD_OUT for i in made if i.group == Group.CONTROL)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_decisions_for_one_customer_create_exactly_one() -> None:
    """Two real transactions (two threads, two connections) decide at the same instant."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks across connections: PostgreSQL")
    customer = CustomerFactory(marketing_consent=True)
    score(customer, 0.8, "high", "")
    coupon_rule()
    start = threading.Barrier(2)
    reasons: list[str] = []

    def decide() -> None:
        try:
            start.wait()
            reasons.append(decide_for(customer.pk, at=NOW).reason)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Intervention.objects.filter(customer=customer).count() == 1
    assert sorted(r.split(" (")[0] for r in reasons) == ["an intervention is open",
                                                        "rule coupon: treated"]  # fmt: skip

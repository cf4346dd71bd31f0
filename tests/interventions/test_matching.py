"""A rule's conditions select exactly the customers they describe; the dry run says how
many, shows the riskiest, and warns about conditions that match nobody."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from churnmodel.models import ChurnScore, ModelVersion
from churnmodel.scoring import record_scores
from crm.models import Ticket
from interventions.models import Action, CouponKind, Rule, TicketCondition
from interventions.selectors import rule_dry_run, rule_matches
from sentiment.services import texts_score
from tests.factories import CustomerFactory, OrderFactory, ReviewFactory, TicketFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def score(customer, probability: float, band: str, segment: str) -> None:
    version = ModelVersion.objects.first() or ModelVersion.objects.create(
        algorithm="test", features=[], horizon_days=60, training_cutoffs=[],
        validation_cutoff=NOW, training_data_hash="-", metrics={}, artifact_path="-",
        artifact_sha256="-",
    )  # fmt: skip
    common = {"customer": customer, "model_version": version, "horizon_days": 60}
    record_scores([
        ChurnScore(**common, probability=0.05, band="low", scored_at=NOW - timedelta(days=3)),
        ChurnScore(**common, probability=probability, band=band, segment=segment, scored_at=NOW),
    ])  # an older score, then the newest  # fmt: skip


@pytest.fixture
def shop() -> dict:
    unhappy = CustomerFactory(marketing_consent=True)
    OrderFactory(customer=unhappy, placed_at=NOW - timedelta(days=40), total=Decimal("300.00"))
    TicketFactory(customer=unhappy, status=Ticket.Status.OPEN, solved_at=None)
    review = ReviewFactory(customer=unhappy, rating=1, title="", created_at=NOW - timedelta(days=5),
                           body="The delivery was two weeks late. Awful service.")  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])
    score(unhappy, 0.81, "high", "lapsing high spenders")
    no_consent = CustomerFactory(marketing_consent=False)
    OrderFactory(customer=no_consent, placed_at=NOW - timedelta(days=2))
    score(no_consent, 0.9, "high", "loyal high spenders")
    browser = CustomerFactory(marketing_consent=True)
    score(browser, 0.45, "medium", "browsers, no order yet")
    calm = CustomerFactory(marketing_consent=True)
    OrderFactory(customer=calm, placed_at=NOW - timedelta(days=3), total=Decimal("40.00"))
    score(calm, 0.1, "low", "loyal high spenders")
    return {"unhappy": unhappy, "no_consent": no_consent, "browser": browser, "calm": calm}


def matched(shop: dict, **conditions) -> set[str]:
    rule = Rule(name="r", action=Action.COUPON, coupon_kind=CouponKind.PERCENT,
                coupon_value=Decimal(10), coupon_valid_days=7, **conditions)  # fmt: skip
    ids = set(rule_matches(rule).values_list("pk", flat=True))
    return {name for name, customer in shop.items() if customer.pk in ids}


def test_each_condition_selects_the_customers_it_describes(shop) -> None:
    assert matched(shop) == {"unhappy", "browser", "calm"}  # a coupon needs consent
    assert matched(shop, min_band="medium") == {"unhappy", "browser"}
    assert matched(shop, min_probability=0.5) == {"unhappy"}
    assert matched(shop, segments=["loyal high spenders"]) == {"calm"}
    assert matched(shop, negative_aspects=["delivery"]) == {"unhappy"}
    assert matched(shop, negative_aspects=["price"]) == set()
    assert matched(shop, max_sentiment_30d=-0.2) == {"unhappy"}
    assert matched(shop, min_spend_365d=Decimal(100)) == {"unhappy"}
    assert matched(shop, max_spend_365d=Decimal(100)) == {"browser", "calm"}
    assert matched(shop, open_ticket=TicketCondition.OPEN) == {"unhappy"}
    assert matched(shop, open_ticket=TicketCondition.NONE) == {"browser", "calm"}
    assert matched(shop, min_days_since_order=30) == {"unhappy", "browser"}  # never = long ago
    assert matched(shop, max_days_since_order=30) == {"calm"}
    # Calls do not need consent unless the rule asks for it.
    rule = Rule(name="call", action=Action.CALL, call_instructions="Ask", call_due_hours=24,
                requires_consent=False, min_band="high")  # fmt: skip
    assert set(rule_matches(rule)) == {shop["unhappy"], shop["no_consent"]}


def test_risk_conditions_read_the_score_that_was_newest_at_the_moment_asked(shop) -> None:
    """Now, the current risk decides (0.81, high); as of two days ago, the older score
    did (0.05, low), and a fresh score written later does not leak into that past."""
    rule = Rule(name="call", action=Action.CALL, call_instructions="Ask", call_due_hours=24,
                requires_consent=False, min_band="high")  # fmt: skip
    assert set(rule_matches(rule)) == {shop["unhappy"], shop["no_consent"]}
    assert set(rule_matches(rule, at=NOW - timedelta(days=2))) == set()
    record_scores([ChurnScore(customer=shop["calm"], model_version=ModelVersion.objects.get(),
                              horizon_days=60, probability=0.95, band="high",
                              scored_at=NOW + timedelta(minutes=1))])  # fmt: skip
    assert set(rule_matches(rule, at=NOW + timedelta(minutes=2))) == {
        shop["unhappy"], shop["no_consent"], shop["calm"]}  # fmt: skip
    assert set(rule_matches(rule, at=NOW)) == {shop["unhappy"], shop["no_consent"]}


def test_the_dry_run_counts_shows_the_riskiest_and_warns(shop, admin_client) -> None:
    rule = Rule.objects.create(name="Win back", action=Action.COUPON,
                               coupon_kind=CouponKind.PERCENT, coupon_value=Decimal(10),
                               coupon_valid_days=7, segments=["loyal bargain hunters"])  # fmt: skip
    empty = rule_dry_run(rule)
    assert (
        empty.matching == 0
        and "No customer is in segment loyal bargain hunters" in (empty.warnings[0])
    )

    rule.segments = []
    rule.min_band = "medium"
    rule.save()
    result = rule_dry_run(rule)
    assert result.matching == 2 and result.sample == [shop["unhappy"], shop["browser"]]
    page = admin_client.get(reverse("admin:interventions_rule_change", args=[rule.pk]))
    text = page.content.decode()
    assert "This rule would match 2 customers now" in text
    assert "81% risk, high, lapsing high spenders" in text

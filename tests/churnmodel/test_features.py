"""Churn features and labels are point-in-time: nothing dated after the cutoff leaks in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.conf import settings
from django.utils import timezone

from churnmodel.features import feature_frame
from churnmodel.labels import IncompleteWindowError, churn_labels
from crm.models import Event, Ticket, TicketMessage
from sentiment.services import texts_score
from tests.factories import (
    CustomerFactory,
    EventFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    TicketMessageFactory,
)

pytestmark = pytest.mark.django_db

CUTOFF = timezone.now() - timedelta(days=100)


def at(days_before_cutoff: float) -> object:
    return CUTOFF - timedelta(days=days_before_cutoff)


@pytest.fixture
def customer():
    """Orders every 20 days up to 10 days before the cutoff, visits, a ticket, reviews."""
    customer = CustomerFactory(signed_up_at=at(400))
    for days in (90, 70, 50, 30, 10):
        OrderFactory(customer=customer, placed_at=at(days), total=Decimal("50.00"),
                     delivered_at=None, promised_delivery_date=None)  # fmt: skip
    EventFactory(customer=customer, kind=Event.Kind.VISIT, occurred_at=at(2))
    ticket = TicketFactory(customer=customer, opened_at=at(5), solved_at=at(4),
                           status=Ticket.Status.SOLVED)  # fmt: skip
    TicketMessageFactory(ticket=ticket, created_at=at(5))
    review = ReviewFactory(customer=customer, rating=1, title="", created_at=at(3),
                           body="It ripped after one wash. Awful quality.")  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk, ticket.messages.get().customer_text.pk])
    return customer


def test_features_describe_the_customer_as_of_the_cutoff(customer) -> None:
    row = feature_frame(CUTOFF).loc[customer.pk]

    # Windows are (T - d, T]: the orders exactly 30 and 90 days back fall outside.
    assert row["orders_total"] == 5 and row["orders_30d"] == 1 and row["orders_90d"] == 4
    assert row["recency_days"] == pytest.approx(10)
    assert row["usual_gap_days"] == pytest.approx(20)
    assert row["gap_ratio"] == pytest.approx(0.5)
    assert row["avg_order_value"] == pytest.approx(50)
    assert row["days_since_last_visit"] == pytest.approx(2)
    assert (row["tickets_total"], row["tickets_open"]) == (1, 0)
    assert row["solve_hours_avg"] == pytest.approx(24)
    assert (row["reviews_total"], row["low_ratings"]) == (1, 1)
    assert row["transformer_texts"] == 2 and row["transformer_min"] < -0.5


def test_records_dated_after_the_cutoff_never_change_its_features(customer) -> None:
    """GIVEN features at T WHEN orders, events, reviews, tickets and messages dated after T
    arrive (and an open ticket is solved after T) THEN T's features are identical."""
    before = feature_frame(CUTOFF)

    later = CUTOFF + timedelta(days=1)
    OrderFactory(customer=customer, placed_at=later, total=Decimal("999.00"))
    EventFactory(customer=customer, kind=Event.Kind.VISIT, occurred_at=later)
    open_ticket = TicketFactory(customer=customer, opened_at=at(1), solved_at=None)
    before_open = feature_frame(CUTOFF)
    open_ticket.solved_at = later
    open_ticket.status = Ticket.Status.SOLVED
    open_ticket.save(update_fields=["solved_at", "status"])
    TicketFactory(customer=customer, opened_at=later)
    message = TicketMessageFactory(ticket=open_ticket, created_at=later,
                                   author_kind=TicketMessage.Author.CUSTOMER)  # fmt: skip
    review = ReviewFactory(customer=customer, created_at=later, rating=5)
    texts_score(text_ids=[review.customer_text.pk, message.customer_text.pk])
    CustomerFactory(signed_up_at=later)

    pd.testing.assert_frame_equal(feature_frame(CUTOFF), before_open)
    assert before_open.loc[customer.pk, "tickets_open"] == 1
    assert before.loc[customer.pk, "tickets_open"] == 0


def test_a_customer_without_orders_has_gone_without_one_since_signing_up() -> None:
    quiet = CustomerFactory(signed_up_at=at(50))
    row = feature_frame(CUTOFF).loc[quiet.pk]
    assert row["orders_total"] == 0 and row["spend_365d"] == 0
    assert row["recency_days"] == pytest.approx(50) and pd.isna(row["usual_gap_days"])
    assert row["tenure_days"] == pytest.approx(50)


def test_a_late_delivery_counts_once_it_is_known_at_the_cutoff() -> None:
    customer = CustomerFactory(signed_up_at=at(100))
    promised = at(20).date()
    OrderFactory(customer=customer, placed_at=at(25), promised_delivery_date=promised,
                 delivered_at=at(15))  # fmt: skip
    OrderFactory(customer=customer, placed_at=at(3), promised_delivery_date=at(-5).date(),
                 delivered_at=None)  # fmt: skip
    assert feature_frame(CUTOFF).loc[customer.pk, "late_deliveries"] == 1


def test_labels_say_who_bought_again_within_the_horizon() -> None:
    stays = CustomerFactory(signed_up_at=at(100))
    leaves = CustomerFactory(signed_up_at=at(100))
    OrderFactory(customer=stays, placed_at=at(10))
    OrderFactory(customer=stays, placed_at=CUTOFF + timedelta(days=30))
    OrderFactory(customer=leaves, placed_at=at(10))
    OrderFactory(customer=leaves, placed_at=CUTOFF + timedelta(days=70))  # after the window

    labels = churn_labels(CUTOFF, horizon_days=60)

    assert labels.to_dict() == {stays.pk: 0.0, leaves.pk: 1.0}


def test_a_cutoff_whose_window_is_not_over_is_refused_naming_the_latest_valid_one() -> None:
    OrderFactory(placed_at=CUTOFF)
    with pytest.raises(
        IncompleteWindowError, match=f"latest is {(CUTOFF - timedelta(days=60)):%Y-%m-%d}"
    ):
        churn_labels(CUTOFF - timedelta(days=30), horizon_days=60)


def test_text_features_use_overrides_ignore_other_languages_and_count_aspects() -> None:
    """GIVEN a customer with a delivery complaint, a German review and a happy review that
    an agent relabelled negative THEN the German text counts nowhere, the override counts
    as negative, and the delivery complaint is a negative delivery mention."""
    from sentiment.services import label_override_create

    customer = CustomerFactory(signed_up_at=at(200))
    late = ReviewFactory(customer=customer, title="", created_at=at(40),
                         body="The parcel arrived three weeks late. Very annoying.")  # fmt: skip
    german = ReviewFactory(
        customer=customer, title="", created_at=at(20),
        body="Das Kleid kam kaputt an und niemand antwortet auf meine Mails.",
    )  # fmt: skip
    happy = ReviewFactory(customer=customer, title="", created_at=at(5),
                          body="Oh great, just what I needed, another broken zip!")  # fmt: skip
    ids = [r.customer_text.pk for r in (late, german, happy)]
    texts_score(text_ids=ids)
    label_override_create(text=happy.customer_text, label="negative", user=None)

    row = feature_frame(CUTOFF).loc[customer.pk]

    assert row["texts_scored"] == 2  # the German review is not read
    assert row["share_negative"] == 1.0
    assert row["negative_delivery"] == 1
    assert row["transformer_texts"] == 2
    assert row["sentiment_last"] == pytest.approx(
        happy.customer_text.scores.get(analyzer="transformer").score
    )


COMPARE = "compare" in settings.DATABASES


@pytest.mark.skipif(not COMPARE, reason="set COMPARE_DATABASE_URL to compare with PostgreSQL")
@pytest.mark.django_db(databases=["default", "compare"] if COMPARE else ["default"])
def test_sqlite_and_postgresql_compute_identical_features(customer) -> None:
    """GIVEN the same rows in SQLite and in PostgreSQL THEN every feature at the cutoff is
    the same on both (to float rounding): the SQL is portable, not engine-specific."""
    from django.contrib.auth import get_user_model

    from crm.models import Customer, CustomerText, Event, Order, Review
    from sentiment.models import AspectMention, LabelOverride, SentimentScore

    engines = {settings.DATABASES[a]["ENGINE"].rsplit(".", 1)[-1] for a in ("default", "compare")}
    assert engines == {"sqlite3", "postgresql"}
    late = CustomerFactory(signed_up_at=at(300))
    OrderFactory(customer=late, placed_at=at(60), promised_delivery_date=at(58).date(),
                 delivered_at=at(50), total=Decimal("12.34"))  # fmt: skip
    OrderFactory(customer=late, placed_at=at(200), total=Decimal("99.99"))
    EventFactory(customer=late, kind=Event.Kind.ADD_TO_CART, occurred_at=at(45))
    CustomerFactory(signed_up_at=at(20))  # no orders at all
    review = ReviewFactory(customer=late, created_at=at(44), rating=2, title="",
                           body="Delivery took forever and the box was crushed.")  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])

    for model in (get_user_model(), Customer, Order, Event, Review, Ticket, TicketMessage,
                  CustomerText, SentimentScore, AspectMention, LabelOverride):  # fmt: skip
        model.objects.using("compare").bulk_create(list(model.objects.using("default").all()))

    frames = [feature_frame(CUTOFF, using=alias) for alias in ("default", "compare")]
    assert len(frames[0]) == 3
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=False, rtol=1e-9)


def test_returns_cancellations_and_reopens_count_only_once_they_happened() -> None:
    from crm.models import Order, TicketReopening

    customer = CustomerFactory(signed_up_at=at(300))
    OrderFactory(customer=customer, placed_at=at(20), status=Order.Status.RETURNED,
                 returned_at=at(10))  # fmt: skip
    OrderFactory(customer=customer, placed_at=at(5), status=Order.Status.RETURNED,
                 returned_at=CUTOFF + timedelta(days=2))  # fmt: skip
    OrderFactory(customer=customer, placed_at=at(4), status=Order.Status.CANCELLED,
                 cancelled_at=at(3))  # fmt: skip
    OrderFactory(customer=customer, placed_at=at(30), status=Order.Status.RETURNED,
                 returned_at=None)  # returned at an unknown time: never counted  # fmt: skip
    ticket = TicketFactory(customer=customer, opened_at=at(40), solved_at=at(39))
    TicketReopening.objects.bulk_create([
        TicketReopening(ticket=ticket, reopened_at=at(20)),
        TicketReopening(ticket=ticket, reopened_at=CUTOFF + timedelta(days=1)),
        TicketReopening(ticket=ticket, reopened_at=None, recorded_at=at(1)),
        TicketReopening(ticket=ticket, reopened_at=None, recorded_at=CUTOFF + timedelta(days=1)),
    ])  # fmt: skip

    row = feature_frame(CUTOFF).loc[customer.pk]

    assert (row["returns_365d"], row["cancellations_365d"]) == (1, 1)
    assert row["tickets_reopened_90d"] == 2

"""generate_demo: a believable shop, deterministic for a seed, with a hidden churn truth.

The statistical tests use fixed seeds, so they are deterministic; their thresholds also held
for each of seeds 1-12 when they were written (the effects are built into the hidden model,
see crm.demo.world.ChurnModel).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Max, Min

from crm.demo import world
from crm.demo.truth import COLUMNS, read_truth
from crm.models import (
    Customer,
    CustomerText,
    Event,
    Order,
    Review,
    Ticket,
    TicketMessage,
    TicketReopening,
)
from crm.signals import customer_texts_saved

pytestmark = pytest.mark.django_db

END = date(2025, 6, 30)


def generate(truth: Path, customers: int = 300, seed: int = 11, **options: object) -> None:
    options.setdefault("no_score", True)
    call_command(
        "generate_demo",
        customers=customers,
        seed=seed,
        end_date=END.isoformat(),
        truth_file=str(truth),
        verbosity=0,
        **options,
    )


def data_digest() -> str:
    """A hash of every generated fact, with relations by external id (pks may differ)."""
    digest = hashlib.sha256()
    querysets = [
        Customer.objects.order_by("external_id").values_list(
            "external_id", "name", "email", "phone", "country", "signed_up_at",
            "marketing_consent",
        ),
        Order.objects.order_by("external_id").values_list(
            "external_id", "customer__external_id", "placed_at", "total", "currency",
            "item_count", "status", "delivered_at", "returned_at", "cancelled_at",
            "promised_delivery_date", "coupon_code",
        ),
        Event.objects.order_by("customer__external_id", "occurred_at", "kind").values_list(
            "customer__external_id", "kind", "occurred_at", "payload"
        ),
        Review.objects.order_by("external_id").values_list(
            "external_id", "customer__external_id", "order__external_id", "product_ref",
            "rating", "title", "body", "created_at",
        ),
        Ticket.objects.order_by("external_id").values_list(
            "external_id", "customer__external_id", "subject", "channel", "status", "priority",
            "opened_at", "solved_at", "reopened_count", "assigned_agent__username",
        ),
        TicketReopening.objects.order_by("ticket__external_id", "reopened_at").values_list(
            "ticket__external_id", "reopened_at", "recorded_at"
        ),
        TicketMessage.objects.order_by("external_id").values_list(
            "external_id", "ticket__external_id", "author_kind", "author_agent__username",
            "body", "created_at",
        ),
    ]  # fmt: skip
    for queryset in querysets:
        for row in queryset.iterator():
            digest.update(repr(row).encode())
    return digest.hexdigest()


def churn_by_customer(truth_path: Path) -> pd.DataFrame:
    """The truth joined with per-customer facts read back from the database."""
    truth = read_truth(truth_path).set_index("external_id")
    delivered = pd.DataFrame(
        Order.objects.exclude(delivered_at=None).values_list(
            "customer__external_id", "delivered_at", "promised_delivery_date"
        ),
        columns=["external_id", "delivered_at", "promised"],
    )
    delivered["late"] = delivered["delivered_at"].dt.date > delivered["promised"]
    per_customer = delivered.groupby("external_id").agg(
        delivered=("late", "size"), late=("late", "sum")
    )
    return truth.join(per_customer).fillna({"delivered": 0, "late": 0})


def test_same_seed_gives_identical_data_and_truth_and_another_seed_does_not(
    tmp_path: Path,
) -> None:
    """GIVEN a demo generated with seed 11
    WHEN it is flushed and generated again with seed 11, then with seed 12
    THEN the first two are identical row for row (and truth file), the third differs."""
    generate(tmp_path / "a.csv")
    first = data_digest()
    generate(tmp_path / "b.csv", flush=True)
    assert data_digest() == first
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()

    generate(tmp_path / "c.csv", seed=12, flush=True)
    assert data_digest() != first
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "a.csv").read_bytes()


def test_counts_per_customer_are_in_plausible_ranges(tmp_path: Path) -> None:
    generate(tmp_path / "truth.csv")
    n = Customer.objects.count()
    assert n == 300
    assert 6 <= Order.objects.count() / n <= 14  # about every 3 weeks while a customer
    assert 18 <= Event.objects.count() / n <= 60
    assert 0.8 <= Review.objects.count() / n <= 2.5
    assert 0.25 <= Ticket.objects.count() / n <= 1.0
    assert 2 <= TicketMessage.objects.count() / Ticket.objects.count() <= 6
    assert set(Event.objects.values_list("kind", flat=True)) == set(Event.Kind.values)
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"delivered", "returned", "cancelled"} <= statuses
    assert {"solved", "closed"} <= set(Ticket.objects.values_list("status", flat=True))
    # Every review and customer message has its CustomerText; agent messages do not.
    customer_messages = TicketMessage.objects.filter(author_kind="customer").count()
    assert CustomerText.objects.count() == Review.objects.count() + customer_messages
    assert TicketMessage.objects.filter(author_kind="agent").exists()
    assert Customer.objects.filter(external_id="CUST-000001").exists()
    assert Order.objects.filter(external_id="ORD-0000001").exists()
    assert not Customer.objects.exclude(email__regex=r"@example\.(com|net|org)$").exists()
    truth = read_truth(tmp_path / "truth.csv")
    assert 0.15 <= truth["churned"].mean() <= 0.6  # some stopped, most are still here


def test_late_orders_are_delivered_after_their_promised_date(tmp_path: Path) -> None:
    generate(tmp_path / "truth.csv")
    delivered = Order.objects.exclude(delivered_at=None)
    late = [order for order in delivered if order.is_late]
    assert 0.03 <= len(late) / delivered.count() <= 0.25
    for order in late:
        assert order.delivered_at > datetime.combine(
            order.promised_delivery_date, datetime.max.time(), tzinfo=UTC
        )
    for order in Order.objects.all():
        assert order.promised_delivery_date > order.placed_at.date()
        assert order.delivered_at is None or order.delivered_at > order.placed_at
    # Only orders that have not (yet) arrived lack a delivery time.
    assert set(Order.objects.filter(delivered_at=None).values_list("status", flat=True)) <= {
        "placed",
        "cancelled",
    }
    assert not Order.objects.filter(status__in=["delivered", "returned"], delivered_at=None)


def test_returns_cancellations_and_reopens_are_dated_some_time_after_what_they_follow(
    tmp_path: Path,
) -> None:
    """GIVEN a demo shop THEN every returned order has a return time days after its delivery,
    every cancelled one a cancellation time shortly after checkout, no other order has
    either, and each reopened ticket has one reopening, after it was first solved."""
    generate(tmp_path / "truth.csv")
    returned = Order.objects.filter(status="returned")
    cancelled = Order.objects.filter(status="cancelled")
    assert returned.count() >= 20 and cancelled.count() >= 5
    assert not returned.filter(returned_at=None).exists()
    assert not cancelled.filter(cancelled_at=None).exists()
    assert not Order.objects.exclude(status="returned").exclude(returned_at=None).exists()
    assert not Order.objects.exclude(status="cancelled").exclude(cancelled_at=None).exists()
    for order in returned:
        assert order.delivered_at + timedelta(days=2) <= order.returned_at
    waits = [(o.cancelled_at - o.placed_at).total_seconds() / 86400 for o in cancelled]
    assert min(waits) > 0 and np.median(waits) < 2
    delays = [(o.returned_at - o.placed_at).days for o in returned]
    assert np.median(delays) >= 5

    reopened = Ticket.objects.filter(reopened_count__gt=0)
    assert reopened.count() >= 5
    assert not Ticket.objects.exclude(reopened_count=0).exclude(reopened_count=1).exists()
    assert TicketReopening.objects.count() == reopened.count()
    for reopening in TicketReopening.objects.select_related("ticket"):
        ticket = reopening.ticket
        assert reopening.reopened_at > ticket.opened_at + timedelta(days=1)
        assert reopening.recorded_at == reopening.reopened_at
        assert ticket.solved_at is None or ticket.solved_at > reopening.reopened_at


def test_texts_vary_in_wording(tmp_path: Path) -> None:
    generate(tmp_path / "truth.csv")
    bodies = list(Review.objects.values_list("body", flat=True))
    assert len(set(bodies)) / len(bodies) > 0.8
    assert len(set(Review.objects.values_list("title", flat=True))) > 40
    messages = list(
        TicketMessage.objects.filter(author_kind="customer").values_list("body", flat=True)
    )
    assert len(set(messages)) / len(messages) > 0.6
    # Details from the records: order numbers in tickets, the shop's products in reviews.
    assert any("ORD-" in message for message in messages)
    assert Ticket.objects.filter(subject__contains="ORD-").exists()
    assert len(set(Review.objects.values_list("product_ref", flat=True))) > 50


def test_ground_truth_is_a_file_with_a_row_per_customer_and_in_no_table(tmp_path: Path) -> None:
    generate(tmp_path / "truth.csv")
    truth = read_truth(tmp_path / "truth.csv")
    assert list(truth.columns) == list(COLUMNS)
    assert sorted(truth["external_id"]) == sorted(
        Customer.objects.values_list("external_id", flat=True)
    )
    assert truth["churn_propensity"].between(0, 1).all()
    churned = truth["churned"] == 1
    assert (truth.loc[churned, "churn_propensity"] == 1).all()
    # Those still here: mostly low, a few with fresh bad experiences close to certain.
    assert truth.loc[~churned, "churn_propensity"].mean() < 0.3
    assert truth.loc[churned, "churned_at"].notna().all()
    assert truth.loc[~churned, "churned_at"].isna().all()
    causes = {cause for value in truth["main_causes"] for cause in value.split(";") if cause}
    assert causes <= set(world.CAUSES)
    assert {"late_delivery", "product_quality"} <= causes
    assert truth["price_sensitivity"].between(0, 1).all()
    assert truth["service_sensitivity"].between(0, 1).all()

    hidden = set(COLUMNS) - {"external_id"}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = {
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            }
            assert not columns & hidden, f"{table} holds ground truth columns"


def test_customers_whose_texts_are_mostly_negative_churn_more_than_positive_ones(
    tmp_path: Path,
) -> None:
    """GIVEN 2,000 customers and the generator's own tone label for each of their texts
    THEN those writing mostly negative texts churn clearly more often than those writing
    mostly positive ones, also among customers who never had a late delivery."""
    generate(tmp_path / "truth.csv", customers=2000, seed=5)
    data = churn_by_customer(tmp_path / "truth.csv")
    tones = data[["texts_negative", "texts_mixed", "texts_neutral", "texts_positive"]]
    total = tones.sum(axis=1)
    negative = data[(total > 0) & (data["texts_negative"] > total / 2)]
    positive = data[(total > 0) & (data["texts_positive"] > total / 2)]
    assert len(negative) >= 100 and len(positive) >= 300
    assert negative["churned"].mean() >= positive["churned"].mean() + 0.2

    negative = negative[negative["late"] == 0]
    positive = positive[positive["late"] == 0]
    assert len(negative) >= 50
    assert negative["churned"].mean() >= positive["churned"].mean() + 0.15


def test_late_deliveries_raise_churn(tmp_path: Path) -> None:
    """GIVEN 2,000 customers, compared within bands of how many orders arrived
    THEN those with a late delivery churned more often than those without, in every band."""
    generate(tmp_path / "truth.csv", customers=2000, seed=6)
    data = churn_by_customer(tmp_path / "truth.csv")
    differences = []
    for low, high in ((1, 3), (3, 6), (6, 10)):
        band = data[(data["delivered"] >= low) & (data["delivered"] < high)]
        with_late = band[band["late"] > 0]
        on_time = band[band["late"] == 0]
        assert len(with_late) >= 40 and len(on_time) >= 40
        differences.append(with_late["churned"].mean() - on_time["churned"].mean())
    assert min(differences) >= 0.05, differences
    assert np.mean(differences) >= 0.12, differences


def test_refuses_a_database_with_customers_unless_told_to_append_or_flush(
    tmp_path: Path,
) -> None:
    truth = tmp_path / "truth.csv"
    generate(truth, customers=40)
    with pytest.raises(CommandError, match=r"--append.*--flush"):
        generate(truth, customers=40)
    assert Customer.objects.count() == 40

    generate(truth, customers=25, seed=3, append=True)
    assert Customer.objects.count() == 65
    assert Customer.objects.filter(external_id="CUST-000065").exists()
    assert len(read_truth(truth)) == 65

    generate(truth, customers=30, flush=True)
    assert Customer.objects.count() == 30
    assert sorted(read_truth(truth)["external_id"]) == sorted(
        Customer.objects.values_list("external_id", flat=True)
    )


def test_nothing_is_dated_after_the_end_date(tmp_path: Path) -> None:
    """Promised delivery dates are left out: an order in transit was promised for later."""
    generate(tmp_path / "truth.csv")
    end_of_day = datetime(END.year, END.month, END.day, tzinfo=UTC) + timedelta(days=1)
    start = end_of_day - timedelta(days=7 * world.WEEKS)
    bounds = [
        Customer.objects.aggregate(lo=Min("signed_up_at"), hi=Max("signed_up_at")),
        Order.objects.aggregate(lo=Min("placed_at"), hi=Max("delivered_at")),
        Order.objects.aggregate(lo=Min("delivered_at"), hi=Max("placed_at")),
        Event.objects.aggregate(lo=Min("occurred_at"), hi=Max("occurred_at")),
        Review.objects.aggregate(lo=Min("created_at"), hi=Max("created_at")),
        Ticket.objects.aggregate(lo=Min("opened_at"), hi=Max("opened_at")),
        Ticket.objects.aggregate(lo=Min("solved_at"), hi=Max("solved_at")),
        Order.objects.aggregate(lo=Min("returned_at"), hi=Max("returned_at")),
        Order.objects.aggregate(lo=Min("cancelled_at"), hi=Max("cancelled_at")),
        TicketReopening.objects.aggregate(lo=Min("reopened_at"), hi=Max("reopened_at")),
        TicketMessage.objects.aggregate(lo=Min("created_at"), hi=Max("created_at")),
        CustomerText.objects.aggregate(lo=Min("written_at"), hi=Max("written_at")),
    ]
    for bound in bounds:
        assert start <= bound["lo"] and bound["hi"] < end_of_day
    # The last week is busy, not empty: the shop runs right up to the end date.
    assert Event.objects.filter(occurred_at__gte=end_of_day - timedelta(days=7)).count() > 50
    churned_at = read_truth(tmp_path / "truth.csv")["churned_at"].dropna()
    assert churned_at.max() < pd.Timestamp(end_of_day)


def test_end_date_in_the_future_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="future"):
        call_command(
            "generate_demo",
            customers=5,
            end_date=(date.today() + timedelta(days=3)).isoformat(),
            truth_file=str(tmp_path / "truth.csv"),
            verbosity=0,
        )
    assert not Customer.objects.exists()


def test_texts_are_announced_to_the_pipeline_after_commit_unless_no_score(
    tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    announced: list[int] = []

    def receiver(sender: object, text_ids: list[int], **kwargs: object) -> None:
        announced.extend(text_ids)

    customer_texts_saved.connect(receiver, dispatch_uid="test_demo")
    try:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            generate(tmp_path / "truth.csv", customers=60, no_score=False)
        assert sorted(announced) == sorted(CustomerText.objects.values_list("pk", flat=True))
        assert announced

        announced.clear()
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            generate(tmp_path / "truth.csv", customers=60, flush=True)
        assert announced == []
    finally:
        customer_texts_saved.disconnect(dispatch_uid="test_demo")


def test_events_thin_out_after_a_customer_stops(tmp_path: Path) -> None:
    """Churned customers place no orders after they stop, and browse far less."""
    generate(tmp_path / "truth.csv", customers=600, seed=8)
    truth = read_truth(tmp_path / "truth.csv")
    last_day = pd.Timestamp(datetime(END.year, END.month, END.day, tzinfo=UTC))
    stopped = truth[
        (truth["churned"] == 1) & (truth["churned_at"] < last_day - pd.Timedelta(days=90))
    ]
    assert len(stopped) >= 50
    stopped_at = dict(zip(stopped["external_id"], stopped["churned_at"], strict=True))
    month = timedelta(days=28)
    orders_after = 0
    before, after = [], []
    for customer in Customer.objects.filter(external_id__in=list(stopped_at)):
        when = stopped_at[customer.external_id].to_pydatetime()
        orders_after += customer.orders.filter(placed_at__gt=when).count()
        before.append(customer.events.filter(occurred_at__range=(when - month, when)).count())
        after.append(
            customer.events.filter(occurred_at__range=(when + 2 * month, when + 3 * month)).count()
        )
    assert orders_after == 0
    assert np.mean(after) < 0.5 * np.mean(before)


def test_flush_also_deletes_rows_of_other_apps_that_depend_on_crm_rows(tmp_path: Path) -> None:
    """--flush cascades in SQL, not through Django's collector: check it still cascades."""
    from django.utils import timezone

    from sentiment.models import SentimentScore

    generate(tmp_path / "truth.csv", customers=40)
    text = CustomerText.objects.first()
    assert text is not None
    SentimentScore.objects.create(
        text=text, analyzer="test", analyzer_version="1", content_hash=text.content_hash,
        label="neutral", score=0.0, scored_at=timezone.now(),
    )  # fmt: skip
    generate(tmp_path / "truth.csv", customers=20, flush=True)
    assert not SentimentScore.objects.exists()
    assert Customer.objects.count() == 20

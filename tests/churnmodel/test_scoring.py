"""Scoring: every customer gets a probability over a stated horizon, a band, reasons in
words with their evidence, and a segment; the batch measures drift; history is kept."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from churnmodel import reasons, scoring, segments
from churnmodel.models import Band, ChurnScore, CurrentRisk, ModelVersion, ScoringRun, band_for
from churnmodel.registry import load
from crm.models import Customer, Order
from sentiment.services import texts_score
from tests.factories import CustomerFactory, OrderFactory, ReviewFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(shop) -> ModelVersion:
    call_command("churn_train", stdout=StringIO())
    return ModelVersion.objects.get(is_active=True)


def test_scoring_without_a_trained_model_says_to_train_one(shop) -> None:
    with pytest.raises(CommandError, match="churn_train"):
        call_command("churn_score", stdout=StringIO())
    assert not ChurnScore.objects.exists()


def test_the_batch_scores_every_customer_with_band_horizon_reasons_and_segment(
    trained, settings
) -> None:
    settings.CHURN_RISK_MEDIUM, settings.CHURN_RISK_HIGH = 0.25, 0.7
    never = CustomerFactory(signed_up_at=timezone.now() - timedelta(days=40))
    out = StringIO()
    call_command("churn_score", stdout=out)

    assert f"Scored {Customer.objects.count()} customers" in out.getvalue()
    scores = list(ChurnScore.objects.select_related("customer"))
    assert len(scores) == Customer.objects.count()
    for score in scores:
        assert 0 < score.probability < 1
        assert score.band == band_for(score.probability)
        assert score.horizon_days == 60 and score.model_version == trained
        assert score.statement.endswith("risk of no purchase in the next 60 days")
        assert score.reasons and all(r["text"] and r["direction"] in ("up", "down")
                                     for r in score.reasons)  # fmt: skip
        assert score.segment
    bands = {s.band for s in scores}
    assert bands == {Band.LOW, Band.MEDIUM, Band.HIGH}

    # Those who stopped buying long ago are high risk, and the gap is the first reason.
    lapsed = max(scores, key=lambda s: feature_gap(s.customer))
    assert lapsed.band == Band.HIGH
    assert lapsed.reasons[0]["key"] == "recency" and "no order for" in lapsed.reasons[0]["text"]
    newcomer = next(s for s in scores if s.customer == never)
    assert newcomer.segment == segments.NO_ORDER
    assert any("since signing up 40 days ago" in r["text"] for r in newcomer.reasons)


def feature_gap(customer: Customer) -> float:
    last = Order.objects.filter(customer=customer).order_by("-placed_at").first()
    return (timezone.now() - last.placed_at).days if last else -1


def test_rescoring_keeps_the_history(trained) -> None:
    scoring.score_all()
    customer = Customer.objects.first()
    OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(minutes=5))
    assert scoring.score_customers([customer.pk]) == 1

    history = list(ChurnScore.objects.filter(customer=customer).order_by("scored_at"))
    assert len(history) == 2 and history[0].run is not None and history[1].run is None
    assert history[1].segment  # the incremental score uses the batch's segments
    assert scoring.latest_scores().get(customer=customer) == history[1]


def test_current_risk_follows_the_newest_score_and_a_past_scoring_leaves_it(trained) -> None:
    """GIVEN the batch and then a customer's fresh re-score after an order
    WHEN the customer is also scored as of a month ago (as the simulation does)
    THEN their current risk is still the fresh score, with its spend and top reason."""
    scoring.score_all()
    assert CurrentRisk.objects.count() == Customer.objects.filter(is_erased=False).count()
    customer = Customer.objects.order_by("pk").first()
    OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(minutes=5),
                 total=Decimal("123.45"))  # fmt: skip
    scoring.score_customers([customer.pk])
    fresh = scoring.latest_scores().get(customer=customer)
    scoring.score_customers([customer.pk], at=timezone.now() - timedelta(days=30))

    current = CurrentRisk.objects.get(customer=customer)
    assert (current.probability, current.band, current.scored_at) == (
        fresh.probability, fresh.band, fresh.scored_at)  # fmt: skip
    up = [r["text"] for r in fresh.reasons if r["direction"] == "up"]
    assert current.top_reason == (up[0] if up else fresh.reasons[0]["text"])
    year = Order.objects.spend_in_year_to(fresh.scored_at).filter(customer=customer)
    assert current.spend_365d == sum(o.total for o in year) and current.spend_365d >= Decimal(
        "123.45")  # fmt: skip


def test_rebuilding_current_risk_gives_each_customers_newest_score(trained) -> None:
    scoring.score_all()
    some = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:5])
    scoring.score_customers(some)
    expected = {s.customer_id: (s.probability, s.scored_at) for s in scoring.latest_scores()}
    CurrentRisk.objects.all().delete()

    assert scoring.rebuild_current_risk(chunk_size=7) == len(expected)
    rebuilt = {r.customer_id: (r.probability, r.scored_at) for r in CurrentRisk.objects.all()}
    assert rebuilt == expected


def test_reason_weights_are_the_models_exact_contributions(trained) -> None:
    """The weights of all features plus the bias add up to the model's log-odds, for both
    algorithms: the reasons are the model's own arithmetic, not a separate guess."""
    from churnmodel.features import feature_frame
    from churnmodel.training import fit_predictor

    frame = feature_frame(timezone.now())
    predictor = load(trained)
    for algorithm in ("logistic_regression", "lightgbm"):
        from churnmodel.training import Dataset

        data = Dataset(frame, (frame["recency_days"] > 60).astype(int), frame["tenure_days"])
        model = fit_predictor(algorithm, data, predictor.features)
        matrix = model.matrix(frame)
        contributions = model.contributions(matrix).sum(axis=1).to_numpy()
        bias = (
            model.estimator.predict(matrix, pred_contrib=True)[:, -1]
            if algorithm == "lightgbm"
            else model.estimator[-1].intercept_[0]
        )
        np.testing.assert_allclose(contributions + bias, model.log_odds(matrix), rtol=1e-6)


def test_reasons_read_as_plain_words() -> None:
    row = {"recency_days": 74.2, "usual_gap_days": 21.0, "orders_total": 6,
           "negative_delivery": 3, "texts_scored": 4, "share_negative": 0.75,
           "sentiment_last": -0.8, "tickets_90d": 2, "tickets_open": 1}  # fmt: skip
    assert reasons.describe("recency", row) == "no order for 74 days, usually every 21"
    assert reasons.describe("aspect:delivery", row) == "3 negative mentions of delivery"
    assert reasons.describe("sentiment", row) == "3 of 4 texts negative, the latest negative"
    assert reasons.describe("tickets", row) == (
        "2 support tickets in the last 90 days, 1 still open"
    )


def test_text_reasons_link_to_the_texts_and_quote_the_evidence_sentence() -> None:
    customer = CustomerFactory()
    review = ReviewFactory(
        customer=customer, rating=1, title="", created_at=timezone.now() - timedelta(days=3),
        body="The delivery was two weeks late and nobody told me why. Really disappointed.",
    )  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])
    found = reasons.attach_evidence(
        {
            customer.pk: [
                {"key": "aspect:delivery", "direction": "up", "weight": 0.4, "text": "..."},
                {"key": "sentiment", "direction": "up", "weight": 0.3, "text": "..."},
                {"key": "recency", "direction": "up", "weight": 0.9, "text": "..."},
            ]
        },
        timezone.now(),
    )[customer.pk]
    delivery, sentiment, recency = found
    assert delivery["text_ids"] == [review.customer_text.pk]
    assert delivery["evidence"] == ["The delivery was two weeks late and nobody told me why."]
    assert sentiment["text_ids"] == [review.customer_text.pk]
    assert sentiment["evidence"] == ["Really disappointed."]  # its most negative sentence
    assert "text_ids" not in recency


def test_drift_is_flagged_when_the_population_moves(trained) -> None:
    calm = scoring.score_all()
    assert "avg_order_value" not in calm.drifted  # the same prices as in training
    # Suddenly everyone places three big orders today.
    now = timezone.now()
    Order.objects.bulk_create(
        Order(customer=c, placed_at=now - timedelta(hours=h), total=Decimal("900.00"))
        for c in Customer.objects.all()
        for h in (1, 2, 3)
    )
    moved = scoring.score_all()
    assert "orders_30d" in moved.drifted and "avg_order_value" in moved.drifted
    assert moved.drift["orders_30d"] > calm.drift["orders_30d"] + 0.2


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    assert scoring.psi([0.25] * 4, [0.25] * 4) == pytest.approx(0)
    assert (
        scoring.psi([0.25] * 4, [0.2, 0.25, 0.25, 0.3])
        < 0.2
        < scoring.psi([0.25] * 4, [0.7, 0.1, 0.1, 0.1])
    )


def test_segments_have_names_a_marketer_reads(trained) -> None:
    run = scoring.score_all()
    names = set(run.segments["names"])
    assert len(names) == 5
    stages = ("loyal", "steady", "new", "lapsing")
    kinds = ("high spenders", "bargain hunters", "frequent buyers", "occasional buyers")
    for name in names:
        assert name.startswith(stages) and any(kind in name for kind in kinds)
    assert sum(run.segments["sizes"].values()) == run.customers


def test_a_freshly_scored_text_hands_its_customer_to_the_churn_rescore_by_name() -> None:
    from sentiment.tasks import score_texts

    review = ReviewFactory(body="Broken on arrival.", rating=1)
    with mock.patch("celery.current_app.send_task") as send:
        score_texts([review.customer_text.pk])
        score_texts([review.customer_text.pk])  # already scored: nothing new to hand on
    send.assert_called_once_with("churnmodel.score_customers", args=([review.customer.pk],))


def test_a_fresh_install_trains_and_scores_once_its_texts_are_scored(shop) -> None:
    """The demo's bootstrap: it waits (re-queued, keeping what comes next) while texts
    still lack scores, then trains, activates and scores every customer and hands over to
    the next task; later runs leave the model alone."""
    from celery.exceptions import Retry

    from churnmodel import tasks
    from churnmodel.tasks import bootstrap

    review = ReviewFactory(customer=shop[0], body="Late again. Never buying here.", rating=1)
    with mock.patch.object(bootstrap, "retry", side_effect=Retry) as retry, pytest.raises(Retry):
        bootstrap(then="interventions.demo_season")
    retry.assert_called_once_with(countdown=15, kwargs={"then": "interventions.demo_season"})
    assert not ModelVersion.objects.exists()

    texts_score(text_ids=[review.customer_text.pk])
    with mock.patch.object(tasks.current_app, "send_task") as send:
        assert "Scored" in bootstrap(then="interventions.demo_season")
    send.assert_called_once_with("interventions.demo_season", args=())
    active = ModelVersion.objects.get(is_active=True)
    assert ChurnScore.objects.filter(model_version=active).count() == Customer.objects.count()
    assert bootstrap() == "a churn model is already active"


def test_a_new_order_or_ticket_queues_a_rescore_of_that_customer_after_commit(
    django_capture_on_commit_callbacks,
) -> None:
    from crm.services import order_upsert, ticket_upsert

    customer = CustomerFactory()
    with mock.patch("celery.current_app.send_task") as send:
        with django_capture_on_commit_callbacks(execute=True):
            order_upsert(external_id="O-NEW", customer=customer, placed_at=timezone.now(),
                         total=Decimal("20.00"))  # fmt: skip
            ticket_upsert(external_id="T-NEW", customer=customer, subject="Where is it?",
                          opened_at=timezone.now())  # fmt: skip
        assert send.call_args_list == [
            mock.call("churnmodel.score_customers", args=([customer.pk],))
        ]


def test_reasons_say_none_rather_than_zero() -> None:
    row = {"visit_30d": 0, "visit_trend_30d": -3, "days_since_last_visit": 45,
           "tickets_90d": 0, "tickets_open": 0}  # fmt: skip
    assert reasons.describe("browsing", row) == (
        "no visits in the last 30 days (-3 on the 30 days before); last visit 45 days ago"
    )
    assert reasons.describe("tickets", row) == "no support tickets in the last 90 days"


def test_a_failed_batch_is_recorded_on_its_run(trained) -> None:
    from churnmodel.models import ScoringRun

    failure = RuntimeError("disk full")
    with mock.patch.object(scoring, "_rows", side_effect=failure), pytest.raises(RuntimeError):
        scoring.score_all()
    run = ScoringRun.objects.get()
    assert run.finished_at is None and "disk full" in run.error


def test_a_rescore_message_delivered_twice_writes_one_row_per_customer(trained) -> None:
    customers = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:3])
    assert scoring.score_customers(customers, task_id="task-1") == 3
    assert scoring.score_customers(customers, task_id="task-1") == 0
    assert scoring.score_customers([*customers, customers[-1] + 1], task_id="task-1") <= 1
    assert ChurnScore.objects.filter(task_id="task-1").values("customer").distinct().count() == (
        ChurnScore.objects.filter(task_id="task-1").count())  # fmt: skip
    assert scoring.score_customers(customers[:1], task_id="task-2") == 1  # another message


def test_a_batch_redelivered_after_its_worker_died_finishes_the_same_run(trained) -> None:
    """GIVEN a nightly batch whose worker died after writing the first chunk
    WHEN the same message is delivered again, and then once more after it finished
    THEN the run is completed with every customer scored once, as of the run's moment."""
    everyone = Customer.objects.filter(is_erased=False).count()
    real = scoring.record_scores
    calls = []

    def first_chunk_then_die(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise SystemExit("killed")  # the first chunk is committed, the second not
        real(rows)

    with (
        mock.patch.object(scoring, "WRITE_CHUNK", 5),
        mock.patch.object(scoring, "record_scores", side_effect=first_chunk_then_die),
        pytest.raises(SystemExit),
    ):
        scoring.score_all(task_id="nightly-2")
    run = ScoringRun.objects.get(task_id="nightly-2")
    assert run.finished_at is None and run.scores.count() == 5

    again = scoring.score_all(task_id="nightly-2")
    assert again.pk == run.pk and again.finished_at is not None
    assert run.scores.count() == everyone == run.scores.values("customer").distinct().count()
    assert set(run.scores.values_list("scored_at", flat=True)) == {run.started_at}
    assert scoring.score_all(task_id="nightly-2").pk == run.pk
    assert run.scores.count() == everyone


def test_an_erased_customer_never_gets_a_current_risk_row(trained) -> None:
    """A score written for a customer whose erasure committed meanwhile (the race between
    a re-score and an erasure) leaves them off the at-risk list's table."""
    customer = Customer.objects.order_by("pk").first()
    scoring.score_customers([customer.pk])
    assert CurrentRisk.objects.filter(customer=customer).exists()
    fresh = scoring.latest_scores().get(customer=customer)
    Customer.objects.filter(pk=customer.pk).update(is_erased=True)
    fresh.pk = None
    fresh.scored_at = timezone.now()
    scoring.record_scores([fresh])
    assert not CurrentRisk.objects.filter(customer=customer).exists()

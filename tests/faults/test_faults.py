"""Nothing lost, nothing doubled: real workers killed, a broker stopped, a database
restarted, messages delivered twice. Each test ends by counting rows."""

from __future__ import annotations

import os
import random
import subprocess
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from churnmodel.models import ChurnScore
from crm.api.tokens import api_token_create
from crm.models import Customer, CustomerText, Review
from crm.texts import announce_texts, sync_review_texts
from interventions.models import Action, Coupon, CouponKind, Email, Intervention, Rule
from sentiment.models import SentimentScore
from tests.churnmodel.conftest import build_shop
from tests.factories import CustomerFactory, UserFactory
from tests.faults.conftest import (
    Workers,
    needs_own_redis,
    redis_start,
    redis_stop,
    wait_until,
)

pytestmark = [pytest.mark.faults, needs_own_redis, pytest.mark.django_db(transaction=True)]

WORDS = ("late", "broken", "lovely", "perfect", "rude", "slow", "great", "refund", "fits")


def reviews(n: int, seed: int = 3) -> list[int]:
    """n reviews by n customers in one transaction; their texts are queued on commit."""
    rng = random.Random(seed)
    with transaction.atomic():
        customers = [CustomerFactory(external_id=f"F{seed}-{i:05d}") for i in range(n)]
        made = Review.objects.bulk_create(
            Review(external_id=f"FR{seed}-{i:05d}", customer=c, rating=rng.randint(1, 5),
                   title="", created_at=timezone.now() - timedelta(days=1),
                   body=" ".join(rng.choice(WORDS) for _ in range(12)) + f". Order {i}.")
            for i, c in enumerate(customers)
        )  # fmt: skip
        announce_texts(sync_review_texts(made))
    return list(CustomerText.objects.filter(review__in=made).values_list("pk", flat=True))


def vader_scored(text_ids: list[int]) -> int:
    return SentimentScore.objects.filter(text__in=text_ids, analyzer="vader").count()


def assert_each_scored_once(text_ids: list[int]) -> None:
    per_text = (
        SentimentScore.objects.filter(text__in=text_ids)
        .values("text", "analyzer", "analyzer_version")
        .annotate(n=Count("pk"))
    )
    counts = {(row["text"], row["analyzer"]): row["n"] for row in per_text}
    assert len(counts) == len(text_ids), "some texts have no score"
    assert set(counts.values()) == {1}, "some text was scored twice"


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(workers: Workers) -> None:
    """GIVEN 1,000 texts queued and a worker scoring them
    WHEN it is killed with SIGKILL part-way and another worker is started
    THEN all 1,000 are scored, each exactly once: the dead worker's unacknowledged
    messages come back (late acknowledgement) and are finished, not redone."""
    text_ids = reviews(1000)
    first, _ = workers.start()
    wait_until(lambda: vader_scored(text_ids) >= 100, 120, "the first worker to start")
    workers.kill(first)
    at_kill = vader_scored(text_ids)
    assert at_kill < 1000, "the worker finished before it was killed; nothing was tested"

    workers.start()
    wait_until(lambda: vader_scored(text_ids) == 1000, 180, "all 1,000 texts scored")
    time.sleep(3)  # any late duplicate would land now
    assert_each_scored_once(text_ids)


def _succeeded(log_path, task_id: str) -> int:
    return log_path.read_text().count(f"[{task_id}] succeeded")


def test_each_message_delivered_twice_does_its_work_once(workers: Workers, settings) -> None:
    """GIVEN a trained churn model, a coupon-and-email rule and a customer who wrote a review
    WHEN every stage's message (score the text, re-score the customer, decide, carry out)
    is delivered twice with the same task id
    THEN there is one score per analyzer, one new risk row, one intervention, one coupon
    and one email."""
    from config.celery_app import app

    build_shop(customers=160)
    call_command("churn_train", stdout=StringIO())
    Rule.objects.create(name="win back", action=Action.COUPON, coupon_kind=CouponKind.PERCENT,
                        coupon_value=Decimal(10), coupon_valid_days=14,
                        email_subject="A thank-you", holdout_share=Decimal(0))  # fmt: skip
    customer = CustomerFactory(marketing_consent=True, email="dup@shop.example")
    review = Review.objects.create(external_id="DUP-1", customer=customer, rating=1, title="",
                                   body="Broken on arrival. Awful.",
                                   created_at=timezone.now())  # fmt: skip
    text = CustomerText.objects.get(review=review)
    mail_dir = os.path.join(str(settings.VAR_DIR), "fault-mail")
    _, log = workers.start(TEST_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                           TEST_EMAIL_FILE_PATH=mail_dir)  # fmt: skip
    stages = [
        ("sentiment.score_texts", ([text.pk],), "dup-text"),
        ("churnmodel.score_customers", ([customer.pk],), "dup-risk"),
        ("interventions.decide_customers", ([customer.pk],), "dup-decide"),
    ]
    for name, args, task_id in stages:
        for _ in range(2):
            app.send_task(name, args=args, task_id=task_id)
        wait_until(lambda task_id=task_id: _succeeded(log, task_id) == 2, 120, f"{name} twice")
    intervention = Intervention.objects.get(customer=customer)
    for _ in range(2):
        app.send_task("interventions.carry_out", args=(intervention.pk,), task_id="dup-carry")
    wait_until(lambda: _succeeded(log, "dup-carry") == 2, 120, "carry_out twice")
    time.sleep(2)

    assert SentimentScore.objects.filter(text=text).count() == 1  # vader only, once
    # (The text's own hand-over re-scores the customer too: that is another message.)
    assert ChurnScore.objects.filter(customer=customer, task_id="dup-risk").count() == 1
    assert Intervention.objects.filter(customer=customer).count() == 1
    assert Coupon.objects.filter(intervention__customer=customer).count() == 1
    assert Email.objects.filter(intervention__customer=customer).count() == 1
    sent = os.listdir(mail_dir) if os.path.isdir(mail_dir) else []
    assert len(sent) == 1, f"{len(sent)} emails went out"


def test_the_api_keeps_taking_reviews_while_redis_is_down_and_the_sweeper_catches_up(
    workers: Workers, redis_restored: None
) -> None:
    """GIVEN a worker and the API
    WHEN Redis is stopped for 30 s while reviews keep arriving, then started again
    THEN every request was answered 201, every review is stored, and after the sweeper
    runs every one of them is scored once."""
    from config.celery_app import app

    user = UserFactory(is_superuser=True)
    _, key = api_token_create(name="fault test", user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    CustomerFactory(external_id="C-OUTAGE")
    workers.start()
    redis_stop()
    statuses = []
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 30:
        response = client.post("/api/reviews/", {
            "external_id": f"R-OUTAGE-{n}", "customer": "C-OUTAGE", "rating": 2,
            "body": f"Parcel {n} was late and the box was crushed.",
            "created_at": timezone.now().isoformat()}, format="json")  # fmt: skip
        statuses.append(response.status_code)
        n += 1
        time.sleep(0.1)
    redis_start()

    assert n >= 50 and set(statuses) == {201}, f"{n} requests: {sorted(set(statuses))}"
    ids = list(CustomerText.objects.filter(review__external_id__startswith="R-OUTAGE-")
               .values_list("pk", flat=True))  # fmt: skip
    assert len(ids) == n
    app.send_task("sentiment.sweep_unscored")  # what beat sends every few minutes
    wait_until(lambda: vader_scored(ids) == n, 180, "the swept reviews scored")
    time.sleep(2)
    assert_each_scored_once(ids)


RESTART_POSTGRES = os.environ.get("FAULTS_RESTART_POSTGRES") == "1"


@pytest.mark.skipif(not RESTART_POSTGRES, reason="restarts the machine's PostgreSQL: set "
                    "FAULTS_RESTART_POSTGRES=1")  # fmt: skip
def test_a_postgresql_restart_mid_work_is_retried_and_leaves_no_partial_writes(
    workers: Workers,
) -> None:
    """GIVEN 600 texts being scored by a worker
    WHEN PostgreSQL restarts part-way
    THEN the tasks that failed retry with backoff and every text ends scored exactly once
    (each batch is one transaction: none half-written)."""
    text_ids = reviews(600, seed=11)
    workers.start()
    wait_until(lambda: vader_scored(text_ids) >= 50, 120, "scoring to start")
    connection.close()
    cluster = subprocess.run(["bash", "-c", "ls /etc/postgresql"], capture_output=True,
                             text=True, check=True).stdout.split()[0]  # fmt: skip
    # "fast" (the default): active transactions roll back, every client is disconnected.
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
                   check=True)  # fmt: skip
    wait_until(lambda: vader_scored(text_ids) == 600, 240, "all 600 texts scored")
    assert_each_scored_once(text_ids)


def test_a_corrupted_then_deleted_model_artifact_falls_back_then_stops_with_a_clear_error(
    workers: Workers, admin_client
) -> None:
    """GIVEN two trained versions, the newer active, and a worker running
    WHEN the active artifact is corrupted (half of it overwritten) and customers are
    re-scored, and then both artifacts are deleted and they are re-scored again
    THEN the first re-score is done by the older version (the refusal logged), the second
    writes nothing and says why in the log, and the admin shows each artifact refused."""
    from pathlib import Path

    from churnmodel import registry
    from churnmodel.models import ModelVersion
    from config.celery_app import app

    build_shop(customers=160)
    call_command("churn_train", stdout=StringIO())
    older = ModelVersion.objects.get(is_active=True)
    call_command("churn_train", stdout=StringIO())
    newer = ModelVersion.objects.latest("pk")
    registry._activate(newer, older, "a fault test promoting it by hand")
    customers = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:5])
    _, log = workers.start()

    artifact = Path(newer.artifact_path)
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2] + b"\0" * (len(data) - len(data) // 2))
    app.send_task("churnmodel.score_customers", args=(customers,), task_id="after-corrupt")
    wait_until(lambda: _succeeded(log, "after-corrupt") == 1, 120, "the re-score")
    scored = ChurnScore.objects.filter(task_id="after-corrupt")
    assert scored.count() == 5 and set(scored.values_list("model_version", flat=True)) == {
        older.pk}  # fmt: skip
    assert "does not match its checksum" in log.read_text()

    artifact.unlink()
    Path(older.artifact_path).unlink()
    app.send_task("churnmodel.score_customers", args=(customers,), task_id="after-delete")
    wait_until(lambda: _succeeded(log, "after-delete") == 1, 120, "the second re-score")
    assert not ChurnScore.objects.filter(task_id="after-delete").exists()
    assert "skipped" in log.read_text() and "is missing" in log.read_text()
    page = admin_client.get("/admin/churnmodel/modelversion/").content.decode()
    assert page.count("refused:") == 2 and "is missing" in page

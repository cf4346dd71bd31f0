"""Logs never contain review or ticket text, emails or phone numbers: a full pipeline pass
(API -> sentiment -> churn re-score -> decision -> email), run in-process with every
logger captured at DEBUG, leaves none of them in the log output."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from churnmodel.models import ChurnScore
from crm.models import CustomerText
from interventions.models import Action, Intervention, Rule
from sentiment.models import SentimentScore
from tests.churnmodel.conftest import build_shop
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NAME = "Henrietta Vollbracht"
EMAIL = "henrietta.vollbracht@logs.example"
PHONE = "+44 20 7946 0321"
REVIEW_TITLE = "Quaggle jacket fell apart"
REVIEW_BODY = "The Quaggle jacket tore at the seam after a week. Terrible Quaggle quality."
SUBJECT = "Refund for the Quaggle jacket"
MESSAGE = f"I returned the Quaggle jacket a month ago and have no refund. Call {PHONE}."
BAD_BODY = f"Write to {EMAIL} about the Quaggle order, rating nine."
SECRETS = [
    NAME,
    "Vollbracht",
    EMAIL,
    PHONE,
    "7946 0321",
    REVIEW_TITLE,
    REVIEW_BODY,
    SUBJECT,
    MESSAGE,
    BAD_BODY,
    "Quaggle",
]


def iso(days_ago: float) -> str:
    return (timezone.now() - timedelta(days=days_ago)).isoformat()


@pytest.fixture
def pipeline_in_process(monkeypatch) -> None:
    """Celery runs each task where it is sent, errors raised: `apply_async`/`delay`
    eagerly, and the hand-overs by name (`send_task`, which Celery never runs eagerly)
    through the named task's `apply`."""
    from config.celery_app import app

    app.loader.import_default_modules()  # registers every app's tasks, as a worker does
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)

    def send_task(name: str, args: Any = (), kwargs: Any = None, **options: Any) -> Any:
        return app.tasks[name].apply(args=args, kwargs=kwargs or {}, throw=True)

    monkeypatch.setattr(app, "send_task", send_task)


def test_a_full_pipeline_pass_logs_no_text_email_or_phone(
    pipeline_in_process, caplog, django_capture_on_commit_callbacks
) -> None:
    """GIVEN a trained churn model and a coupon rule WHEN a customer, an order, a review,
    a ticket and its message arrive through the API (and one invalid review), and the
    pipeline runs to the email THEN nothing logged on the way holds any of their text,
    email address or phone number."""
    build_shop(customers=120)
    call_command("churn_train", stdout=StringIO())
    Rule.objects.create(
        name="Win back",
        action=Action.COUPON,
        coupon_kind="percent",
        coupon_value=Decimal(10),
        coupon_valid_days=14,
        holdout_share=Decimal(0),
        email_template="Hello {name}, your code {coupon_code} gives {coupon_value}.",
    )
    # Django's SQL logger (parameters hold every text) must stay above DEBUG, as configured.
    assert logging.getLogger("django.db.backends").getEffectiveLevel() > logging.DEBUG
    api = APIClient()
    api.force_authenticate(UserFactory(username="shop", is_superuser=True, is_staff=True))
    caplog.set_level(logging.DEBUG)

    with django_capture_on_commit_callbacks(execute=True):
        posts = [
            (
                "/api/customers/",
                {
                    "external_id": "LOG-1",
                    "name": NAME,
                    "email": EMAIL,
                    "phone": PHONE,
                    "signed_up_at": iso(300),
                    "marketing_consent": True,
                },
            ),
            (
                "/api/orders/",
                {
                    "external_id": "LOG-O1",
                    "customer": "LOG-1",
                    "placed_at": iso(120),
                    "total": "80.00",
                    "status": "delivered",
                },
            ),
            (
                "/api/reviews/",
                {
                    "external_id": "LOG-R1",
                    "customer": "LOG-1",
                    "rating": 1,
                    "title": REVIEW_TITLE,
                    "body": REVIEW_BODY,
                    "created_at": iso(2),
                },
            ),
            (
                "/api/tickets/",
                {
                    "external_id": "LOG-T1",
                    "customer": "LOG-1",
                    "subject": SUBJECT,
                    "opened_at": iso(1),
                },
            ),
            (
                "/api/tickets/LOG-T1/messages/",
                {"external_id": "LOG-M1", "body": MESSAGE, "created_at": iso(1)},
            ),
        ]
        for url, payload in posts:
            response = api.post(url, payload, format="json")
            assert response.status_code == 201, (url, response.json())
        invalid = {
            "external_id": "LOG-R2",
            "customer": "LOG-1",
            "rating": 9,
            "title": EMAIL,
            "body": BAD_BODY,
            "created_at": iso(1),
        }
        assert api.post("/api/reviews/", invalid, format="json").status_code == 400

    # The pass went all the way: both texts scored, the customer re-scored and emailed.
    texts = CustomerText.objects.filter(customer__external_id="LOG-1")
    assert texts.count() == 2
    assert SentimentScore.objects.filter(text__in=texts).values("text").distinct().count() == 2
    assert ChurnScore.objects.filter(customer__external_id="LOG-1").exists()
    intervention = Intervention.objects.get(customer__external_id="LOG-1")
    assert intervention.status == Intervention.Status.DONE
    assert [m.to for m in mail.outbox] == [[EMAIL]] and NAME in mail.outbox[0].body

    assert caplog.records, "nothing was captured: the check below would prove nothing"
    logged = "\n".join([caplog.text, *(str(r.args) for r in caplog.records)]).lower()
    leaked = [secret for secret in SECRETS if secret.lower() in logged]
    assert not leaked, (leaked, caplog.text)

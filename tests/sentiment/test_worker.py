"""End to end with a real `celery worker` process on the configured broker and database."""

from __future__ import annotations

import pytest
from django.db import transaction

from crm.services import review_upsert
from sentiment.models import SentimentScore
from tests.conftest import wait_for
from tests.factories import CustomerFactory, days_ago

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_saved_review_is_scored_by_a_real_worker(celery_worker_process) -> None:
    """GIVEN a running worker WHEN a review is saved THEN its VADER score lands in the database."""
    customer = CustomerFactory()
    with transaction.atomic():
        review, _ = review_upsert(
            external_id="R-worker-1",
            customer=customer,
            rating=1,
            title="Never again",
            body="The parcel arrived broken and support was rude. Terrible experience.",
            created_at=days_ago(1),
        )

    landed = wait_for(lambda: SentimentScore.objects.filter(text__review=review).first())

    assert landed, "the worker did not store a score within 60 s"
    assert landed.analyzer == "vader" and landed.label == "negative"

"""End to end with a real `celery worker` process: new feedback re-scores its customer."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from churnmodel.models import ChurnScore
from crm.services import review_upsert
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_new_review_is_scored_then_its_customer_re_scored_by_the_worker(
    shop, celery_worker_process
) -> None:
    """GIVEN an active churn model and a running worker WHEN a customer writes an angry
    review THEN the worker scores the text and, chained by task name, appends a churn score
    for that customer alone, with the horizon and reasons."""
    call_command("churn_train", stdout=StringIO())
    customer = shop[0]
    review_upsert(external_id="R-CHURN-1", customer=customer, rating=1, title="",
                  body="Arrived broken and support never answered. I am done with this shop.",
                  created_at=timezone.now())  # fmt: skip

    score = wait_for(lambda: ChurnScore.objects.filter(customer=customer).first(), timeout=90)

    assert score is not None, "no churn score within 90 s of the review"
    assert score.statement.endswith("in the next 60 days") and score.reasons
    assert ChurnScore.objects.count() == 1  # that customer alone

"""End to end with a real `celery worker` process on the configured broker and database.

In CI that is Redis and PostgreSQL; with no environment, the filesystem broker and SQLite.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.api.tokens import api_token_create
from sentiment.models import SentimentScore
from tests.conftest import wait_for
from tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def integration_client() -> APIClient:
    user = UserFactory(is_superuser=True)
    _, key = api_token_create(name="test integration", user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_review_posted_to_the_api_is_scored_by_a_real_worker(
    celery_worker_process, integration_client: APIClient
) -> None:
    """GIVEN a running worker WHEN a review and an empty one arrive through the API
    THEN both analyzers' scores of the first, and 'nothing to score' for the second, land."""
    CustomerFactory(external_id="C-WORKER")
    angry = integration_client.post(
        "/api/reviews/",
        {
            "external_id": "R-worker-1",
            "customer": "C-WORKER",
            "rating": 1,
            "title": "Never again",
            "body": "The parcel arrived broken and support was rude. Terrible experience.",
            "created_at": "2026-01-05T10:00:00Z",
        },
        format="json",
    )
    empty = integration_client.post(
        "/api/reviews/",
        {"external_id": "R-worker-2", "customer": "C-WORKER", "rating": 4, "body": "",
         "created_at": "2026-01-05T11:00:00Z"},
        format="json",
    )  # fmt: skip
    assert (angry.status_code, empty.status_code) == (201, 201)

    scores = wait_for(
        lambda: (
            list(
                SentimentScore.objects.filter(text__review__customer__external_id="C-WORKER")
                .order_by("text__review__external_id", "analyzer")
                .values_list("text__review__external_id", "analyzer", "label", "score")
            )
            if SentimentScore.objects.count() == 4
            else None
        )
    )

    assert scores, "the worker did not store the four scores within 60 s"
    angry_transformer, angry_vader, *empty = scores
    assert angry_transformer[:3] == ("R-worker-1", "transformer", "negative")
    assert angry_vader[:3] == ("R-worker-1", "vader", "negative")
    assert angry_transformer[3] < -0.5 and angry_vader[3] < -0.5
    assert empty == [
        ("R-worker-2", "transformer", "empty", None),
        ("R-worker-2", "vader", "empty", None),
    ]

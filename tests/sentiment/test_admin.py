"""Admin smoke tests for the sentiment app: scores are visible, never typed in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sentiment.models import SentimentScore
from sentiment.services import texts_score
from tests.factories import ReviewFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def score() -> SentimentScore:
    review = ReviewFactory(customer__email="ann@example.com")
    texts_score(text_ids=[review.customer_text.pk])
    return SentimentScore.objects.get(text__review=review)


def test_score_changelist_and_search_list_the_score(admin_client, score: SentimentScore) -> None:
    url = reverse("admin:sentiment_sentimentscore_changelist")
    assert score.text.customer.external_id in admin_client.get(url).content.decode()
    found = admin_client.get(url, {"q": "ann@example.com"}).content.decode()
    assert score.text.customer.external_id in found


def test_score_detail_is_read_only(admin_client, score: SentimentScore) -> None:
    url = reverse("admin:sentiment_sentimentscore_change", args=[score.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b'name="label"' not in page.content
    assert admin_client.get(reverse("admin:sentiment_sentimentscore_add")).status_code == 403

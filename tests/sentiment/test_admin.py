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
    return SentimentScore.objects.get(text__review=review, analyzer="vader")


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


def test_score_detail_quotes_evidence_and_lists_aspects(admin_client) -> None:
    review = ReviewFactory(
        title="", body="Beautiful colour, I love it. But the parcel arrived three weeks late."
    )
    texts_score(text_ids=[review.customer_text.pk])
    score = SentimentScore.objects.get(text__review=review, analyzer="transformer")

    page = admin_client.get(reverse("admin:sentiment_sentimentscore_change", args=[score.pk]))

    content = page.content.decode()
    assert "<q>But the parcel arrived three weeks late.</q>" in content
    assert "Delivery" in content
    assert score.analyzer_version in content


def test_text_page_shows_both_scores_and_escapes_markup(admin_client) -> None:
    review = ReviewFactory(title="", body='<script>alert("x")</script> Awful, it ripped.')
    texts_score(text_ids=[review.customer_text.pk])

    page = admin_client.get(
        reverse("admin:crm_customertext_change", args=[review.customer_text.pk])
    )

    content = page.content.decode()
    assert '<script>alert("x")</script>' not in content
    assert "&lt;script&gt;" in content
    assert "transformer" in content and "vader" in content


@pytest.mark.parametrize(
    "name",
    [
        "admin:sentiment_aspectmention_changelist",
        "admin:sentiment_labeloverride_changelist",
        "admin:sentiment_labeloverride_add",
    ],
)
def test_sentiment_admin_pages_load(admin_client, score: SentimentScore, name: str) -> None:
    assert admin_client.get(reverse(name)).status_code == 200


def test_aspect_list_filters_by_aspect_and_label(admin_client) -> None:
    review = ReviewFactory(title="", body="The parcel arrived three weeks late.")
    texts_score(text_ids=[review.customer_text.pk])
    url = reverse("admin:sentiment_aspectmention_changelist")

    found = admin_client.get(url, {"aspect": "delivery", "label": "negative"}).content.decode()
    none = admin_client.get(url, {"aspect": "website"}).content.decode()

    assert "arrived three weeks late" in found
    assert "arrived three weeks late" not in none

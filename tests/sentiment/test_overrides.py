"""Agents correct a text's label; the correction wins everywhere and becomes training data."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from crm.models import CustomerText
from crm.services import review_upsert
from sentiment.models import LabelOverride
from sentiment.selectors import effective_label, override_training_rows, with_effective_label
from sentiment.services import label_override_create, texts_score
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

SARCASM = "Oh great, another dress that falls apart after one wash. Just perfect."


@pytest.fixture
def text() -> CustomerText:
    review = ReviewFactory(title="", body=SARCASM)
    texts_score(text_ids=[review.customer_text.pk])
    return review.customer_text


def test_an_override_wins_over_the_analyzers_and_records_who_what_and_why(text) -> None:
    agent = UserFactory(username="maria")
    before = effective_label(text)
    assert before in {"negative", "neutral", "positive"}

    override = label_override_create(text=text, label="negative", user=agent, reason="sarcasm")

    assert (override.previous_label, override.label, override.created_by) == (
        before,
        "negative",
        agent,
    )
    annotated = with_effective_label(CustomerText.objects.filter(pk=text.pk)).get()
    assert (annotated.effective_label, annotated.label_source) == ("negative", "override")
    assert annotated.effective_score is not None  # the model's number stays; the label is fixed


def test_the_newest_override_wins_and_keeps_the_previous_one_as_history(text) -> None:
    label_override_create(text=text, label="neutral", user=None)
    second = label_override_create(text=text, label="negative", user=None)

    assert second.previous_label == "neutral"
    assert effective_label(text) == "negative"
    assert LabelOverride.objects.filter(text=text).count() == 2


def test_an_edited_text_drops_the_override_of_its_old_content(text) -> None:
    label_override_create(text=text, label="positive", user=None)
    review = text.review
    review_upsert(
        external_id=review.external_id, customer=review.customer, rating=1, title="",
        body="Ripped at the seams. Awful.", created_at=review.created_at,
    )  # fmt: skip
    texts_score(text_ids=[text.pk])

    assert effective_label(CustomerText.objects.get(pk=text.pk)) == "negative"
    assert list(override_training_rows()) == []


def test_overrides_are_exported_as_training_rows(text) -> None:
    label_override_create(text=text, label="negative", user=None)
    assert list(override_training_rows()) == [(SARCASM, "negative")]


def test_an_agent_corrects_a_label_in_the_admin_and_exports_it(
    admin_client, admin_user, text
) -> None:
    page = admin_client.get(reverse("admin:crm_customertext_change", args=[text.pk]))
    assert b"Correct the label" in page.content

    response = admin_client.post(
        reverse("admin:sentiment_labeloverride_add"),
        {"text": text.pk, "label": "negative", "reason": "sarcasm"},
    )

    assert response.status_code == 302
    override = LabelOverride.objects.get(text=text)
    assert (override.created_by, override.reason) == (admin_user, "sarcasm")
    assert override.previous_label
    export = admin_client.post(
        reverse("admin:sentiment_labeloverride_changelist"),
        {"action": "export_training_rows", "_selected_action": [override.pk]},
    )
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows == [["text", "label"], [SARCASM, "negative"]]


def test_overrides_are_history_not_editable(admin_client, text) -> None:
    override = label_override_create(text=text, label="negative", user=None)
    page = admin_client.get(reverse("admin:sentiment_labeloverride_change", args=[override.pk]))
    assert page.status_code == 200
    assert b'name="label"' not in page.content
    assert admin_client.get(reverse("admin:sentiment_labeloverride_changelist")).status_code == 200

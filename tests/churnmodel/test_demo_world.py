"""On the demo world, where part of the hidden churn comes from dissatisfaction that shows
mostly in what customers write, the churn model must gain from its text features."""

from __future__ import annotations

import json
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from crm.demo.generate import demo_generate
from crm.models import CustomerText
from sentiment.analyzers import loadable_analyzers
from sentiment.services import texts_score

pytestmark = pytest.mark.django_db


def test_text_features_add_auc_on_the_demo_world(tmp_path: Path, settings) -> None:
    """GIVEN 5,000 demo customers whose texts are scored (VADER as the primary analyzer,
    for speed) WHEN churn_train measures the model with and without its text features
    (among customers who bought in the 90 days before each cutoff) THEN the texts add
    ROC-AUC on the validation cutoff, and the model beats the recency rule."""
    settings.SENTIMENT_ANALYZERS = ["vader"]
    settings.SENTIMENT_PRIMARY_ANALYZER = "vader"
    demo_generate(customers=5000, seed=1, end_date=date(2026, 11, 1),
                  truth_path=tmp_path / "truth.csv", announce=False)  # fmt: skip
    vader = [a for a in loadable_analyzers() if a.name == "vader"]
    texts_score(text_ids=list(CustomerText.objects.values_list("pk", flat=True)), analyzers=vader)

    out = StringIO()
    call_command("churn_train", "--active-days", "90", "--json", stdout=out)
    report = json.loads(out.getvalue())

    assert report["text_features"] > 10
    assert report["without_text"]["customers"] == report["model"]["customers"] > 2000
    assert report["text_features_auc_gain"] > 0.002
    assert report["model"]["roc_auc"] > report["recency_rule"]["roc_auc"]
    assert report["model"]["brier"] < report["base_rate_brier"]

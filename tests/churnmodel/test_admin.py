"""The admin shows model versions with their metrics and calibration, batch runs with
drift flags, and scores with their reasons; none of it can be edited there."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from churnmodel.models import ChurnScore, ModelVersion, ScoringRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(shop, settings) -> ScoringRun:
    settings.CHURN_DRIFT_THRESHOLD = 0.0  # flag everything that moved at all
    call_command("churn_train", stdout=StringIO())
    call_command("churn_score", stdout=StringIO())
    return ScoringRun.objects.get()


def test_a_model_version_page_shows_metrics_calibration_and_the_promotion(
    admin_client, scored
) -> None:
    version = ModelVersion.objects.get()
    page = admin_client.get(reverse("admin:churnmodel_modelversion_change", args=[version.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert f"{version.roc_auc:.4f}" in text and "Recency-only rule" in text
    assert "observed churn" in text and "Promoted: no model was active." in text
    listing = admin_client.get(reverse("admin:churnmodel_modelversion_changelist"))
    assert f"{version.roc_auc:.4f}" in listing.content.decode()
    assert admin_client.get(reverse("admin:churnmodel_modelversion_add")).status_code == 403


def test_a_scoring_run_flags_drifted_features(admin_client, scored) -> None:
    page = admin_client.get(reverse("admin:churnmodel_scoringrun_change", args=[scored.pk]))
    text = page.content.decode()
    assert scored.drifted and "features drifted" in text
    assert scored.drifted[0] in text


def test_a_score_page_reads_as_a_sentence_with_reasons(admin_client, scored) -> None:
    score = ChurnScore.objects.first()
    page = admin_client.get(reverse("admin:churnmodel_churnscore_change", args=[score.pk]))
    text = page.content.decode()
    assert "risk of no purchase in the next 60 days" in text
    assert score.reasons[0]["text"] in text
    listing = admin_client.get(reverse("admin:churnmodel_churnscore_changelist"), {"band": "high"})
    assert listing.status_code == 200

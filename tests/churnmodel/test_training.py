"""churn_train: time-based training, its report, the registry's promotion gate and the
refusals a user relies on (no data, one class, incomplete window, bad artifacts)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from churnmodel import registry
from churnmodel.features import feature_names
from churnmodel.models import ImmutableError, ModelVersion
from churnmodel.registry import ModelRefused, serving_model
from crm.models import Customer, Order
from tests.churnmodel.conftest import build_shop

pytestmark = pytest.mark.django_db


def train(*args: str) -> dict:
    out = StringIO()
    call_command("churn_train", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_training_reports_honest_metrics_and_activates_the_first_version(shop) -> None:
    report = train()

    # Every training label window closes by the validation cutoff: no look-ahead.
    validation = pd.Timestamp(report["validation_cutoff"])
    for cutoff in report["training_cutoffs"]:
        assert pd.Timestamp(cutoff) + pd.Timedelta(days=60) <= validation
    assert len(report["training_cutoffs"]) == 4
    model = report["model"]
    assert model["customers"] == report["customers"]["validation"] > 100
    assert 0 < model["base_rate"] < 1
    # Customers who stop ordering are easy to tell from those who keep a rhythm.
    assert model["roc_auc"] > 0.8 and model["brier"] < report["base_rate_brier"]
    for baseline in ("recency_rule", "rfm_logistic", "without_text"):
        assert {"roc_auc", "pr_auc", "brier", "top_decile_lift"} <= set(report[baseline])
    table = model["calibration"]
    assert sum(row["customers"] for row in table) == model["customers"]
    assert all(0 <= row["observed"] <= 1 for row in table)

    version = ModelVersion.objects.get(pk=report["version"])
    assert report["promoted"] and version.is_active
    assert version.features == feature_names()
    assert version.metrics["model"]["roc_auc"] == model["roc_auc"]
    artifact = Path(version.artifact_path)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == version.artifact_sha256
    assert not list(artifact.parent.glob(".churn-*.tmp"))  # written, then renamed


def test_a_new_version_replaces_the_active_one_only_if_it_does_better(shop) -> None:
    first = train()
    second = train()  # same data, same model: no better

    assert not second["promoted"]
    assert "does not beat" in second["promotion"]
    assert ModelVersion.objects.get(is_active=True).pk == first["version"]
    assert ModelVersion.objects.count() == 2


def test_the_text_report_names_the_cutoffs_and_the_decision(shop) -> None:
    out = StringIO()
    call_command("churn_train", stdout=out)
    text = out.getvalue()
    assert "Training cutoffs:" in text and "recency-only rule" in text
    assert "Calibration (validation)" in text
    assert "Saved as version" in text and "Promoted: no model was active." in text


def test_no_data_is_refused_and_nothing_is_saved(db) -> None:
    with pytest.raises(CommandError, match="No orders yet"):
        train()
    assert not ModelVersion.objects.exists()


def test_one_class_only_is_refused_and_nothing_is_saved(db) -> None:
    build_shop(customers=30, churn_share=0.0)  # nobody ever stops buying
    with pytest.raises(CommandError, match="both churned and retained"):
        train()
    assert not ModelVersion.objects.exists()


def test_a_cutoff_whose_window_is_not_over_is_refused_with_the_latest_valid_date(shop) -> None:
    newest = Order.objects.order_by("-placed_at").first().placed_at
    latest = newest - timedelta(days=60)
    too_late = (latest + timedelta(days=2)).date().isoformat()
    with pytest.raises(CommandError, match=f"the latest is {latest:%Y-%m-%d}"):
        train("--validation-cutoff", too_late)
    assert not ModelVersion.objects.exists()


def test_a_recorded_version_cannot_be_changed(shop) -> None:
    version = ModelVersion.objects.get(pk=train()["version"])
    version.metrics = {"model": {"roc_auc": 0.99}}
    with pytest.raises(ImmutableError):
        version.save()


def test_a_corrupt_artifact_is_refused_and_the_previous_version_keeps_serving(shop) -> None:
    older = ModelVersion.objects.get(pk=train()["version"])
    newer = ModelVersion.objects.get(pk=train()["version"])
    registry._activate(newer, older, "a test promoting it by hand")
    Path(newer.artifact_path).write_bytes(b"not a model")

    with pytest.raises(ModelRefused, match="does not match its checksum"):
        registry.load(newer)
    serving = serving_model()
    assert serving is not None and serving.version == older
    assert "checksum" in serving.note

    Path(newer.artifact_path).unlink()
    with pytest.raises(ModelRefused, match="is missing"):
        registry.load(newer)


def test_a_model_this_process_already_loaded_is_refused_once_its_file_is_changed_or_gone(
    shop,
) -> None:
    """A worker keeps the predictor it read in memory; deleting or rewriting the artifact
    must stop it serving from there too, as the admin and /healthz refuse it (seen in the
    fault test when the task landed on the pool process that had loaded the model)."""
    version = ModelVersion.objects.get(pk=train()["version"])
    path = Path(version.artifact_path)
    good = path.read_bytes()
    assert registry.load(version) is registry.load(version)  # cached

    path.write_bytes(good[: len(good) // 2])  # cut short (another size: whatever the clock)
    with pytest.raises(ModelRefused, match="does not match its checksum"):
        registry.load(version)

    path.write_bytes(good)  # put back as it was: served again
    registry.load(version)
    path.unlink()
    with pytest.raises(ModelRefused, match="is missing"):
        registry.load(version)


def test_a_version_that_lacks_a_feature_the_code_computes_is_refused(shop) -> None:
    trained = ModelVersion.objects.get(pk=train()["version"])
    old_fields = {f.name: getattr(trained, f.name) for f in ModelVersion._meta.concrete_fields}
    old_fields.update(pk=None, id=None, is_active=False, features=trained.features[:-1])
    old = ModelVersion.objects.create(**old_fields)

    with pytest.raises(ModelRefused, match=f"it lacks {trained.features[-1]}"):
        registry.load(old)


def test_nan_and_infinite_features_never_reach_the_model(shop) -> None:
    version = ModelVersion.objects.get(pk=train()["version"])
    predictor = registry.load(version)
    frame = pd.DataFrame(
        [[np.nan] * len(version.features), [np.inf] * len(version.features)],
        columns=version.features,
    )
    frame.loc[2] = -np.inf
    seen = []
    estimator = predictor.estimator
    original = estimator.predict if predictor.algorithm == "lightgbm" else None

    def spy(matrix, **kwargs):
        seen.append(np.asarray(matrix))
        return original(matrix, **kwargs)

    if original is not None:
        estimator.predict = spy
        probabilities = predictor.predict(frame)
        del estimator.predict
    else:
        probabilities = predictor.predict(frame)
        seen.append(predictor.matrix(frame))
    assert np.isfinite(probabilities).all() and ((probabilities > 0) & (probabilities < 1)).all()
    assert seen and all(np.isfinite(m).all() for m in seen)


def test_customers_without_orders_are_not_in_the_labelled_population(shop) -> None:
    from churnmodel.labels import churn_labels

    never = Customer.objects.create(
        external_id="NEVER", signed_up_at=timezone.now() - timedelta(days=90)
    )
    labels = churn_labels(timezone.now() - timedelta(days=61))
    assert never.pk not in labels.index and len(labels) > 100


def test_a_malformed_validation_cutoff_is_named_in_the_error(db) -> None:
    with pytest.raises(CommandError, match="'1997-13-01' is not a date"):
        train("--validation-cutoff", "1997-13-01")

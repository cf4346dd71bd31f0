"""/healthz: database, broker and active churn model, each named when it fails."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from churnmodel.features import feature_names
from churnmodel.models import ModelVersion
from config.celery_app import app

pytestmark = pytest.mark.django_db


def active_model(folder: Path, **fields: object) -> ModelVersion:
    """An active version whose artifact file exists and matches its checksum.

    The health check hashes the file and never unpickles it, so any bytes will do."""
    artifact = folder / "churn-test.joblib"
    artifact.write_bytes(b"a trained model, as far as the checksum knows")
    defaults: dict[str, object] = {
        "algorithm": "lightgbm",
        "features": feature_names(),
        "horizon_days": 60,
        "training_cutoffs": [],
        "validation_cutoff": timezone.now(),
        "training_data_hash": "-",
        "metrics": {},
        "artifact_path": str(artifact),
        "artifact_sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
        "is_active": True,
        "activated_at": timezone.now(),
    }
    return ModelVersion.objects.create(**{**defaults, **fields})


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_is_200_when_database_broker_and_model_are_ok(tmp_path: Path) -> None:
    active_model(tmp_path)

    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "churn_model": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_naming_the_broker_when_it_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active_model(tmp_path)
    port = closed_port()
    monkeypatch.setitem(app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")

    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["churn_model"] == "ok"
    assert body["broker"].startswith("error: ")
    assert f"127.0.0.1:{port}" in body["broker"] and "refused" in body["broker"]


def test_healthz_names_the_filesystem_broker_folder_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active_model(tmp_path)
    folder = tmp_path / "no-such-queue"
    monkeypatch.setitem(app.conf, "broker_url", "filesystem://")
    monkeypatch.setitem(
        app.conf,
        "broker_transport_options",
        {"data_folder_in": str(folder), "data_folder_out": str(folder)},
    )

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert str(folder) in response.json()["broker"]


def test_healthz_is_503_naming_the_churn_model_when_none_is_active(tmp_path: Path) -> None:
    """No model yet is a failure, not a warning: nobody is scored until one is trained."""
    active_model(tmp_path, is_active=False)

    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert body["churn_model"] == (
        "error: no active churn model; train one with `manage.py churn_train`"
    )


def test_healthz_is_503_when_the_active_artifact_is_corrupt_or_missing(tmp_path: Path) -> None:
    version = active_model(tmp_path)
    Path(version.artifact_path).write_bytes(b"half a model")

    corrupt = Client().get("/healthz")
    Path(version.artifact_path).unlink()
    missing = Client().get("/healthz")

    assert corrupt.status_code == 503
    assert "does not match its checksum" in corrupt.json()["churn_model"]
    assert missing.status_code == 503
    assert "is missing" in missing.json()["churn_model"]


def test_healthz_is_503_when_the_active_model_reads_other_features(tmp_path: Path) -> None:
    active_model(tmp_path, features=[*feature_names()[:-1], "a_feature_no_longer_computed"])

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert "a_feature_no_longer_computed" in response.json()["churn_model"]


def test_a_probe_can_ask_for_the_database_only(tmp_path: Path) -> None:
    """A load balancer's probe must not take the API out of rotation when only the model
    (or the broker) is failing: the API keeps storing data meanwhile."""
    response = Client().get("/healthz?check=database")

    assert response.status_code == 200
    assert response.json() == {"database": "ok"}


def test_an_unknown_check_is_a_400_naming_it() -> None:
    response = Client().get("/healthz?check=database&check=disk")

    assert response.status_code == 400
    assert "Unknown check 'disk'" in response.json()["check"][0]


def test_healthz_needs_no_login_and_is_not_throttled(tmp_path: Path) -> None:
    active_model(tmp_path)
    client = Client()

    statuses = {client.get("/healthz/").status_code for _ in range(50)}

    assert statuses == {200}


def test_healthz_refuses_writes() -> None:
    assert Client().post("/healthz").status_code == 405

"""The model registry: save a trained model as an immutable version, promote it only if it
beats the active one on the same validation data, and load the active one safely.

An artifact is written to a temporary file and renamed, and its SHA-256 stored on the
version row; loading checks the checksum, the library versions it was pickled with, and
that the code still computes exactly the features it reads. A version that fails any of
those is refused with a clear error, and the previously active version keeps serving.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from churnmodel.models import ModelVersion
from churnmodel.training import ChurnPredictor, TrainingResult, build_dataset, evaluate
from sentiment.analyzers.transformer import sha256_file

logger = logging.getLogger(__name__)

# Pickles are only safe to load with the libraries that wrote them.
LIBRARIES = ("sklearn", "lightgbm", "numpy", "pandas", "joblib")


class ModelRefused(Exception):
    """A model version cannot serve: artifact missing or corrupt, libraries or features
    changed since it was trained."""


def library_versions() -> dict[str, str]:
    import importlib

    return {name: importlib.import_module(name).__version__ for name in LIBRARIES}


def _write_artifact(predictor: ChurnPredictor) -> tuple[Path, str]:
    """Dump to a temporary file in the target folder, then rename: a crash never leaves a
    half-written artifact under a version's name."""
    import joblib

    folder = Path(settings.CHURN_MODEL_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".churn-", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(predictor, temporary, compress=3)
        checksum = sha256_file(Path(temporary))
        # One file per version, even for identical models: a version's file is its own.
        final = folder / f"churn-{timezone.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}.joblib"
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return final, checksum


def version_save(result: TrainingResult) -> ModelVersion:
    """Store a trained model as a new (inactive) version."""
    from datetime import datetime

    path, checksum = _write_artifact(result.predictor)
    report = result.report
    return ModelVersion.objects.create(
        algorithm=result.predictor.algorithm,
        features=result.predictor.features,
        target=report["target"],
        horizon_days=report["horizon_days"],
        training_cutoffs=report["training_cutoffs"],
        validation_cutoff=datetime.fromisoformat(report["validation_cutoff"]),
        training_data_hash=result.data_hash,
        metrics=report,
        distributions=result.distributions,
        library_versions=library_versions(),
        artifact_path=str(path),
        artifact_sha256=checksum,
    )


# (version, checksum) -> (the file's identity when it was read, its predictor).
_cache: dict[tuple[int, str], tuple[tuple[int, int, int] | None, ChurnPredictor]] = {}


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """Inode, size and modification time of the file, or None if there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def load(version: ModelVersion, *, features: list[str] | None = None) -> ChurnPredictor:
    """The version's predictor, after checking artifact, libraries and features; cached per
    process. Raises ModelRefused naming what is wrong.

    The cached predictor serves only while its file is the one it was read from (one stat
    per call): an artifact deleted or rewritten under a running worker is checked again and
    refused like everywhere else, rather than served from this process's memory while the
    other processes, the admin and /healthz refuse it."""
    import joblib

    key = (version.pk, version.artifact_sha256)
    path = Path(version.artifact_path)
    if key in _cache:
        identity, predictor = _cache[key]
        if identity is not None and identity == _file_identity(path):
            return predictor
        del _cache[key]
    current = library_versions()
    changed = {
        name: (was, current.get(name))
        for name, was in version.library_versions.items()
        if current.get(name) != was
    }
    if changed:
        detail = ", ".join(f"{n} {was} -> {now}" for n, (was, now) in sorted(changed.items()))
        raise ModelRefused(f"Model {version} was saved with other library versions ({detail}).")
    check_features(version, features)
    # Taken before the checks: a change while they read the file shows at the next call.
    identity = _file_identity(path)
    path = check_artifact(version)
    try:
        predictor = joblib.load(path)
    except Exception as exc:  # a truncated or foreign pickle: any error means unusable
        raise ModelRefused(f"Model {version}: artifact {path} cannot be read ({exc}).") from exc
    _cache[key] = (identity, predictor)
    return predictor


def check_features(version: ModelVersion, features: list[str] | None = None) -> None:
    """Raise ModelRefused unless the version reads exactly the features (default: those this
    code computes), in the same order."""
    from churnmodel.features import feature_names

    computed = feature_names() if features is None else features
    if list(version.features) != list(computed):
        lacking = [f for f in computed if f not in version.features]
        unknown = [f for f in version.features if f not in computed]
        raise ModelRefused(
            f"Model {version} does not match the features this code computes"
            + (f"; it lacks {', '.join(lacking)}" if lacking else "")
            + (f"; it reads {', '.join(unknown)}, no longer computed" if unknown else "")
            + (" (same names, another order)" if not lacking and not unknown else "")
            + ". Retrain with `manage.py churn_train`."
        )


def check_artifact(version: ModelVersion) -> Path:
    """The version's artifact file, after checking it exists and matches its SHA-256.

    Cheap enough for a health probe (hashing, no unpickling, no heavy imports)."""
    path = Path(version.artifact_path)
    if not path.is_file():
        raise ModelRefused(f"Model {version}: artifact {path} is missing.")
    if sha256_file(path) != version.artifact_sha256:
        raise ModelRefused(f"Model {version}: artifact {path} does not match its checksum.")
    return path


@dataclass
class Serving:
    version: ModelVersion
    predictor: ChurnPredictor
    note: str = ""


def serving_model() -> Serving | None:
    """The active version, or, if it is refused, the most recently active one that loads
    (logged as an error). None when no version was ever active."""
    candidates = ModelVersion.objects.filter(activated_at__isnull=False).order_by(
        "-is_active", "-activated_at"
    )
    problems = []
    for version in candidates:
        try:
            predictor = load(version)
        except ModelRefused as exc:
            logger.error("%s", exc)
            problems.append(str(exc))
            continue
        return Serving(version, predictor, " ".join(problems))
    if problems:
        raise ModelRefused(" ".join(problems))
    return None


@dataclass
class Decision:
    promoted: bool
    reason: str


def promote(version: ModelVersion) -> Decision:
    """Make `version` active if none is, or if it beats the active one's ROC-AUC on the
    same validation cutoff and horizon (the active one is re-measured there if it was
    validated elsewhere). Ties keep the active one."""
    new = version.metrics["model"]
    active = ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).first()
    if active is None:
        return _activate(version, None, "no model was active")
    try:
        load(version)
    except ModelRefused as exc:
        return _decline(version, f"it cannot be loaded: {exc}")
    same_data = (
        active.validation_cutoff == version.validation_cutoff
        and active.horizon_days == version.horizon_days
        and active.target == version.target
        and active.metrics.get("active_days") == version.metrics.get("active_days")
    )
    if same_data:
        old_auc = active.metrics["model"]["roc_auc"]
    else:
        try:
            predictor = load(active)
        except ModelRefused as exc:
            return _activate(version, active, f"the active {active} cannot serve ({exc})")
        data = build_dataset(
            [version.validation_cutoff],
            version.horizon_days,
            version.target,
            version.metrics.get("active_days"),
        )
        old_auc = evaluate(data.y, predictor.predict(data.X))["roc_auc"]
    where = f"on the validation cutoff {version.validation_cutoff:%Y-%m-%d}"
    if new["roc_auc"] > old_auc:
        return _activate(
            version, active, f"ROC-AUC {new['roc_auc']:.4f} beats {active}'s {old_auc:.4f} {where}"
        )
    return _decline(
        version, f"ROC-AUC {new['roc_auc']:.4f} does not beat {active}'s {old_auc:.4f} {where}"
    )


def training_run(**options: Any) -> tuple[ModelVersion, Decision]:
    """Train (churnmodel.training.train options), save the version and try to promote it."""
    from churnmodel.training import train

    version = version_save(train(**options))
    return version, promote(version)


def _activate(version: ModelVersion, previous: ModelVersion | None, why: str) -> Decision:
    with transaction.atomic():
        if previous is not None:
            previous.is_active = False
            previous.save(update_fields=["is_active"])
        version.is_active = True
        version.activated_at = timezone.now()
        version.promotion_note = f"Promoted: {why}."
        version.save(update_fields=["is_active", "activated_at", "promotion_note"])
    return Decision(True, version.promotion_note)


def _decline(version: ModelVersion, why: str) -> Decision:
    version.promotion_note = f"Not promoted: {why}."
    version.save(update_fields=["promotion_note"])
    return Decision(False, version.promotion_note)

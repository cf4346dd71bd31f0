"""Health of the churn model, for the /healthz endpoint (config.health runs it by name).

Healthy means: exactly one version is active, and it could serve: it reads the features
this code computes and its artifact exists and matches its checksum. The check hashes the
file but never unpickles it, so the web process stays free of scikit-learn and LightGBM.
Library versions are not compared here: they are the worker's concern (registry.load
refuses a mismatch there) and the web process may not even have the same libraries loaded.

"No model yet" is unhealthy (503) on purpose: without an active model nobody is scored
and no intervention fires, which an operator should hear about until `churn_train` has
run. The API keeps storing data meanwhile; a load balancer's probe should ask only for
the database (`/healthz?check=database`), see config.health.
"""

from __future__ import annotations

from churnmodel.models import ModelVersion
from churnmodel.registry import ModelRefused, check_artifact, check_features


class ChurnModelUnhealthy(Exception):
    """The active churn model is missing or cannot serve; the message says why."""


def check_active_model() -> str:
    """Return "ok" when the active version could serve; raise ChurnModelUnhealthy otherwise."""
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise ChurnModelUnhealthy("no active churn model; train one with `manage.py churn_train`")
    try:
        check_features(version)
        check_artifact(version)
    except ModelRefused as exc:
        raise ChurnModelUnhealthy(str(exc)) from exc
    return "ok"

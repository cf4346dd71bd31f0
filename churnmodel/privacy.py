"""The churn model's part of a customer's export and erasure (see crm.privacy), registered
from ChurnmodelConfig.ready()."""

from __future__ import annotations

from typing import Any

from churnmodel.models import ChurnScore, CurrentRisk
from crm.models import Customer
from crm.privacy import Erasing, record, register_eraser, register_exporter


def export(customer: Customer) -> dict[str, Any]:
    """Every churn score of the customer (the history) with its reasons and their
    evidence, and the current risk."""
    scores = ChurnScore.objects.filter(customer=customer).order_by("scored_at", "pk")
    current = CurrentRisk.objects.filter(customer=customer).first()
    return {
        "churn": {
            "scores": [record(s) for s in scores],
            "current_risk": record(current) if current is not None else None,
        }
    }


def erase(erasing: Erasing) -> None:
    """Delete the customer's churn scores (their reasons quote what the customer wrote)
    and their CurrentRisk row. Features are not stored: they are computed when a customer
    is scored or a model trained, and both skip erased customers (churnmodel.scoring,
    churnmodel.labels), so none are computed for them again.

    Model versions and scoring runs stay: they hold metrics, distributions and segment
    centroids over all customers, nothing of one."""
    customer = erasing.customer
    erasing.delete(ChurnScore.objects.filter(customer=customer))
    erasing.delete(CurrentRisk.objects.filter(customer=customer))


def register() -> None:
    register_exporter("churnmodel", export, order=20)
    register_eraser("churnmodel", erase, order=20)

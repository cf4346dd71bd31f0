"""Celery tasks of the churn model: the nightly batch and the incremental re-score.

`churnmodel.score_customers` is what lower apps chain to by name (DESIGN.md): the
sentiment worker after it scores a customer's new text, and the CRM's receivers here when
orders or tickets arrive. Both are safe to run twice: a re-score appends one more history
row with the same facts, it never changes an earlier one.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from churnmodel import scoring
from churnmodel.registry import ModelRefused

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="churnmodel.score_customers",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=6,
)
def score_customers(customer_ids: list[int]) -> int:
    """Re-score these customers with the serving model now; 0 when no model is active yet
    (nothing to do until `churn_train` has run, not an error to retry)."""
    try:
        return scoring.score_customers(customer_ids)
    except (scoring.NoModel, ModelRefused) as exc:
        logger.info("Churn re-score of %d customers skipped: %s", len(customer_ids), exc)
        return 0


@shared_task(
    name="churnmodel.score_all",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=6,
)
def score_all() -> int:
    """The nightly batch: every customer, segments refit, drift measured."""
    try:
        run = scoring.score_all()
    except (scoring.NoModel, ModelRefused) as exc:
        logger.warning("Nightly churn scoring skipped: %s", exc)
        return 0
    return run.customers

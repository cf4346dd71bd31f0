"""Celery tasks of the interventions app.

`interventions.decide_customers` is chained by name after every churn re-score
(CHURN_SCORED_TASK), `interventions.decide_all` after the nightly churn batch
(CHURN_BATCH_SCORED_TASK); `interventions.measure_outcomes` runs nightly (beat). All are
safe to run twice: an open intervention stops a second decision, a carried-out one is not
carried out again, a measured one is not measured again.
"""

from __future__ import annotations

import logging
from smtplib import SMTPException
from typing import Any

from celery import shared_task

from crm.tasking import DATABASE_ERRORS, database_task
from interventions import services

logger = logging.getLogger(__name__)

RETRIED = (*DATABASE_ERRORS, SMTPException, ConnectionError, TimeoutError)


@database_task("interventions.decide_customers")
def decide_customers(customer_ids: list[int]) -> int:
    """Decide for customers whose risk was just updated; returns interventions made."""
    return services.decide_batch(customer_ids, carry=carry_out_later)


@database_task("interventions.decide_all")
def decide_all() -> int:
    """The nightly batch: every customer some rule in force matches."""
    return services.decide_batch(None, carry=carry_out_later)


@shared_task(
    name="interventions.carry_out",
    bind=True,
    acks_late=True,
    max_retries=8,
)
def carry_out(self: Any, intervention_id: int) -> str:
    """Carry out one intervention; a mail server or database hiccup retries it, and the
    retry finds the coupon and email it made before (none is made twice)."""
    try:
        return services.carry_out(intervention_id)
    except RETRIED as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 1800)) from exc


def carry_out_later(intervention_id: int) -> None:
    """Queue the carrying out (its own task: a mail server that is down must not hold up
    the decisions); where the broker is unreachable, carry it out here."""
    from kombu.exceptions import OperationalError as BrokerError

    try:
        carry_out.delay(intervention_id)
    except BrokerError:
        logger.warning("Broker unreachable; carrying out intervention %s inline.", intervention_id)
        services.carry_out(intervention_id)


@shared_task(
    name="interventions.measure_outcomes",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    max_retries=6,
)
def measure_outcomes() -> int:
    """Nightly: close the interventions whose window has passed, with their outcome."""
    return services.measure_outcomes()


@shared_task(name="interventions.demo_season", acks_late=True)
def demo_season() -> str:
    """The demo's first run (after the churn bootstrap): demo rules, one simulated season
    two months back so the uplift report has results, then today's decisions."""
    from interventions.simulation import demo_season as run

    return run()


@database_task("interventions.count_matches")
def count_matches() -> int:
    """Every few minutes (beat): recount whom each rule matches, for the rules page.

    Idempotent: each count overwrites the last."""
    from interventions.models import Rule

    rules = list(Rule.objects.all())
    for rule in rules:
        services.rule_matches_count(rule=rule)
    return len(rules)

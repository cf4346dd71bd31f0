"""Hand-overs into the churn model: customers whose orders or tickets changed are re-scored.

The CRM announces them after commit (crm.signals.customers_activity_saved); the re-score
runs on a worker, by task name, in batches so a large import does not make one huge task.
A broker that is down loses nothing that matters: the nightly batch scores everyone.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.dispatch import receiver
from kombu.exceptions import OperationalError as BrokerError

from crm.signals import customers_activity_saved

logger = logging.getLogger(__name__)

BATCH = 500


@receiver(customers_activity_saved, dispatch_uid="churnmodel.rescore_on_activity")
def rescore_on_activity(sender: type, customer_ids: list[int], **kwargs: object) -> None:
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), BATCH):
        try:
            current_app.send_task("churnmodel.score_customers", args=(ids[start : start + BATCH],))
        except BrokerError as exc:
            logger.warning("Broker unreachable (%s); the nightly scoring will cover them.", exc)
            return

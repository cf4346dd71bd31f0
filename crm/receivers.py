"""post_save hooks, so that a record saved by any path (API, admin, services, shell) reaches
the apps above the CRM: a review's or message's text the sentiment pipeline, an order's or
ticket's customer the churn model (once per transaction, see crm.activity).

Bulk paths that bypass save() (the CSV import, the demo generator) call the same functions
themselves, once per batch.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.activity import announce_activity
from crm.models import Order, Review, Ticket, TicketMessage
from crm.texts import announce_texts, sync_message_texts, sync_review_texts


@receiver(post_save, sender=Review, dispatch_uid="crm.review_text")
def review_saved(sender: type, instance: Review, raw: bool = False, **kwargs: object) -> None:
    if raw:  # loaddata: fixtures carry their own CustomerText rows
        return
    announce_texts(sync_review_texts([instance]))


@receiver(post_save, sender=TicketMessage, dispatch_uid="crm.message_text")
def message_saved(
    sender: type, instance: TicketMessage, raw: bool = False, **kwargs: object
) -> None:
    if raw:
        return
    announce_texts(sync_message_texts([instance]))


@receiver(post_save, sender=Order, dispatch_uid="crm.order_activity")
@receiver(post_save, sender=Ticket, dispatch_uid="crm.ticket_activity")
def activity_saved(
    sender: type,
    instance: Order | Ticket,
    raw: bool = False,
    using: str | None = None,
    **kwargs: object,
) -> None:
    if raw:
        return
    announce_activity([instance.customer_id], using=using)

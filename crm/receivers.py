"""post_save hooks so that a review or message saved by any path reaches the pipeline."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.models import Review, TicketMessage
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

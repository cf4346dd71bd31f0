"""The hand-over from the CRM: new or changed customer texts are queued for scoring."""

from __future__ import annotations

from django.dispatch import receiver

from crm.signals import customer_texts_saved
from sentiment.services import scoring_enqueue


@receiver(customer_texts_saved, dispatch_uid="sentiment.enqueue_scoring")
def enqueue_scoring(sender: type, text_ids: list[int], **kwargs: object) -> None:
    scoring_enqueue(text_ids=text_ids)

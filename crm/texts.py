"""Keep CustomerText rows in step with the reviews and messages they stand for.

Every path that saves a review or a customer message (API, CSV import, admin, demo
generator, shell) ends here: single saves through the post_save receivers, bulk loads by
calling these functions directly. The returned ids are those whose text is new or changed,
and they are announced to the pipeline once the surrounding transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from crm.models import CustomerText, Review, TicketMessage, text_digest
from crm.signals import customer_texts_saved


def sync_review_texts(reviews: Sequence[Review]) -> list[int]:
    """Create or update the CustomerText of each review; return ids needing a (re)score."""
    existing = {
        row["review_id"]: row
        for row in CustomerText.objects.filter(review__in=[r.pk for r in reviews]).values(
            "id", "review_id", "content_hash", "written_at", "customer_id"
        )
    }
    rows = [(review.pk, review.customer_id, review.created_at, review.text) for review in reviews]
    return _sync(rows, existing, CustomerText.Source.REVIEW, "review_id")


def sync_message_texts(messages: Sequence[TicketMessage]) -> list[int]:
    """As sync_review_texts, for ticket messages; agent messages have no CustomerText."""
    customer_messages = [m for m in messages if m.author_kind == TicketMessage.Author.CUSTOMER]
    agent_ids = [m.pk for m in messages if m.author_kind != TicketMessage.Author.CUSTOMER]
    if agent_ids:
        CustomerText.objects.filter(message__in=agent_ids).delete()
    if not customer_messages:
        return []
    customer_of_ticket = dict(
        TicketMessage.objects.filter(pk__in=[m.pk for m in customer_messages]).values_list(
            "pk", "ticket__customer_id"
        )
    )
    existing = {
        row["message_id"]: row
        for row in CustomerText.objects.filter(
            message__in=[m.pk for m in customer_messages]
        ).values("id", "message_id", "content_hash", "written_at", "customer_id")
    }
    rows = [(m.pk, customer_of_ticket[m.pk], m.created_at, m.text) for m in customer_messages]
    return _sync(rows, existing, CustomerText.Source.TICKET_MESSAGE, "message_id")


def _sync(
    rows: Iterable[tuple[int, int, datetime, str]],
    existing: Mapping[int, Mapping[str, Any]],
    source: str,
    source_field: str,
) -> list[int]:
    to_create: list[CustomerText] = []
    to_update: list[CustomerText] = []
    changed_ids: list[int] = []
    for source_id, customer_id, written_at, text in rows:
        digest = text_digest(text)
        current = existing.get(source_id)
        if current is None:
            to_create.append(
                CustomerText(
                    customer_id=customer_id,
                    source=source,
                    written_at=written_at,
                    content_hash=digest,
                    is_empty=not text.strip(),
                    **{source_field: source_id},
                )
            )
        elif (
            current["content_hash"] != digest
            or current["written_at"] != written_at
            or current["customer_id"] != customer_id
        ):
            to_update.append(
                CustomerText(
                    pk=current["id"],
                    customer_id=customer_id,
                    written_at=written_at,
                    content_hash=digest,
                    is_empty=not text.strip(),
                )
            )
            if current["content_hash"] != digest:
                changed_ids.append(current["id"])
    if to_create:
        created = CustomerText.objects.bulk_create(to_create, batch_size=1000)
        changed_ids.extend(text.pk for text in created)
    if to_update:
        CustomerText.objects.bulk_update(
            to_update, ["customer_id", "written_at", "content_hash", "is_empty"], batch_size=1000
        )
    return changed_ids


def announce_texts(text_ids: list[int]) -> None:
    """Tell the pipeline about new or changed texts once the current transaction commits.

    `robust=True`: a failure in a receiver (say, the broker is down) is logged and does not
    break the request that saved the text; the sweeper picks such texts up later.
    """
    if not text_ids:
        return
    ids = list(text_ids)
    transaction.on_commit(
        lambda: customer_texts_saved.send_robust(sender=CustomerText, text_ids=ids), robust=True
    )

"""Tell the apps above the CRM which customers' orders or tickets changed, once per commit.

`announce_activity(customer_ids)` may be called any number of times in a transaction (a
post_save receiver per order or ticket, a CSV batch, a service that moved an order to
another customer): `customers_activity_saved` is sent once, after the transaction commits,
with each customer once. Nothing is sent if it rolls back. Outside a transaction
(autocommit) it is sent at once.

How: each call registers a commit hook of its own, so Django drops it with a rolled-back
transaction or savepoint, and `django_capture_on_commit_callbacks` sees it in tests. The hooks
of a connection are also kept in registration order; the first of a commit's hooks to run
sends its ids together with those of every hook registered after it, which then send
nothing. Hooks registered before it ran already or were rolled back. One imprecision is
accepted: ids announced inside a savepoint that rolled back, while the transaction around
it committed, are sent too. Receivers re-score those customers for nothing, which is
harmless since re-scoring is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from crm.models import Customer
from crm.signals import customers_activity_saved

_PENDING = "_crm_activity_announcements"


@dataclass(eq=False)
class _Announcement:
    """The customers of one announce_activity() call, waiting for their commit."""

    customer_ids: set[int]
    connection: BaseDatabaseWrapper
    sent: bool = False

    def send(self) -> None:
        """The commit hook: send these ids and those announced after them, once."""
        if self.sent:
            return
        pending = _pending(self.connection)
        ids = set(self.customer_ids)
        position = next((i for i, item in enumerate(pending) if item is self), None)
        if position is not None:
            for later in pending[position + 1 :]:
                ids |= later.customer_ids
                later.sent = True
            # Those before it ran already or were rolled back: none is left waiting.
            pending.clear()
        self.sent = True
        customers_activity_saved.send_robust(sender=Customer, customer_ids=sorted(ids))


def _pending(connection: BaseDatabaseWrapper) -> list[_Announcement]:
    pending = getattr(connection, _PENDING, None)
    if pending is None:
        pending = []
        setattr(connection, _PENDING, pending)
    return pending


def announce_activity(customer_ids: Iterable[int | None], *, using: str | None = None) -> None:
    """Announce, after commit, that these customers' orders or tickets were written.

    `using` is the database alias written to (the default one if None): the announcement
    waits for that connection's commit. `robust` on both ends: a failing receiver is logged
    and never undoes or breaks the write that announced it.
    """
    ids = {customer_id for customer_id in customer_ids if customer_id is not None}
    if not ids:
        return
    connection = transaction.get_connection(using)
    announcement = _Announcement(customer_ids=ids, connection=connection)
    if connection.in_atomic_block:
        pending = _pending(connection)
        if not connection.run_on_commit:
            # Nothing waits for this transaction's commit: the announcements kept so far
            # belong to transactions that rolled back.
            pending.clear()
        pending.append(announcement)
    transaction.on_commit(announcement.send, using=using, robust=True)

"""Generate the demo shop: simulate, store the observable facts, write the hidden truth.

`demo_generate` is the one service the `generate_demo` command calls. It refuses to mix a
new demo into a database that already has customers unless told to append or to flush.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from django.db import transaction
from django.db.models import CASCADE, DO_NOTHING, SET_NULL, QuerySet
from django.db.models.signals import post_delete, pre_delete

from crm.demo import truth, writer
from crm.demo.world import simulate
from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage

Mode = Literal["new", "append", "flush"]


class DemoDataExists(Exception):
    """The database already has customers and neither append nor flush was asked for."""


@dataclass
class DemoSummary:
    """What a run produced: rows per table, where the truth went, and how long it took."""

    rows: dict[str, int]
    truth_path: Path
    seconds: dict[str, float] = field(default_factory=dict)


def demo_flush() -> dict[str, int]:
    """Delete every CRM row (customers and all that hangs off them); returns counts deleted.

    Django's delete() loads every row it deletes to cascade in Python: minutes for a demo
    of 100,000 customers. This cascades in SQL instead, with the same on_delete semantics:
    rows of any app that depend on a deleted row (say, sentiment scores of a text) are
    deleted first (CASCADE) or unlinked (SET_NULL). Where a model has delete signal
    receivers, or a relation is PROTECT/RESTRICT/SET_DEFAULT/many-to-many, that part falls
    back to Django's delete() so nothing is skipped.
    """
    deleted: dict[str, int] = {}
    with transaction.atomic():
        for model in (Event, CustomerText, TicketMessage, Ticket, Review, Order, Customer):
            _delete_cascading(model._base_manager.all(), deleted)
    return deleted


def _delete_cascading(queryset: QuerySet, deleted: dict[str, int]) -> None:
    model = queryset.model
    label = model._meta.label
    if any(signal.has_listeners(model) for signal in (pre_delete, post_delete)):
        _, per_model = queryset.delete()
        for name, count in per_model.items():
            deleted[name] = deleted.get(name, 0) + count
        return
    for relation in model._meta.related_objects:
        if relation.many_to_many or relation.on_delete not in (CASCADE, SET_NULL, DO_NOTHING):
            _, per_model = queryset.delete()
            for name, count in per_model.items():
                deleted[name] = deleted.get(name, 0) + count
            return
    for relation in model._meta.related_objects:
        name = relation.field.name
        dependents = relation.related_model._base_manager.filter(**{f"{name}__in": queryset})
        if relation.on_delete is CASCADE:
            _delete_cascading(dependents, deleted)
        elif relation.on_delete is SET_NULL:
            dependents.update(**{name: None})
    # One DELETE statement: what Django itself issues for rows nothing depends on.
    deleted[label] = deleted.get(label, 0) + queryset._raw_delete(queryset.db)


def demo_generate(
    *,
    customers: int,
    seed: int,
    end_date: date,
    truth_path: Path,
    mode: Mode = "new",
    announce: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Simulate `customers` customers over the 18 months ending on `end_date` and store them.

    mode "new" raises DemoDataExists if any customer exists; "append" continues the external
    id numbering after the existing CUST-/ORD-/... records and adds rows to the truth file;
    "flush" deletes all CRM rows first. Deterministic for (customers, seed, end_date): the
    same arguments on an empty database give identical rows and an identical truth file.
    Texts are announced to the sentiment pipeline chunk by chunk unless `announce` is false.
    """
    say = progress or (lambda message: None)
    if customers < 1:
        raise ValueError("customers must be at least 1.")
    if mode == "new" and Customer.objects.exists():
        raise DemoDataExists(
            "The database already has customers. Use --append to add demo customers to them "
            "or --flush to delete all CRM data first."
        )
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    if mode == "flush":
        deleted = demo_flush()
        say(f"Flushed {sum(deleted.values())} CRM rows.")
        seconds["flush"] = time.perf_counter() - clock
    offsets = writer.IdOffsets.from_database() if mode == "append" else writer.IdOffsets()

    clock = time.perf_counter()
    world = simulate(customers, seed, end_date)
    seconds["simulate"] = time.perf_counter() - clock
    say(f"Simulated {customers} customers in {seconds['simulate']:.1f}s; writing.")

    clock = time.perf_counter()
    rows = writer.write_world(
        world,
        offsets=offsets,
        announce=announce,
        progress=lambda done, total: say(f"  {done}/{total} customers written"),
        timings=seconds,
    )
    seconds["write"] = time.perf_counter() - clock

    external_ids = [offsets.external_id("customer", row) for row in range(customers)]
    truth.write_truth(truth.truth_frame(world, external_ids), truth_path, append=mode == "append")
    return DemoSummary(rows=rows, truth_path=Path(truth_path), seconds=seconds)

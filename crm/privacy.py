"""Everything we hold about one customer: export it, or erase what is personal in it.

A data-protection request concerns every app, but crm never imports the apps above it
(DESIGN.md): each app contributes its own part, crm's here, the others from their own
`privacy.py`, registered in their AppConfig.ready() through `register_exporter` and
`register_eraser`.

* `customer_export` collects every part into one dict (JSON-ready through
  `export_json`): records, texts, scores, reasons, interventions, earlier erasures.
* `customer_erase` runs every eraser in one transaction, highest `order` first (the
  apps above crm hold rows that point at crm's, so they go first), then scrubs the admin
  log's copies of what changed, marks the customer erased and writes an `Erasure` audit
  row. What each part erases and what it keeps for reports is in its eraser's docstring;
  the rule is: text and contact details go, derived scores go, counts, amounts, dates and
  outcomes stay on rows that no longer say anything about who the customer is.

Erasing is idempotent: a second run finds nothing personal left, changes nothing (its
counts are the rows it set to the same empty values again) and records one more audit row.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.csvsafe import safe_writer, unescape
from crm.importers import MIN_FIELD_SIZE_LIMIT, csv_field_limit
from crm.models import (
    Customer,
    CustomerNote,
    CustomerText,
    Erasure,
    Event,
    ImportJob,
    Review,
    Ticket,
    TicketMessage,
)

EXPORT_FORMAT = "retention-crm customer export, version 1"
# What an erased row of the admin log shows instead of the object's old name.
ERASED_REPR = "(erased)"
LOG_SCRUB_CHUNK = 500


class UnknownCustomer(LookupError):
    """No customer has that external id."""


# --- The registry ----------------------------------------------------------------------------


Exporter = Callable[[Customer], dict[str, Any]]


@dataclass
class Erasing:
    """One erasure in progress, handed to every eraser: the customer (locked), the moment,
    and what has been deleted or blanked so far, by model label (the audit's counts and the
    list of objects whose admin-log entries are scrubbed at the end)."""

    customer: Customer
    at: datetime
    deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    blanked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    touched: dict[type[models.Model], set[Any]] = field(default_factory=lambda: defaultdict(set))

    def delete(self, rows: QuerySet[Any]) -> int:
        """Delete `rows` (and what cascades from them); count them under their model."""
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            rows.model._default_manager.filter(pk__in=ids).delete()
        self._note(self.deleted, rows.model, ids)
        return len(ids)

    def blank(self, rows: QuerySet[Any], **values: Any) -> int:
        """Overwrite the given fields of `rows` with `values` (an UPDATE: no save(), so no
        signal re-announces a text and no history row copies it again); count them."""
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            rows.model._default_manager.filter(pk__in=ids).update(**values)
        self._note(self.blanked, rows.model, ids)
        return len(ids)

    def _note(self, counts: dict[str, int], model: type[models.Model], ids: list[Any]) -> None:
        counts[model._meta.label] += len(ids)
        self.touched[model].update(ids)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "deleted": dict(sorted(self.deleted.items())),
            "blanked": dict(sorted(self.blanked.items())),
        }


Eraser = Callable[[Erasing], None]


@dataclass(frozen=True)
class _Part:
    name: str
    order: int
    run: Any


EXPORTERS: list[_Part] = []
ERASERS: list[_Part] = []


def _register(parts: list[_Part], part: _Part) -> None:
    if all(p.name != part.name for p in parts):
        parts.append(part)
        parts.sort(key=lambda p: p.order)


def register_exporter(name: str, exporter: Exporter, *, order: int) -> None:
    """Add an app's part of the export: `exporter(customer)` returns top-level keys of the
    export (none may clash with another part's). Lower `order` comes first; registering the
    same name twice keeps the first."""
    _register(EXPORTERS, _Part(name, order, exporter))


def register_eraser(name: str, eraser: Eraser, *, order: int) -> None:
    """Add an app's part of the erasure: `eraser(erasing)` deletes or blanks its rows of
    `erasing.customer` through `erasing.delete` / `erasing.blank`, inside the erasure's
    transaction. Higher `order` runs first (apps above crm before crm)."""
    _register(ERASERS, _Part(name, order, eraser))


# --- Export ----------------------------------------------------------------------------------


def record(instance: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The stored fields of one row, foreign keys as ids (`customer_id`), values as stored:
    the export shows what we hold, not a rendering of it."""
    skip = set(exclude)
    return {
        f.attname: f.value_from_object(instance)
        for f in instance._meta.concrete_fields
        if f.name not in skip
    }


def customer_by_external_id(external_id: str) -> Customer:
    """The customer with this external id; UnknownCustomer names the id when there is none."""
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise UnknownCustomer(f"No customer has the external id {external_id!r}.")
    return customer


def customer_export(*, customer: Customer) -> dict[str, Any]:
    """Everything every app holds about `customer`, as one dict of JSON-ready parts
    (datetimes and decimals are encoded by `export_json`). Reads only."""
    data: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": timezone.now()}
    for part in EXPORTERS:
        contribution = part.run(customer)
        clash = sorted(set(contribution) & set(data))
        if clash:
            raise ValueError(f"Export part {part.name!r} repeats the keys {clash}.")
        data.update(contribution)
    return data


def export_json(data: dict[str, Any]) -> str:
    """The export as indented JSON (ISO datetimes, decimals as strings, UTF-8 kept)."""
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def _export_crm(customer: Customer) -> dict[str, Any]:
    """The customer's own records, each ticket with its messages and reopenings, the
    agents' notes, the texts the pipeline scores (with the text itself), and the
    erasures already carried out."""
    tickets = []
    for ticket in customer.tickets.order_by("opened_at", "pk"):
        row = record(ticket)
        row["messages"] = [record(m) for m in ticket.messages.order_by("created_at", "pk")]
        row["reopenings"] = [record(r) for r in ticket.reopenings.order_by("reopened_at", "pk")]
        tickets.append(row)
    texts = CustomerText.objects.filter(customer=customer).select_related("review", "message")
    return {
        "customer": record(customer),
        "orders": [record(o) for o in customer.orders.order_by("placed_at", "pk")],
        "events": [record(e) for e in customer.events.order_by("occurred_at", "pk").iterator()],
        "reviews": [record(r) for r in customer.reviews.order_by("created_at", "pk")],
        "tickets": tickets,
        "notes": [record(n) for n in customer.notes.order_by("created_at", "pk")],
        "texts": [{**record(t), "text": t.text} for t in texts.order_by("written_at", "pk")],
        "erasures": [record(e) for e in customer.erasures.order_by("erased_at", "pk")],
    }


# --- Erasure ---------------------------------------------------------------------------------


def customer_erase(*, customer: Customer, by: Any = None, via: str = "command") -> Erasure:
    """Remove everything personal held about `customer`, in one transaction, and record
    who did it (`by`, a user; None: the command line, named by the OS user) in an Erasure.

    Every registered eraser runs (highest order first), then the admin log's names of the
    rows they touched are replaced by ERASED_REPR. The customer keeps their row, their
    external id and sign-up time, flagged `is_erased` so that churn scoring, intervention
    matching, training sets and customer imports leave them alone. Safe to run twice (see
    the module docstring)."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        erasing = Erasing(customer=locked, at=timezone.now())
        for part in reversed(ERASERS):
            part.run(erasing)
        _scrub_admin_log(erasing.touched)
        name = by.get_username() if by is not None else f"{_os_user()} (command line)"
        erasure = Erasure(
            customer=locked,
            customer_external_id=locked.external_id,
            erased_by=by,
            erased_by_name=name,
            erased_at=erasing.at,
            via=via,
            counts=erasing.counts(),
        )
        erasure.full_clean()
        erasure.save()
    customer.refresh_from_db()
    return erasure


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown user"


def _erase_crm(erasing: Erasing) -> None:
    """crm's part, run last.

    Erased: the customer's name, email, phone and country (with the sign-up time, a
    country narrows down who someone is) and their marketing consent (nobody may contact
    them now); review titles and bodies; ticket subjects and every message body (agents'
    replies quote and address the customer); the agents' notes; the behaviour events
    (their payloads hold search terms and pages seen, and no report counts them); the
    CustomerText rows, so the pipeline has nothing left to score.

    Kept, for revenue and outcome reports: orders (amounts, dates, status, the coupon code
    that tells whether an intervention's coupon was redeemed), review ratings and product
    references, tickets' channel, status, priority and times, and their reopenings.
    """
    customer = erasing.customer
    _erase_from_imports(erasing)
    erasing.delete(CustomerText.objects.filter(customer=customer))
    erasing.delete(CustomerNote.objects.filter(customer=customer))
    erasing.delete(Event.objects.filter(customer=customer))
    erasing.blank(Review.objects.filter(customer=customer), title="", body="")
    erasing.blank(TicketMessage.objects.filter(ticket__customer=customer), body="")
    erasing.blank(Ticket.objects.filter(customer=customer), subject="")
    erasing.blank(
        Customer.objects.filter(pk=customer.pk),
        name="",
        email="",
        phone="",
        country="",
        marketing_consent=False,
        is_erased=True,
        updated_in_crm_at=erasing.at,
    )


# How much of a value a bad row's error quotes (crm.importers shortens cells to 40).
QUOTED_PREFIX = 30


def _erase_from_imports(erasing: Erasing) -> None:
    """What CSV imports uploaded in the admin kept of the customer: the errors of the first
    bad rows on the job's page (they quote a cell: an id, an email) and the keys of the
    first duplicate rows naming them are replaced by "(erased)", and the rows of the
    rejects CSV holding the customer's id, email or phone in any cell are dropped from it.
    (The upload itself is deleted once imported; one kept after a crash would skip the
    customer's record and texts if run again. All of it goes anyway CRM_IMPORT_KEEP_DAYS
    after the import: crm.services.import_files_expire.)"""
    customer = erasing.customer
    needles = {
        value.strip().casefold()
        for value in (customer.external_id, customer.email, customer.phone)
        if value and value.strip()
    }
    quoted = {f"'{needle[:QUOTED_PREFIX]}" for needle in needles}
    for job in ImportJob.objects.exclude(report={}).only("pk", "report"):
        first_bad = job.report.get("first_bad", [])
        kept = [
            {**bad, "error": ERASED_REPR}
            if any(q in str(bad.get("error", "")).casefold() for q in quoted)
            else bad
            for bad in first_bad
        ]
        # A duplicate's key is its row's id fields joined by "|" (crm.importers).
        duplicates = job.report.get("first_duplicates", [])
        kept_duplicates = [
            {**dup, "key": ERASED_REPR}
            if needles & {part.strip().casefold() for part in str(dup.get("key", "")).split("|")}
            else dup
            for dup in duplicates
        ]
        if kept != first_bad or kept_duplicates != duplicates:
            erasing.blank(
                ImportJob.objects.filter(pk=job.pk),
                report={**job.report, "first_bad": kept, "first_duplicates": kept_duplicates},
            )
    for job in ImportJob.objects.exclude(rejects_name="").only("pk", "rejects_name"):
        path = job.rejects_path
        if path is not None and path.is_file():
            dropped = _drop_csv_rows(path, needles)
            if dropped:
                erasing.blanked[f"{ImportJob._meta.label} rejects rows"] += dropped


def _drop_csv_rows(path: Path, needles: set[str]) -> int:
    """Rewrite the CSV at `path` without the rows a cell of which is one of `needles`
    (compared stripped and case-folded); return how many were dropped. The rewrite
    replaces the file in one rename, so a reader sees the old file or the new one."""
    dropped = 0
    scratch = path.with_name(path.name + ".erasing")
    with (
        csv_field_limit(max(MIN_FIELD_SIZE_LIMIT, 2 * settings.CRM_MAX_TEXT_LENGTH)),
        open(path, encoding="utf-8", errors="surrogateescape", newline="") as source,
        open(scratch, "w", encoding="utf-8", errors="surrogateescape", newline="") as target,
    ):
        writer = safe_writer(target)
        for row in csv.reader(source):
            if any(unescape(cell).strip().casefold() in needles for cell in row):
                dropped += 1
            else:
                writer.writerow([unescape(cell) for cell in row])
    if dropped:
        os.replace(scratch, path)
    else:
        scratch.unlink()
    return dropped


def _scrub_admin_log(touched: dict[type[models.Model], set[Any]]) -> None:
    """The admin log keeps each changed object's name (a customer's is their name, a
    review's its title) and, for inlines, the names of the rows added or changed: both are
    replaced for every row the erasure touched."""
    for model, ids in touched.items():
        if not ids:
            continue
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        keys = sorted(str(pk) for pk in ids)
        for start in range(0, len(keys), LOG_SCRUB_CHUNK):
            LogEntry.objects.filter(
                content_type=content_type, object_id__in=keys[start : start + LOG_SCRUB_CHUNK]
            ).update(object_repr=ERASED_REPR, change_message="")


register_exporter("crm", _export_crm, order=0)
register_eraser("crm", _erase_crm, order=0)

"""Writes to the CRM. Every function is atomic and validates with full_clean() before saving.

Records the shop sends are upserted on their `external_id`: the first call creates, any
later call with the same id updates the fields it names and leaves the others alone.
Saving a review or a customer message announces its text to the pipeline after commit,
and saving an order or a ticket announces its customer's activity (see crm.receivers),
whichever function saved it.

CSV files uploaded in the admin become ImportJob rows whose import a worker runs
(`import_job_create`, `import_job_run`, `import_job_requeue`); that import is the one
exception to "atomic": its batches commit one by one, so that progress shows and a
re-run completes it.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from crm.activity import announce_activity
from crm.models import (
    STORED_IMPORT_NAME,
    Customer,
    Event,
    ImportJob,
    Order,
    Review,
    Ticket,
    TicketMessage,
    TicketReopening,
)
from crm.tasking import DATABASE_ERRORS

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from crm.importers import ImportReport

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)


def _upsert(model: type[M], *, external_id: str, fields: Mapping[str, Any]) -> tuple[M, bool]:
    """Create the record or update the named fields of the existing one.

    Concurrent first writes of the same id race on the unique constraint; the loser's
    IntegrityError turns into an update of the winner's row, so both calls succeed.
    """
    with transaction.atomic():
        instance = (
            model._default_manager.select_for_update().filter(external_id=external_id).first()
        )
        if instance is None:
            instance = model(external_id=external_id, **fields)
            # Uniqueness is left to the database: a check here would race with a
            # concurrent create and answer 400 where the IntegrityError path updates.
            instance.full_clean(validate_unique=False)
            try:
                with transaction.atomic():
                    instance.save(force_insert=True)
                return instance, True
            except IntegrityError:
                instance = model._default_manager.select_for_update().get(external_id=external_id)
        changed = [name for name, value in fields.items() if getattr(instance, name) != value]
        for name in changed:
            setattr(instance, name, fields[name])
        instance.full_clean()
        if changed:
            # Field names may be FK names like "customer"; update_fields wants attnames too.
            instance.save(update_fields=[*changed, "updated_in_crm_at"])
        return instance, False


class CustomerErased(Exception):
    """The customer's personal data was erased at their request: the CRM takes none of it
    again (an old export replayed must not bring it back), nor new texts of theirs."""

    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"Customer {external_id} was erased at their request; their personal data and "
            "texts are not stored again."
        )


def customer_upsert(*, external_id: str, **fields: Any) -> tuple[Customer, bool]:
    """Create or update a customer; returns (customer, created). Raises CustomerErased for
    an erased customer (row-locked check, so an erasure in flight is waited for)."""
    with transaction.atomic():
        erased = Customer.objects.select_for_update().filter(
            external_id=external_id, is_erased=True
        )
        if erased.exists():
            raise CustomerErased(external_id)
        return _upsert(Customer, external_id=external_id, fields=fields)


def order_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Order, bool]:
    """Create or update an order of `customer`; returns (order, created).

    `returned_at` and `cancelled_at` follow Order.settle_status_times: an order that becomes
    returned (or cancelled) with no time given gets the time of this call, one that stays
    so keeps its stored time (None: unknown), one that leaves the status loses it.
    """
    with transaction.atomic():
        stored = (
            Order.objects.select_for_update()
            .filter(external_id=external_id)
            .values("status", "returned_at", "cancelled_at", "customer_id")
            .first()
        )
        settled = Order(
            status=fields.get("status", stored["status"] if stored else Order.Status.PLACED),
            returned_at=fields.get("returned_at"),
            cancelled_at=fields.get("cancelled_at"),
        )
        settled.settle_status_times(stored)
        fields = {
            **fields,
            "returned_at": settled.returned_at,
            "cancelled_at": settled.cancelled_at,
        }
        order, created = _upsert(
            Order, external_id=external_id, fields={"customer": customer, **fields}
        )
        if stored is not None and stored["customer_id"] != order.customer_id:
            announce_activity([stored["customer_id"]])  # it lost an order
        return order, created


def review_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Review, bool]:
    """Create or update a review; its text is scored after commit if new or changed.
    Raises CustomerErased for an erased customer."""
    if customer.is_erased:
        raise CustomerErased(customer.external_id)
    return _upsert(Review, external_id=external_id, fields={"customer": customer, **fields})


def ticket_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Ticket, bool]:
    """Create or update a ticket; a move from solved/closed back to open records a reopening.

    The reopening is dated now and raises `reopened_count` by one, in the same transaction.
    """
    with transaction.atomic():
        existing = Ticket.objects.select_for_update().filter(external_id=external_id).first()
        reopened = False
        if existing is not None and "status" in fields:
            previous = existing.status
            existing.status = fields["status"]
            changed = existing.note_status_change(previous)
            reopened = bool(changed)
            fields = {**fields, **{name: getattr(existing, name) for name in changed}}
        ticket, created = _upsert(
            Ticket, external_id=external_id, fields={"customer": customer, **fields}
        )
        if reopened:
            ticket_reopenings_create(times_by_ticket={ticket.pk: [timezone.now()]})
        if existing is not None and existing.customer_id != ticket.customer_id:
            announce_activity([existing.customer_id])  # it lost a ticket
        return ticket, created


def ticket_reopenings_create(*, times_by_ticket: Mapping[int, Sequence[datetime | None]]) -> None:
    """Store reopenings: ticket pk -> the time of each new one (None: unknown).

    History only: the caller raises each ticket's `reopened_count` by as many, in the same
    transaction, so that the count stays the number of reopenings.
    """
    rows = [
        TicketReopening(ticket_id=ticket_id, reopened_at=when)
        for ticket_id, times in times_by_ticket.items()
        for when in times
    ]
    if rows:
        TicketReopening.objects.bulk_create(rows, batch_size=1000)


def ticket_message_upsert(
    *, external_id: str, ticket: Ticket, **fields: Any
) -> tuple[TicketMessage, bool]:
    """Create or update a ticket message; customer-authored ones are scored after commit.
    Raises CustomerErased when the ticket's customer was erased."""
    if ticket.customer.is_erased:
        raise CustomerErased(ticket.customer.external_id)
    return _upsert(TicketMessage, external_id=external_id, fields={"ticket": ticket, **fields})


def events_upsert(*, events: Sequence[Event]) -> int:
    """Store a batch of events all-or-nothing; an event already stored updates its payload.

    Callers resolve each event's customer (one query per batch, not per event), so the
    customer is not looked up again here. Each event is validated first; if any is invalid,
    ValidationError is raised with errors keyed by the index in the batch, and nothing is
    written.
    """
    errors: dict[str, Any] = {}
    for index, event in enumerate(events):
        try:
            event.full_clean(
                exclude=["customer"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            # ValidationError cannot nest a dict in a dict: name the field in each message.
            errors[str(index)] = [
                f"{field}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            ]
    if errors:
        raise ValidationError(errors)
    # Within one batch, a repeated natural key keeps the later event (what the shop sent last).
    unique: dict[tuple, Event] = {}
    for event in events:
        unique[(event.customer_id, event.kind, event.occurred_at)] = event
    with transaction.atomic():
        Event.objects.bulk_create(
            list(unique.values()),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["customer", "kind", "occurred_at"],
            update_fields=["payload"],
        )
    return len(unique)


# --- CSV imports uploaded in the admin ---------------------------------------------------------
# crm.importers imports this module (ticket_reopenings_create), hence the imports of it and
# of crm.tasks inside the functions below.

# Bounds on what a job keeps of a report: the importer's messages quote cells (shortened),
# but a choice error quotes the whole value, and a header may have thousands of columns.
_KEPT_IGNORED_COLUMNS = 50
_KEPT_TEXT = 300
_KEPT_ERROR = 2_000


class ImportJobFailed(Exception):
    """An uploaded import crashed. Its message is on the job, not in here: it may quote the
    file (a database error names the value it refused), and this exception gets logged."""


def import_job_create(
    *,
    kind: str,
    file_name: str,
    size_bytes: int,
    upload_name: str,
    uploaded_by: User | None,
) -> ImportJob:
    """Record an uploaded CSV file (stored by crm.uploads as `upload_name` in
    CRM_IMPORT_DIR) as a queued job, and queue its import once the transaction commits.

    The job owns the file from here on. If the broker is unreachable, the job is saved all
    the same and stays queued: "Run again" in the admin (import_job_requeue) sends it.
    """
    job = ImportJob(
        kind=kind,
        file_name=file_name,
        size_bytes=size_bytes,
        uploaded_by=uploaded_by,
        upload_name=upload_name,
        rejects_name=upload_name.removesuffix(".csv") + "-rejects.csv",
    )
    job.full_clean()
    with transaction.atomic():
        job.save(force_insert=True)
        _import_job_enqueue(job.pk)
    return job


def import_job_requeue(*, job_id: int) -> bool:
    """Queue a job's import again, if it can run: queued (its message may be lost), running
    with no batch done for ImportJob.STALE_AFTER (its worker died), or failed with its
    upload kept (a crash or the time limit). Returns whether it was queued.

    Safe with a message of the job still on its way: whichever delivery claims it first
    runs it, the others find nothing to claim. Rows loaded by an earlier attempt are not
    written again (the importer's upserts skip unchanged rows).
    """
    stale = timezone.now() - ImportJob.STALE_AFTER
    with transaction.atomic():
        queued = (
            ImportJob.objects.filter(pk=job_id)
            .exclude(upload_name="")
            .filter(
                Q(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.FAILED])
                | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
            )
            .update(status=ImportJob.Status.QUEUED, error="", finished_at=None)
        )
        if queued:
            _import_job_enqueue(job_id)
    return bool(queued)


# A queued job whose message has not started it within this time has most likely lost it
# (the broker was down when it was sent, or restarted without it).
IMPORT_QUEUED_GRACE = timedelta(minutes=5)


def import_jobs_sweep(*, now: datetime | None = None) -> int:
    """Queue again every job that should be running and is not: queued for longer than
    IMPORT_QUEUED_GRACE, or running with no batch done for ImportJob.STALE_AFTER (its
    worker died). Failed jobs are left to a person ("Run again"). Returns how many were
    queued; safe with their first messages still on the way (import_job_requeue)."""
    now = now or timezone.now()
    lost = ImportJob.objects.claimable(now).exclude(
        status=ImportJob.Status.QUEUED, created_at__gte=now - IMPORT_QUEUED_GRACE
    )
    return sum(import_job_requeue(job_id=pk) for pk in lost.values_list("pk", flat=True))


# A stored file no job names is an orphan once it has not been written to for this long:
# an upload being received, or renamed and about to be recorded, is touched by the second.
IMPORT_ORPHAN_AGE = timedelta(days=1)


def import_files_expire(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete what imports keep of customers' data once it is no longer needed; return
    (jobs expired, orphan files deleted).

    A job finished more than CRM_IMPORT_KEEP_DAYS ago loses its files (the rejects CSV,
    an upload kept for "Run again") and the bad rows and duplicate keys its page quotes;
    its counts and error stay, and `report["files_deleted_at"]` says when. A file in
    CRM_IMPORT_DIR under a name imports make (`<32 hex>.csv`, its rejects, and their
    scratch files) that no job names and that has not changed for IMPORT_ORPHAN_AGE is
    deleted: a request or a worker died between writing it and recording it. Other files
    there are left alone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CRM_IMPORT_KEEP_DAYS)
    expired = 0
    for job in (
        ImportJob.objects.filter(finished_at__lt=cutoff)
        .exclude(report__has_key="files_deleted_at")
        .only("pk", "report", "upload_name", "rejects_name")
    ):
        report = {**job.report, "first_bad": [], "first_duplicates": []}
        report["files_deleted_at"] = now.isoformat()
        # The row first, then the files: a crash in between leaves orphans, never a row
        # pointing at nothing.
        ImportJob.objects.filter(pk=job.pk).update(upload_name="", rejects_name="", report=report)
        for path in (job.upload_path, job.rejects_path):
            if path is not None:
                path.unlink(missing_ok=True)
        expired += 1
    return expired, _import_orphans_delete(now)


def _import_orphans_delete(now: datetime) -> int:
    directory = Path(settings.CRM_IMPORT_DIR)
    if not directory.is_dir():
        return 0
    named = set(
        ImportJob.objects.exclude(upload_name="").values_list("upload_name", flat=True)
    ) | set(ImportJob.objects.exclude(rejects_name="").values_list("rejects_name", flat=True))
    older = (now - IMPORT_ORPHAN_AGE).timestamp()
    deleted = 0
    for path in directory.iterdir():
        # ".part": an upload being received; ".erasing": crm.privacy rewriting a rejects CSV.
        stored = path.name.removesuffix(".part").removesuffix(".erasing")
        if not re.fullmatch(STORED_IMPORT_NAME, stored) or path.name in named:
            continue
        try:
            if path.is_file() and path.stat().st_mtime < older:
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # deleted meanwhile by whoever owned it
            continue
    return deleted


def import_job_run(*, job_id: int, final_attempt: bool = True) -> str:
    """Run the import of a queued job (the worker's side); returns a line for its log.

    Safe to run twice: the job is claimed by a conditional UPDATE (queued, or running but
    stale, to running), so a duplicate delivery, or one for a job that is gone, finished
    or running elsewhere, claims nothing and returns. The counts are updated after every
    batch (the admin shows the progress, and the time of the last batch tells a live job
    from a dead one).

    Ends as:
    * done: the upload is deleted; the rejects CSV is kept if rows were bad;
    * failed with the importer's message, verbatim, when the file cannot be imported
      (ImportFileError, nothing loaded) or when every row is bad: the upload is deleted,
      since only a corrected file can be imported;
    * failed with the error's type and message when anything else breaks, the upload
      kept so that the job can be run again (the batches before were committed and are
      not written twice); ImportJobFailed is raised, so the task shows as failed;
    * a database error propagates for the task to retry, the job back in the queue;
      on the `final_attempt` the job fails instead.
    """
    from crm.importers import ImportFileError, import_csv

    now = timezone.now()
    claimed = (
        ImportJob.objects.claimable(now)
        .filter(pk=job_id)
        .update(
            status=ImportJob.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            rows_read=0,
            rows_loaded=0,
            rows_bad=0,
            error="",
            report={},
        )
    )
    if not claimed:
        return f"import job {job_id}: not queued, nothing to do"
    job = ImportJob.objects.get(pk=job_id)
    upload = job.upload_path
    if upload is None or not upload.is_file():
        _import_job_end(
            job,
            status=ImportJob.Status.FAILED,
            error="The uploaded file is no longer on the server (CRM_IMPORT_DIR); upload it again.",
        )
        return f"import job {job_id}: failed, the upload is gone"

    def progress(report: ImportReport) -> None:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            rows_read=report.rows_read,
            rows_loaded=report.loaded,
            rows_bad=report.bad,
            heartbeat_at=timezone.now(),
        )

    try:
        report = import_csv(
            kind=job.kind, path=upload, rejects_path=job.rejects_path, on_batch=progress
        )
    except ImportFileError as exc:
        _import_job_end(job, status=ImportJob.Status.FAILED, error=str(exc))
        return f"import job {job_id}: failed, the file cannot be imported"
    except DATABASE_ERRORS as exc:
        if final_attempt:
            _import_job_end(
                job, status=ImportJob.Status.FAILED, error=_crash_text(exc), keep_upload=True
            )
        else:
            # Back in the queue for the retry. If the database is still away this fails
            # too; the job then turns stale and the retry or "Run again" claims it.
            ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                status=ImportJob.Status.QUEUED
            )
        raise
    except Exception as exc:
        # Logged without its message (see ImportJobFailed); the job keeps the message.
        logger.error(
            "Import job %s failed with %s:\n%s",
            job_id,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        _import_job_end(
            job, status=ImportJob.Status.FAILED, error=_crash_text(exc), keep_upload=True
        )
        raise ImportJobFailed(
            f"Import job {job_id} failed with {type(exc).__name__}; its page in the admin says why."
        ) from None

    if report.rows_read and not report.loaded:
        _import_job_end(
            job,
            status=ImportJob.Status.FAILED,
            error=f"Nothing could be loaded: all {report.rows_read:,} rows are bad "
            "(see the bad rows below).",
            report=report,
        )
        return f"import job {job_id}: failed, every row is bad"
    _import_job_end(job, status=ImportJob.Status.DONE, report=report)
    return f"import job {job_id}: done, {report.loaded} rows loaded, {report.bad} bad"


def _import_job_enqueue(job_id: int) -> None:
    from crm.tasks import import_job_run as task

    # robust: with the broker down the job is saved all the same (and stays queued).
    transaction.on_commit(lambda: task.delay(job_id), robust=True)


def _crash_text(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        hours = settings.CRM_IMPORT_TIME_LIMIT / 3600
        return (
            f"Stopped at the time limit ({hours:g} h, CRM_IMPORT_TIME_LIMIT). The rows read "
            "until then are loaded; run it again to load the rest."
        )
    return f"{type(exc).__name__}: {exc}"


def _import_job_end(
    job: ImportJob,
    *,
    status: str,
    error: str = "",
    report: ImportReport | None = None,
    keep_upload: bool = False,
) -> None:
    """Record how a running job ended, then delete the files it no longer needs: the upload
    unless `keep_upload`, the rejects CSV unless rows were bad."""
    keep_rejects = report is not None and report.bad > 0
    fields: dict[str, Any] = {
        "status": status,
        "error": error[:_KEPT_ERROR],
        "finished_at": timezone.now(),
    }
    if report is not None:
        fields.update(
            rows_read=report.rows_read,
            rows_loaded=report.loaded,
            rows_bad=report.bad,
            report=_import_report_json(report),
        )
    if not keep_upload:
        fields["upload_name"] = ""
    if not keep_rejects:
        fields["rejects_name"] = ""
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(**fields)
    # Deleted after the row no longer names them: a file left by a crash in between is an
    # orphan, never a row pointing at nothing.
    gone: list[Path | None] = []
    if not keep_upload:
        gone.append(job.upload_path)
    if not keep_rejects:
        gone.append(job.rejects_path)
    for path in gone:
        if path is not None:
            path.unlink(missing_ok=True)


def _import_report_json(report: ImportReport) -> dict[str, Any]:
    """What the job page shows of a report, bounded in size whatever the file."""
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": report.skipped,
        "duplicates": report.duplicates,
        "seconds": round(report.seconds, 1),
        "ignored_columns": [
            name[:_KEPT_TEXT] for name in report.ignored_columns[:_KEPT_IGNORED_COLUMNS]
        ],
        "ignored_count": len(report.ignored_columns),
        "first_bad": [
            {"line": bad.line, "error": bad.error[:_KEPT_TEXT]} for bad in report.first_bad
        ],
        "first_duplicates": [
            {"line": d.line, "earlier_line": d.earlier_line, "key": d.key[:_KEPT_TEXT]}
            for d in report.first_duplicates
        ],
    }

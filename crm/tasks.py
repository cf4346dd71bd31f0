"""Celery tasks of the crm app: the import of a CSV file uploaded in the admin, and the
sweep that restarts imports whose message or worker was lost."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from crm import services
from crm.tasking import DATABASE_ERRORS, database_task


@database_task(
    "crm.import_job_run",
    bind=True,
    # Its own limits, not the global 15 minutes: a 2 GB file takes an hour or more. The
    # soft one lets the job record that it was stopped; the hard one ends a stuck worker.
    soft_time_limit=settings.CRM_IMPORT_TIME_LIMIT,
    time_limit=settings.CRM_IMPORT_TIME_LIMIT + 60,
)
def import_job_run(self: Any, job_id: int) -> str:
    """Import the file of ImportJob `job_id` (crm.services.import_job_run).

    Safe to run twice: the job is claimed with a conditional UPDATE (queued -> running), so
    a duplicate or late delivery finds nothing to claim and returns; a job that is gone
    likewise. Retried on database errors, with the job put back in the queue; on the last
    attempt it is marked failed instead. An import outlives Redis's visibility timeout
    (an hour): the copy it then delivers again finds the job running and returns.
    """
    return services.import_job_run(
        job_id=job_id, final_attempt=self.request.retries >= self.max_retries
    )


@shared_task(name="crm.sweep_import_jobs", autoretry_for=DATABASE_ERRORS, max_retries=2)
def sweep_import_jobs() -> str:
    """Every few minutes (beat): queue again the uploaded imports whose message was lost or
    whose worker died (crm.services.import_jobs_sweep), and delete the files and quoted
    rows of imports past CRM_IMPORT_KEEP_DAYS and orphaned files (import_files_expire).
    Safe to run twice: a job is claimed by one delivery of its import only, and deleting
    what is already gone does nothing."""
    queued = services.import_jobs_sweep()
    expired, orphans = services.import_files_expire()
    return f"imports queued again: {queued}, expired: {expired}, orphaned files deleted: {orphans}"

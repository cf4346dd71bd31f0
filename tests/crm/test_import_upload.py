"""CSV import from the admin: upload (streamed, size-capped), the worker's job, the report and
the rejects download, who may do what, and what never reaches the logs."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import importers, tasks
from crm.models import Customer, Erasure, ImportJob
from crm.privacy import customer_erase
from crm.services import ImportJobFailed
from tests.factories import CustomerFactory, ImportJobFactory, UserFactory

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/admin/crm/importjob/upload/"
NAME = "Henrietta Quagglebury"
EMAIL = "henrietta@quaggle.example"
BAD_DATE = "Quaggle-o-clock"
# Line 3 is bad: its sign-up time is not a date.
CUSTOMERS_CSV = (
    "external_id,signed_up_at,name,email\n"
    f"UP-1,2024-01-05T10:00:00Z,{NAME},{EMAIL}\n"
    f"UP-2,{BAD_DATE},Bad Row,bad@quaggle.example\n"
    "UP-3,2024-02-01,Third Customer,third@shop.example\n"
).encode()


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path: Path) -> Path:
    """Each test's own CRM_IMPORT_DIR, so 'nothing left on disk' means this test's files."""
    settings.CRM_IMPORT_DIR = tmp_path / "imports"
    return settings.CRM_IMPORT_DIR


@pytest.fixture
def tasks_in_process(monkeypatch) -> None:
    """Celery runs each task where it is sent, errors raised (as in test_logs_privacy)."""
    from config.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


def staff_in(group: str | None) -> Client:
    """A signed-in staff user of the role group (None: no group, no permissions)."""
    user = UserFactory(is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def marketer() -> Client:
    return staff_in("Marketing")


def upload(client: Client, content: bytes, *, kind: str = "customers", **extra: Any) -> Any:
    file = SimpleUploadedFile("shop-export.csv", content, content_type="text/csv")
    return client.post(UPLOAD_URL, {"kind": kind, "file": file}, **extra)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*")) if directory.exists() else []


def refused_message(response: Any) -> str:
    match = re.search(
        r'<p class="errornote" id="upload-refused">(.*?)</p>', response.content.decode()
    )
    assert match, response.content.decode()[:2000]
    return match.group(1)


@pytest.fixture
def uploaded(marketer, django_capture_on_commit_callbacks) -> Iterator[ImportJob]:
    """A customers file with one bad row, uploaded and queued, its import not run yet."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(marketer, CUSTOMERS_CSV)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:crm_importjob_change", args=[job.pk])
    assert len(callbacks) == 1  # the task is sent after commit, once
    yield job


# --- The whole path ----------------------------------------------------------------------------


def test_uploaded_file_with_one_bad_row_loads_and_reports_the_line_and_its_rejects(
    marketer, tasks_in_process, django_capture_on_commit_callbacks, import_dir
) -> None:
    """GIVEN a marketer WHEN they upload a customers CSV with a bad row on line 3
    THEN a job is queued, the worker loads the two good rows, the job page shows the bad
    line with its reason, the rejects CSV downloads, and the upload itself is deleted."""
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(marketer, CUSTOMERS_CSV)
    assert response.status_code == 302

    job = ImportJob.objects.get()
    assert (job.status, job.kind, job.file_name, job.size_bytes) == (
        "done",
        "customers",
        "shop-export.csv",
        len(CUSTOMERS_CSV),
    )
    assert (job.rows_read, job.rows_loaded, job.rows_bad) == (3, 2, 1)
    assert job.uploaded_by is not None and job.started_at and job.finished_at
    assert [bad["line"] for bad in job.report["first_bad"]] == [3]
    assert "signed_up_at" in job.report["first_bad"][0]["error"]
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"UP-1", "UP-3"}
    assert job.upload_name == "" and files_in(import_dir) == [job.rejects_name]

    page = marketer.get(reverse("admin:crm_importjob_change", args=[job.pk])).content.decode()
    assert "<td>3</td>" in page and "is not a date" in page
    assert "2 loaded" in page and reverse("admin:crm_importjob_rejects", args=[job.pk]) in page

    download = marketer.get(reverse("admin:crm_importjob_rejects", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        f'attachment; filename="import-{job.pk}-customers-rejects.csv"'
    )
    rejects = b"".join(download.streaming_content).decode()
    assert rejects.splitlines()[0] == "line,error,external_id,signed_up_at,name,email"
    assert rejects.splitlines()[1].startswith("3,") and "UP-2" in rejects


def test_a_file_without_bad_rows_keeps_no_files(
    marketer, tasks_in_process, django_capture_on_commit_callbacks, import_dir
) -> None:
    good = b"external_id,signed_up_at\nOK-1,2024-01-05\nOK-2,2024-01-06\n"
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, good)
    job = ImportJob.objects.get()
    assert (job.status, job.rows_loaded, job.rows_bad, job.rejects_name) == ("done", 2, 0, "")
    assert files_in(import_dir) == []
    refused = marketer.get(reverse("admin:crm_importjob_rejects", args=[job.pk]))
    assert refused.status_code == 404


def test_a_missing_required_column_fails_the_job_with_the_importers_message(
    marketer, tasks_in_process, django_capture_on_commit_callbacks, import_dir, tmp_path
) -> None:
    content = b"external_id,name\nX-1,No Date\n"
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, content)
    job = ImportJob.objects.get()
    copy = tmp_path / "same.csv"
    copy.write_bytes(content)
    with pytest.raises(importers.ImportFileError) as expected:
        importers.import_csv(kind="customers", path=copy)
    assert job.status == "failed"
    assert job.error == str(expected.value) and "signed_up_at" in job.error
    assert (job.rows_read, job.rows_loaded) == (0, 0) and not Customer.objects.exists()
    assert files_in(import_dir) == []  # a file that cannot be imported is not kept
    page = marketer.get(reverse("admin:crm_importjob_change", args=[job.pk])).content.decode()
    assert "Missing required column" in page


def test_a_file_of_only_bad_rows_fails_and_keeps_its_rejects(
    marketer, tasks_in_process, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, b"external_id,signed_up_at\nB-1,never\nB-2,later\n")
    job = ImportJob.objects.get()
    assert (job.status, job.rows_bad, job.rows_loaded) == ("failed", 2, 0)
    assert "Nothing could be loaded" in job.error and job.rejects_path.is_file()


# --- Size limit -----------------------------------------------------------------------------


def test_a_body_announced_over_the_limit_is_refused_on_the_form_before_it_is_read(
    marketer, import_dir
) -> None:
    """GIVEN the default limit of 2 GiB WHEN a request announces a 2.3 GB body
    THEN the form says so (413), without reading it: no job, no file, nothing loaded."""
    announced = str(int(2.3 * 1024**3))
    with mock.patch("crm.admin.ImportUploadHandler") as handler:
        response = upload(marketer, CUSTOMERS_CSV, CONTENT_LENGTH=announced)
    assert response.status_code == 413
    assert refused_message(response) == (
        "The file is 2.3 GB; the limit is 2.0 GB (CRM_IMPORT_MAX_BYTES)."
    )
    assert not handler.called
    assert not ImportJob.objects.exists() and not Customer.objects.exists()
    assert files_in(import_dir) == []


def test_a_file_over_a_small_limit_is_refused_up_front(marketer, settings, import_dir) -> None:
    settings.CRM_IMPORT_MAX_BYTES = 1000
    response = upload(marketer, b"external_id,signed_up_at\n" + b"A,2024-01-01\n" * 10_000)
    assert response.status_code == 413
    assert re.fullmatch(
        r"The file is [\d.]+ KB; the limit is 1000 bytes \(CRM_IMPORT_MAX_BYTES\)\.",
        refused_message(response),
    )
    assert not ImportJob.objects.exists() and files_in(import_dir) == []


def test_a_file_passing_the_limit_while_streaming_is_cut_off_and_deleted(
    marketer, settings, import_dir
) -> None:
    """GIVEN a limit of 1,000 bytes WHEN a 5 KB file arrives (the body is small enough to
    pass the announced-size check) THEN the handler stops at the limit: the form says so
    with the kind still chosen, no job, and the partial file is gone."""
    settings.CRM_IMPORT_MAX_BYTES = 1000
    content = b"external_id,signed_up_at\n" + b"S-1,2024-01-01\n" * 350
    response = upload(marketer, content, kind="orders")
    assert response.status_code == 413
    assert refused_message(response) == (
        "The file is larger than 1000 bytes, the limit (CRM_IMPORT_MAX_BYTES)."
    )
    assert '<option value="orders" selected>' in response.content.decode()
    assert not ImportJob.objects.exists() and files_in(import_dir) == []


def test_the_file_does_not_count_against_data_upload_max_memory_size(
    marketer, settings, django_capture_on_commit_callbacks, import_dir
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # the form fields, not the file
    with django_capture_on_commit_callbacks():
        response = upload(marketer, CUSTOMERS_CSV * 20)
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.upload_path.read_bytes() == CUSTOMERS_CSV * 20
    assert files_in(import_dir) == [job.upload_name]


def test_an_empty_file_is_refused_on_the_form_and_not_kept(marketer, import_dir) -> None:
    response = upload(marketer, b"")
    assert response.status_code == 200
    assert "The submitted file is empty." in response.content.decode()
    assert not ImportJob.objects.exists() and files_in(import_dir) == []


def test_the_upload_checks_the_csrf_token_once_the_handler_is_in_place(import_dir) -> None:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Managers"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(UPLOAD_URL).status_code == 200
    assert upload(client, CUSTOMERS_CSV).status_code == 403
    assert files_in(import_dir) == [] and not ImportJob.objects.exists()

    token = client.cookies["csrftoken"].value
    file = SimpleUploadedFile("shop-export.csv", CUSTOMERS_CSV, content_type="text/csv")
    accepted = client.post(
        UPLOAD_URL, {"csrfmiddlewaretoken": token, "kind": "customers", "file": file}
    )
    assert accepted.status_code == 302 and ImportJob.objects.get().status == "queued"


# --- The worker's side: claims, duplicates, crashes ------------------------------------------


def test_a_duplicate_delivery_imports_once(uploaded) -> None:
    with mock.patch.object(importers, "import_csv", wraps=importers.import_csv) as spy:
        first = tasks.import_job_run.apply(args=[uploaded.pk]).get()
        second = tasks.import_job_run.apply(args=[uploaded.pk]).get()
    assert spy.call_count == 1
    assert "done" in first and "nothing to do" in second
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.rows_loaded) == ("done", 2)


def test_a_delivery_while_the_job_runs_elsewhere_does_nothing_but_a_stalled_job_restarts(
    uploaded,
) -> None:
    ImportJob.objects.filter(pk=uploaded.pk).update(
        status="running", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    with mock.patch.object(importers, "import_csv", wraps=importers.import_csv) as spy:
        tasks.import_job_run.apply(args=[uploaded.pk]).get()
        assert spy.call_count == 0
        stalled = timezone.now() - ImportJob.STALE_AFTER - timedelta(minutes=1)
        ImportJob.objects.filter(pk=uploaded.pk).update(heartbeat_at=stalled)
        tasks.import_job_run.apply(args=[uploaded.pk]).get()
        assert spy.call_count == 1
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.rows_loaded) == ("done", 2)


def test_the_sweeper_restarts_lost_and_stalled_jobs_but_not_fresh_or_failed_ones(
    uploaded, tasks_in_process, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    kept = {"upload_name": "0" * 32 + ".csv"}  # each with its upload still on disk
    fresh = ImportJobFactory(status="queued", created_at=now, **kept)
    failed = ImportJobFactory(status="failed", created_at=now - timedelta(hours=1), **kept)
    alive = ImportJobFactory(
        status="running", created_at=now - timedelta(hours=1), heartbeat_at=now, **kept
    )
    # The upload's message never arrived (sent while the broker was down, say).
    ImportJob.objects.filter(pk=uploaded.pk).update(created_at=now - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_import_jobs.delay().get().startswith("imports queued again: 1,")
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.rows_loaded) == ("done", 2)
    assert Customer.objects.filter(external_id__in=["UP-1", "UP-3"]).count() == 2
    # A worker died mid-import: no batch for longer than STALE_AFTER.
    stalled = now - ImportJob.STALE_AFTER - timedelta(minutes=1)
    ImportJob.objects.filter(pk=alive.pk).update(heartbeat_at=stalled)
    with (
        mock.patch("crm.services.import_job_run", return_value="") as run,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.sweep_import_jobs.delay().get().startswith("imports queued again: 1,")
    run.assert_called_once_with(job_id=alive.pk, final_attempt=False)
    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert (statuses[fresh.pk], statuses[failed.pk]) == ("queued", "failed")


def test_a_job_that_is_gone_is_skipped_quietly() -> None:
    assert "nothing to do" in tasks.import_job_run.apply(args=[987654]).get()


def test_progress_is_recorded_after_every_batch(uploaded) -> None:
    seen: list[tuple[int, int]] = []
    real_import = importers.import_csv

    def small_batches(**kwargs: Any) -> importers.ImportReport:
        def on_batch(report: importers.ImportReport) -> None:
            kwargs["on_batch"](report)
            job = ImportJob.objects.get(pk=uploaded.pk)
            seen.append((job.rows_read, job.rows_bad))

        return real_import(**{**kwargs, "batch_size": 1, "on_batch": on_batch})

    with mock.patch.object(importers, "import_csv", side_effect=small_batches):
        tasks.import_job_run.apply(args=[uploaded.pk]).get()
    assert seen == [(1, 0), (2, 1), (3, 1)]


def test_a_crash_fails_the_job_keeps_the_upload_logs_no_content_and_can_run_again(
    uploaded, marketer, caplog, django_capture_on_commit_callbacks, tasks_in_process
) -> None:
    """GIVEN a queued upload WHEN the import crashes with a message quoting the file
    THEN the job is failed with the error's type and message, the task fails with a
    message that quotes nothing, the log holds no content, the upload is kept; "Run the
    selected imports again" then completes it."""
    caplog.set_level(logging.DEBUG)
    crash = ValueError(f"cannot store {BAD_DATE!r}")
    with (
        mock.patch.object(importers, "import_csv", side_effect=crash),
        pytest.raises(ImportJobFailed) as raised,
    ):
        tasks.import_job_run.apply(args=[uploaded.pk])  # eager errors propagate
    uploaded.refresh_from_db()
    assert uploaded.status == "failed"
    assert uploaded.error == f"ValueError: cannot store {BAD_DATE!r}"
    assert uploaded.upload_path.is_file()
    assert "ValueError" in caplog.text and BAD_DATE not in caplog.text
    assert BAD_DATE not in str(raised.value) and raised.value.__suppress_context__

    changelist = reverse("admin:crm_importjob_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(
            changelist, {"action": "run_again", "_selected_action": [uploaded.pk]}
        )
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.rows_loaded, uploaded.error) == ("done", 2, "")


def test_a_database_error_puts_the_job_back_for_the_retry_and_the_last_attempt_fails_it(
    uploaded,
) -> None:
    from crm.services import import_job_run

    with mock.patch.object(importers, "import_csv", side_effect=OperationalError("gone")):
        with pytest.raises(OperationalError):
            import_job_run(job_id=uploaded.pk, final_attempt=False)
        uploaded.refresh_from_db()
        assert uploaded.status == "queued"
        with pytest.raises(OperationalError):
            import_job_run(job_id=uploaded.pk, final_attempt=True)
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.error) == ("failed", "OperationalError: gone")
    assert uploaded.upload_path.is_file()


def test_run_again_refuses_jobs_that_are_done_or_lost_their_file(marketer) -> None:
    done = ImportJobFactory()
    response = marketer.post(
        reverse("admin:crm_importjob_changelist"),
        {"action": "run_again", "_selected_action": [done.pk]},
        follow=True,
    )
    assert "could not run again" in response.content.decode()
    done.refresh_from_db()
    assert done.status == "done"


def test_a_stalled_job_says_so_on_its_page(marketer) -> None:
    job = ImportJobFactory(
        status="running",
        finished_at=None,
        heartbeat_at=timezone.now() - ImportJob.STALE_AFTER - timedelta(minutes=5),
    )
    page = marketer.get(reverse("admin:crm_importjob_change", args=[job.pk])).content.decode()
    assert "no progress since" in page and 'http-equiv="refresh"' in page


def test_the_upload_and_its_import_log_nothing_of_the_files_content(
    marketer, tasks_in_process, django_capture_on_commit_callbacks, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, CUSTOMERS_CSV)
    assert ImportJob.objects.get().status == "done"
    assert caplog.records, "nothing was captured: the check below would prove nothing"
    logged = "\n".join([caplog.text, *(str(r.args) for r in caplog.records)]).lower()
    leaked = [s for s in (NAME, EMAIL, BAD_DATE, "Quaggle") if s.lower() in logged]
    assert not leaked, (leaked, caplog.text)


# --- Who may do what ----------------------------------------------------------------------


def test_an_agent_may_neither_open_nor_post_the_upload_page(import_dir) -> None:
    agent = staff_in("Agents")
    assert agent.get(UPLOAD_URL).status_code == 403
    assert upload(agent, CUSTOMERS_CSV).status_code == 403
    assert not ImportJob.objects.exists() and files_in(import_dir) == []


def test_managers_and_marketing_may_upload(import_dir) -> None:
    for group in ("Managers", "Marketing"):
        assert staff_in(group).get(UPLOAD_URL).status_code == 200, group


def test_the_rejects_download_needs_view_permission(tmp_path, import_dir) -> None:
    import_dir.mkdir(parents=True)
    job = ImportJobFactory(rejects_name=f"{'a' * 32}-rejects.csv")
    (import_dir / job.rejects_name).write_text("line,error\n4,bad\n")
    url = reverse("admin:crm_importjob_rejects", args=[job.pk])
    assert staff_in(None).get(url).status_code == 403
    assert staff_in("Agents").get(url).status_code == 403
    assert staff_in("Managers").get(url).status_code == 200


def test_the_rejects_download_opens_only_names_of_the_imports_folder(
    marketer, tmp_path, import_dir
) -> None:
    """A row naming another path (tampered, or an old layout) is a 404, never that file."""
    secret = tmp_path / "secret.csv"
    secret.write_text("not yours\n")
    job = ImportJobFactory()
    ImportJob.objects.filter(pk=job.pk).update(rejects_name="../secret.csv")
    response = marketer.get(reverse("admin:crm_importjob_rejects", args=[job.pk]))
    assert response.status_code == 404


# --- The admin pages ------------------------------------------------------------------------


def test_changelist_search_and_detail_pages_open(admin_client) -> None:
    job = ImportJobFactory(file_name="spring-orders.csv")
    ImportJobFactory(file_name="other.csv")
    changelist = reverse("admin:crm_importjob_changelist")
    listed = admin_client.get(changelist)
    assert listed.status_code == 200 and job in listed.context["cl"].result_list
    assert UPLOAD_URL in listed.content.decode()  # "Import a CSV file"
    found = admin_client.get(changelist, {"q": "spring"})
    assert list(found.context["cl"].result_list) == [job]
    detail = admin_client.get(reverse("admin:crm_importjob_change", args=[job.pk]))
    assert detail.status_code == 200 and "<td>4</td>" in detail.content.decode()


def test_jobs_are_made_by_uploading_and_never_edited_or_deleted(admin_client) -> None:
    job = ImportJobFactory()
    add = admin_client.get(reverse("admin:crm_importjob_add"))
    assert add.status_code == 302 and add["Location"] == UPLOAD_URL
    change = reverse("admin:crm_importjob_change", args=[job.pk])
    assert b'name="file_name"' not in admin_client.get(change).content
    assert admin_client.post(change, {"file_name": "x"}).status_code == 403
    delete = reverse("admin:crm_importjob_delete", args=[job.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert ImportJob.objects.filter(pk=job.pk, file_name=job.file_name).exists()


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries
) -> None:
    url = reverse("admin:crm_importjob_changelist")
    ImportJobFactory.create_batch(5)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    ImportJobFactory.create_batch(45)
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_erasing_a_customer_removes_them_from_import_reports_and_rejects(
    marketer, tasks_in_process, django_capture_on_commit_callbacks, import_dir
) -> None:
    """GIVEN reviews imported before their customer existed (bad rows naming the customer's
    id) WHEN that customer is later created and erased THEN the job's page no longer quotes
    the id and the rejects CSV no longer holds their row, while the other bad row stays."""
    CustomerFactory(external_id="C-OK")
    reviews = (
        b"external_id,customer,rating,created_at,body\n"
        b"R1,ERASE-ME,1,2024-01-01,Call me on 0170 555 0101\n"
        b"R2,C-OK,5,2024-01-01,Lovely\n"
        b"R3,NOBODY,4,2024-01-01,Fine\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, reviews, kind="reviews")
    job = ImportJob.objects.get()
    assert [bad["error"] for bad in job.report["first_bad"]] == [
        "unknown customer 'ERASE-ME'",
        "unknown customer 'NOBODY'",
    ]
    person = CustomerFactory(external_id="ERASE-ME", email="erase.me@example.com")

    customer_erase(customer=person)

    job.refresh_from_db()
    assert [bad["error"] for bad in job.report["first_bad"]] == [
        "(erased)",
        "unknown customer 'NOBODY'",
    ]
    rejects = job.rejects_path.read_text()
    assert "ERASE-ME" not in rejects and "0170 555 0101" not in rejects
    assert rejects.splitlines()[0] == "line,error,external_id,customer,rating,created_at,body"
    assert rejects.splitlines()[1].startswith("4,") and "NOBODY" in rejects
    erasure = Erasure.objects.get()
    assert erasure.counts["blanked"]["crm.ImportJob rejects rows"] == 1


def test_erasing_a_customer_removes_their_id_from_the_duplicates_an_import_reports(
    marketer, tasks_in_process, django_capture_on_commit_callbacks
) -> None:
    """The job's page quotes the key of the first duplicate rows; an erased customer's id
    must not stay there while another customer's duplicate does."""
    customers = (
        b"external_id,signed_up_at,name,email\n"
        b"ERASE-ME,2024-01-01,Old Name,erase.me@example.com\n"
        b"ERASE-ME,2024-01-01,New Name,erase.me@example.com\n"
        b"KEEP-ME,2024-01-01,Kept,kept@example.com\n"
        b"KEEP-ME,2024-01-01,Kept Again,kept@example.com\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, customers)
    job = ImportJob.objects.get()
    assert [dup["key"] for dup in job.report["first_duplicates"]] == ["ERASE-ME", "KEEP-ME"]

    customer_erase(customer=Customer.objects.get(external_id="ERASE-ME"))

    job.refresh_from_db()
    assert [dup["key"] for dup in job.report["first_duplicates"]] == ["(erased)", "KEEP-ME"]
    page = marketer.get(reverse("admin:crm_importjob_change", args=[job.pk])).content.decode()
    assert "ERASE-ME" not in page and "KEEP-ME" in page


# --- Retention ---------------------------------------------------------------------------------


def stored_file(directory: Path, name: str, *, age: timedelta, text: str = "x\n") -> Path:
    """A file in the imports folder last written `age` ago."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    stamp = (timezone.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_an_import_past_the_keep_days_loses_its_files_and_quoted_rows_but_keeps_counts(
    settings, admin_client, import_dir, tasks_in_process
) -> None:
    """GIVEN a failed import finished 31 days ago whose upload and rejects (customers' data)
    are still on disk WHEN the sweeper runs THEN both files and the quoted bad rows are gone,
    its counts stay and its page says why; an import of 2 days ago is left as it was."""
    settings.CRM_IMPORT_KEEP_DAYS = 30
    old = ImportJobFactory(
        status="failed",
        finished_at=timezone.now() - timedelta(days=31),
        upload_name="a" * 32 + ".csv",
        rejects_name="a" * 32 + "-rejects.csv",
        report={
            "created": 9,
            "first_bad": [{"line": 4, "error": f"email: {EMAIL} is not valid"}],
            "duplicates": 1,
            "first_duplicates": [{"line": 6, "earlier_line": 5, "key": "UP-1"}],
        },
    )
    recent = ImportJobFactory(
        finished_at=timezone.now() - timedelta(days=2), rejects_name="b" * 32 + "-rejects.csv"
    )
    for name in (old.upload_name, old.rejects_name, recent.rejects_name):
        stored_file(import_dir, name, age=timedelta(days=2), text=f"line,error\n4,{EMAIL}\n")

    summary = tasks.sweep_import_jobs.delay().get()

    assert summary == "imports queued again: 0, expired: 1, orphaned files deleted: 0"
    assert files_in(import_dir) == [recent.rejects_name]
    old.refresh_from_db()
    assert (old.upload_name, old.rejects_name) == ("", "")
    assert (old.rows_read, old.rows_loaded, old.rows_bad, old.report["created"]) == (10, 9, 1, 9)
    assert old.report["first_bad"] == [] and old.report["first_duplicates"] == []
    page = admin_client.get(reverse("admin:crm_importjob_change", args=[old.pk])).content
    assert EMAIL not in page.decode() and "UP-1" not in page.decode()
    assert "were deleted on" in page.decode() and "CRM_IMPORT_KEEP_DAYS" in page.decode()
    assert "1 duplicates, the later row won" in page.decode()
    recent.refresh_from_db()
    assert recent.rejects_name and recent.report["first_bad"]
    # A second run finds nothing left to do.
    assert tasks.sweep_import_jobs.delay().get().endswith("expired: 0, orphaned files deleted: 0")


def test_files_no_import_names_are_deleted_after_a_day_and_nothing_else(
    import_dir, tasks_in_process
) -> None:
    """Uploads cut off mid-way, or rejects being rewritten when a worker died, are named like
    imports but recorded by no job: gone after a day. A fresh one may still be in flight, and
    files of live jobs or put there by someone else are not ours to delete."""
    day = timedelta(days=1, minutes=5)
    job = ImportJobFactory(rejects_name="c" * 32 + "-rejects.csv")
    dead_upload = stored_file(import_dir, "d" * 32 + ".csv.part", age=day)
    dead_rewrite = stored_file(import_dir, "e" * 32 + "-rejects.csv.erasing", age=day)
    unrecorded = stored_file(import_dir, "f" * 32 + ".csv", age=day)
    in_flight = stored_file(import_dir, "1" * 32 + ".csv.part", age=timedelta(minutes=3))
    kept_by_job = stored_file(import_dir, job.rejects_name, age=day)
    not_ours = stored_file(import_dir, "notes.txt", age=timedelta(days=400))

    summary = tasks.sweep_import_jobs.delay().get()

    assert summary.endswith("expired: 0, orphaned files deleted: 3")
    assert not dead_upload.exists() and not dead_rewrite.exists() and not unrecorded.exists()
    assert in_flight.exists() and kept_by_job.exists() and not_ours.exists()

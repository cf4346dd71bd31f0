"""Fault tests: real worker processes, a Redis of their own that they stop and start, and
PostgreSQL; each test ends by counting rows (nothing lost, nothing doubled).

They run under `make faults`, which starts a private Redis on FAULTS_REDIS_PORT (so
stopping it disturbs nobody) and points REDIS_URL at it; without that variable they are
skipped. The PostgreSQL restart also needs FAULTS_RESTART_POSTGRES=1 (it restarts the
machine's cluster: CI's, or yours if you ask for it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, _database_url_of_test_db

REDIS_PORT = os.environ.get("FAULTS_REDIS_PORT", "")

needs_own_redis = pytest.mark.skipif(
    not REDIS_PORT, reason="fault tests run under `make faults` (a Redis of their own)"
)

# Quick redelivery for the tests: a message a dead worker held is back after 10 s.
WORKER_ENV = {
    "SENTIMENT_ANALYZERS": "vader",
    "SENTIMENT_PRIMARY_ANALYZER": "vader",
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "CELERY_UNACKED_RESTORE_SECONDS": "2",
    "SENTIMENT_SCORED_TASK": "",
    "CHURN_SCORED_TASK": "",
    "CHURN_BATCH_SCORED_TASK": "",
}


def redis_up() -> bool:
    return subprocess.run(["redis-cli", "-p", REDIS_PORT, "ping"], capture_output=True,
                          text=True).stdout.strip() == "PONG"  # fmt: skip


def redis_stop() -> None:
    subprocess.run(["redis-cli", "-p", REDIS_PORT, "shutdown", "nosave"], capture_output=True)
    deadline = time.monotonic() + 10
    while redis_up() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not redis_up(), "the test's Redis did not stop"


def redis_start() -> None:
    subprocess.run(["redis-server", "--port", REDIS_PORT, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "yes"], check=True)  # fmt: skip
    deadline = time.monotonic() + 10
    while not redis_up() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis_up(), "the test's Redis did not start"


@pytest.fixture
def redis_restored() -> Iterator[None]:
    """Whatever a test does to Redis, it is running again afterwards."""
    yield
    if not redis_up():
        redis_start()


class Workers:
    """Starts `celery worker` processes (each in its own process group, so SIGKILL takes
    its pool children too) and reads their logs."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *, concurrency: int = 2, **env: str) -> tuple[subprocess.Popen, Path]:
        log_path = Path(settings.VAR_DIR) / f"fault-worker-{uuid.uuid4().hex[:8]}.log"
        full_env = {
            **os.environ,
            **WORKER_ENV,
            **env,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url_of_test_db(),
            "CRM_VAR_DIR": str(settings.VAR_DIR),
            "REDIS_URL": str(settings.REDIS_URL),
        }
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
                 "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle", "-n", f"fault-{uuid.uuid4().hex[:6]}@%h"],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.started.append((worker, log_path))
        deadline = time.monotonic() + 120
        while b"ready." not in log_path.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        return worker, log_path

    def kill(self, worker: subprocess.Popen) -> None:
        """SIGKILL, the worker and its pool: no shutdown, no acknowledgement, no goodbye."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop_all(self) -> None:
        for worker, log_path in self.started:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
            print(f"worker log: {log_path}")


@pytest.fixture
def workers(transactional_db: None) -> Iterator[Workers]:
    from config.celery_app import app

    app.control.purge()
    pool = Workers()
    try:
        yield pool
    finally:
        pool.stop_all()


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)

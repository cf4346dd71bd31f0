"""Load: reviews and events through the API with 2 web and 2 worker processes, the pipeline
keeping up behind them, and nothing lost (issue 7, "Load"). Run by hand, not a test.

    # step mode (`make load`): the highest sustained rate (60 s per step; stops at the
    # first failing one)
    .venv/bin/python benchmarks/load.py --customers 10000 --rates 4,8,12,16,20,24,32

    # soak (`make load-soak`): 30 minutes at one rate (half the highest sustained), memory
    # every 30 s
    .venv/bin/python benchmarks/load.py --customers 10000 --soak-minutes 30 --rate 4

    # a short try (about 2 minutes in all)
    .venv/bin/python benchmarks/load.py --customers 1000 --rates 4,8 --seconds 20

    # without the transformer, to see how much of the capacity it takes
    .venv/bin/python benchmarks/load.py --customers 10000 --analyzers vader --primary vader

Servers: PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres;
the script creates its own database there) and Redis at REDIS_URL (default
redis://127.0.0.1:6379/0, of which only the host is used: the run takes database
--redis-db, default 13, refuses to start unless it is empty, and empties it at the end;
database 0 is never touched). Logs of the web and worker processes stay in
CRM_VAR_DIR/load-<database>-<time>/.

Targets (issue 7): the highest sustained rate at which the API's p95 stays under 200 ms
and the pipeline keeps up (p95 from review saved to risk updated under 5 s, the queue not
growing), with the count check at the end (nothing lost); a soak of 30 minutes at half
that rate with steady memory in every process.

Set-up:
1. a scratch database (--database, default crm_bench_load; refused if it exists, dropped at
   the end unless --keep), migrated; `manage.py generate_demo --customers N --no-score
   --end-date YESTERDAY` (default 10,000 customers; yesterday because the generator spreads
   its last day's records over all 24 hours, so with today some customers would sign up
   later today, in the future, where the churn model does not score them); every text
   scored by every analyzer of the run in a process of its own (`load.py --phase score`);
   `manage.py churn_train` and `manage.py churn_score`; the demo's four intervention rules
   (interventions.simulation.demo_rules), so re-scored customers get decisions; a
   superuser and an API token (crm.api.tokens.api_token_create) whose own rate
   (--token-rate, default 1000/s) is far above the load: the throttle counts every
   request in Redis, as in production, but refuses none;
2. 2 Celery workers, each its own process: `celery -A config worker --concurrency 1`
   (prefork: a main process and one pool process each); no beat, so the sweeper is off and
   whatever gets through the pipeline did so without it;
3. 2 web processes: `gunicorn config.wsgi --workers 2` (a master and two sync workers) on
   a free port of 127.0.0.1;
4. a warm-up of 20 requests at 4/s, drained, then the measured steps (or the soak).

Every process (web, workers, set-up commands, this one) runs with the production settings
(config.settings.production: DEBUG off, the throttle's counts in the Redis cache) and a
random SECRET_KEY, ALLOWED_HOSTS=127.0.0.1,localhost, SECURE_SSL_REDIRECT=0 (the client
speaks plain HTTP on the loopback, where a TLS-terminating proxy would), the dummy
EMAIL_BACKEND (no mail server here; coupons and emails are still made), the churn model
files in the run's directory, and the analyzers of --analyzers / --primary (default: the
production default, VADER and the transformer, the transformer's label primary; each
worker's pool process loads both). `--analyzers vader --primary vader` leaves the
transformer out, to see how much of the capacity it takes.

The client is this process: stdlib asyncio over raw HTTP/1.1, one connection per request
(gunicorn's sync workers close each), open loop: request i starts at start + i / rate
whatever became of the earlier ones, so a slow server gets more requests in flight, not
fewer. A rate is requests per second, all kinds together: a share of them
(--review-share, default half) POST a review to /api/reviews/ for a random demo customer
(the demo grammar's texts, every topic and tone), the rest POST a batch of
--events-per-request (default 5) events to /api/events/bulk/. Timeout 30 s per request.

Per step (and per --window-minutes of the soak):
- API latency: from the request's scheduled start to the last byte of its response
  (connect included), p50 / p95 / max over every request, reviews and event batches
  together (each kind's p95 too); errors: any answer but 200/201, timeouts, refusals;
- pipeline latency of each review answered 201, "review saved -> risk updated":
  saved = the review row's created_in_crm_at (the web process's clock at the INSERT,
  just before the request's commit); risk updated = the first churn re-score of the
  review's customer (a ChurnScore row, written in one transaction with the customer's
  CurrentRisk row) whose scored_at is later than the scored_at of the review text's score
  by the primary analyzer (the churn features read its label), i.e. a re-score that
  started after the text had its score. The re-score a scoring batch hands on is sent
  after that batch commits, so it always qualifies; one started by another batch in the
  few milliseconds between the score's write and its commit would qualify too, without
  having read it. A thread polls the database every
  --poll s (default 0.2): "observed" = when it first saw that row - saved (the commit
  and up to one poll interval included; the verdict uses this one), "start95" = the
  95th percentile of the row's scored_at - saved (until the re-score began). A review
  not updated within --drain s (default 120) after its step counts as infinitely late
  ("lost");
- the Celery queue: LLEN of the `celery` list (and its priority lists) in the run's Redis
  database every 0.5 s: start / max / end of the step, and "growing" when its mean over
  the step's last third exceeds its mean over the middle third by more than 5 messages
  (the first third is left out: each step starts from an empty queue, which first fills
  to its working level; 60 s steps catch a pipeline falling behind by 0.25 messages/s);
- drain: after each step the run waits (at most --drain s) until every review of the
  step is updated and the queue is empty;
- sustained = no errors, API p95 < 200 ms, pipeline p95 < 5 s, queue not growing. Step
  mode stops after the first step that is not sustained (--all-steps goes on) and prints
  the highest sustained rate below it.

At the end (both modes):
- memory: VmRSS of every process (gunicorn master and workers, each Celery worker's main
  and pool process, this client with its poller) when ready, then every --rss-interval s
  (default 30) from the end of the warm-up: start / max / end per process;
- where the workers' time went: tasks and busy seconds per task name, from their logs;
- the count check: every review answered 201 is stored; each of their texts has exactly
  one score row per analyzer; every customer who got a review has a ChurnScore and a
  CurrentRisk newer than the primary score of their latest review; every event of a batch
  answered 201 is stored. Also: the incremental re-scores and interventions of the run,
  the scores the workers wrote (a text two overlapping batches both scored counts twice),
  failed / retried tasks in the workers' logs and errors in gunicorn's. Exit status 1
  when a check fails or no rate was sustained.

The load average is printed before the set-up and before each step: the machines are
shared with other work, so compare figures from one run, and read them with its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from churn_speed import _git_revision, load
from pipeline_latency import _demo_texts, _percentile, _process_tree
from scratch_db import create_database, drop_database, with_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
TARGET_API_P95_MS = 200.0
TARGET_PIPELINE_P95_S = 5.0
QUEUE_GROWTH_SLACK = 5  # messages: more than this between the step's middle and last third
REQUEST_TIMEOUT_S = 30.0
QUEUE = "celery"
# kombu's Redis transport keeps a queue's priority levels in lists named thus.
PRIORITY_SEPARATOR = "\x06\x16"
TEXT_CHUNK = 2000
EVENT_KINDS = ("visit", "product_view", "add_to_cart", "search", "wishlist", "login")
FAILED = "raised unexpected"
RETRIED = "Retry in"


# --- What the client records ----------------------------------------------------------


@dataclass
class Request:
    kind: str  # "review" or "events"
    due: float  # wall clock (time.time()) the request was scheduled to start
    step: str
    latency_ms: float = math.nan
    status: int = 0  # 0: no answer (timeout, refused)
    events: int = 0  # events in the batch
    external_id: str = ""  # the review's
    # Filled in by the poller, for reviews answered 201 (or not answered yet):
    saved: float | None = None
    primary_at: float | None = None
    started: float | None = None  # scored_at of the first re-score after primary_at
    observed: float | None = None  # when the poller first saw it


@dataclass
class Run:
    tag: str
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: list[tuple[float, int]] = field(default_factory=list)  # (time, queue length)
    loads: list[tuple[float, str]] = field(default_factory=list)  # (time, load averages)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)  # first few error answers
    measured_from: float = math.inf  # end of the warm-up

    def pending_reviews(self) -> list[Request]:
        """Reviews not seen through the pipeline yet: answered 201, or not answered yet (a
        slow answer must not delay when the poller first looks for its risk update)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.kind == "review"
                and r.observed is None
                and (r.status == 201 or math.isnan(r.latency_ms))
            ]


@dataclass
class StepResult:
    name: str
    rate: float
    seconds: float
    load: str
    requests: int
    reviews: int
    errors: int
    api: tuple[float, float, float]  # p50, p95, max (ms), all requests
    api_review_p95: float
    api_events_p95: float
    late_starts: int
    pipeline_observed: tuple[float, float, float]  # p50, p95, max (s)
    pipeline_started_p95: float
    not_updated: int
    queue: tuple[int, int, int]  # start, max, end
    growing: bool
    drain_s: float

    @property
    def sustained(self) -> bool:
        return (
            self.errors == 0
            and self.api[1] < TARGET_API_P95_MS
            and self.pipeline_observed[1] < TARGET_PIPELINE_P95_S
            and not self.growing
        )


# --- The HTTP client --------------------------------------------------------------------


async def http_post(host: str, port: int, path: str, body: bytes, key: str) -> tuple[int, bytes]:
    """POST a JSON body over a fresh connection; return (status, response body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {key}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()
        status_line = await reader.readline()
        rest = await reader.read()  # the server closes the connection after the response
    finally:
        writer.close()
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest.partition(b"\r\n\r\n")[2]


class Client:
    """Builds and sends the requests of one run; open loop (see the module docstring)."""

    def __init__(self, run: Run, host: str, port: int, key: str, args: argparse.Namespace,
                 customers: Sequence[str]) -> None:  # fmt: skip
        self.run = run
        self.host, self.port, self.key = host, port, key
        self.review_share = args.review_share
        self.events_per_request = args.events_per_request
        self.customers = customers
        self.rng = random.Random(args.seed)
        self.texts = _demo_texts(500, args.seed)
        self.number = 0

    def _body(self, request: Request) -> bytes:
        customer = self.rng.choice(self.customers)
        now = datetime.now(UTC)
        if request.kind == "review":
            rating, title, text = self.texts[self.number % len(self.texts)]
            request.external_id = f"load-{self.run.tag}-{self.number}"
            return json.dumps({
                "external_id": request.external_id, "customer": customer, "rating": rating,
                "title": title[:300], "body": text, "created_at": now.isoformat(),
            }).encode()  # fmt: skip
        request.events = self.events_per_request
        events = [
            {
                "customer": customer,
                "kind": self.rng.choice(EVENT_KINDS),
                # Distinct times: an event with the same (customer, kind, time) would update.
                "occurred_at": now.replace(
                    microsecond=(now.microsecond + i) % 1_000_000
                ).isoformat(),
                "payload": {"load_run": self.run.tag, "n": self.number, "i": i},
            }
            for i in range(self.events_per_request)
        ]
        return json.dumps(events).encode()

    async def _send(self, request: Request, body: bytes, due_loop: float) -> None:
        path = "/api/reviews/" if request.kind == "review" else "/api/events/bulk/"
        loop = asyncio.get_running_loop()
        try:
            status, answer = await asyncio.wait_for(
                http_post(self.host, self.port, path, body, self.key), REQUEST_TIMEOUT_S
            )
        except (TimeoutError, OSError) as exc:
            status, answer = 0, repr(exc).encode()
        request.status = status
        request.latency_ms = (loop.time() - due_loop) * 1000
        if status not in (200, 201) and len(self.run.errors) < 10:
            self.run.errors.append(f"{request.kind} {status}: {answer[:300]!r}")

    async def drive(self, step: str, rate: float, seconds: float) -> int:
        """Send rate x seconds requests on schedule; return how many started > 10 ms late."""
        loop = asyncio.get_running_loop()
        count = max(1, round(rate * seconds))
        start_loop, start_wall = loop.time() + 0.05, time.time() + 0.05
        tasks = []
        late = 0
        for i in range(count):
            due = start_loop + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.01:
                late += 1
            review = math.floor((i + 1) * self.review_share) > math.floor(i * self.review_share)
            request = Request("review" if review else "events", start_wall + i / rate, step)
            body = self._body(request)
            self.number += 1
            with self.run.lock:
                self.run.requests.append(request)
            tasks.append(asyncio.create_task(self._send(request, body, due)))
        await asyncio.gather(*tasks)
        return late


# --- Watching the pipeline, the queue and memory ---------------------------------------


def _chunks(items: Sequence[Any], size: int = 1000) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def poll_pipeline(run: Run, interval: float) -> None:
    """Until run.stop: fill in saved / primary_at / started / observed of reviews answered 201."""
    from django.conf import settings
    from django.db import connection

    from churnmodel.models import ChurnScore
    from crm.models import Review
    from sentiment.models import SentimentScore

    primary = settings.SENTIMENT_PRIMARY_ANALYZER
    rows: dict[str, tuple[int, int]] = {}  # external id -> (review pk, customer pk)
    try:
        while not run.stop.is_set():
            pending = run.pending_reviews()
            unknown = {r.external_id: r for r in pending if r.external_id not in rows}
            for part in _chunks(list(unknown)):
                for external_id, pk, customer, created in Review.objects.filter(
                    external_id__in=part
                ).values_list("external_id", "pk", "customer_id", "created_in_crm_at"):
                    rows[external_id] = (pk, customer)
                    unknown[external_id].saved = created.timestamp()
            unscored = [rows[r.external_id][0] for r in pending
                        if r.primary_at is None and r.external_id in rows]  # fmt: skip
            scored: dict[int, float] = {}
            for part in _chunks(unscored):
                scored.update(
                    (review, at.timestamp())
                    for review, at in SentimentScore.objects.filter(
                        text__review_id__in=part, analyzer=primary
                    ).values_list("text__review_id", "scored_at")
                )
            for r in pending:
                if r.primary_at is None and r.external_id in rows:
                    r.primary_at = scored.get(rows[r.external_id][0])
            waiting = [r for r in pending if r.primary_at is not None]
            if waiting:
                since = datetime.fromtimestamp(min(r.primary_at or 0 for r in waiting), UTC)
                customers = sorted({rows[r.external_id][1] for r in waiting})
                rescored: dict[int, list[float]] = {}
                for part in _chunks(customers):
                    for customer, at in ChurnScore.objects.filter(
                        customer_id__in=part, scored_at__gt=since
                    ).values_list("customer_id", "scored_at"):
                        rescored.setdefault(customer, []).append(at.timestamp())
                now = time.time()
                for r in waiting:
                    later = [
                        t
                        for t in rescored.get(rows[r.external_id][1], [])
                        if t > (r.primary_at or 0)
                    ]
                    if later:
                        r.started, r.observed = min(later), now
            run.stop.wait(interval)
    finally:
        connection.close()


def queue_length(client: Any) -> int:
    """Messages waiting in the Celery queue (every priority level's list)."""
    names = [QUEUE] + [f"{QUEUE}{PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)]
    return sum(client.llen(name) for name in names)


def sample_queue(run: Run, client: Any) -> None:
    from redis.exceptions import RedisError

    while not run.stop.is_set():
        try:
            length = queue_length(client)
        except RedisError as exc:  # a sampler hiccup is reported, not fatal
            run.errors.append(f"queue sample failed: {exc!r}")
            length = -1
        run.queue.append((time.time(), length))
        run.loads.append((time.time(), load()))
        run.stop.wait(0.5)


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


# What the children of each started process are.
CHILDREN = {
    "gunicorn master": "  gunicorn worker",
    "celery worker a": "  celery a pool process",
    "celery worker b": "  celery b pool process",
}


def sample_rss(run: Run, roots: dict[str, int]) -> None:
    """Record VmRSS of each root process and its descendants, labelled, now."""
    now = time.time()
    for name, root in roots.items():
        for number, pid in enumerate(_process_tree(root)):
            if name == "client" and number:
                continue  # the client's children are the set-up commands, long gone
            label = f"{name} ({pid})" if number == 0 else f"{CHILDREN[name]} ({pid})"
            value = rss_mb(pid)
            if value is not None:
                run.rss.setdefault(label, []).append((now, value))


def watch_rss(run: Run, roots: dict[str, int], interval: float) -> None:
    while not run.stop.wait(interval):
        sample_rss(run, roots)


# --- Processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a server process in a session of its own (so its children can be stopped)."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            list(command), cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (gunicorn and Celery stop their children), then SIGKILL the session."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def manage(env: dict[str, str], *arguments: str) -> str:
    """Run `manage.py` in its own process; return its output, or stop with it."""
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def wait_for(predicate: Any, timeout: float, what: str, processes: Sequence[Any] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen")
        time.sleep(0.2)


def web_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return conn.recv(64).split()[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


def source_stamp() -> str:
    """The newest Python file of the apps and config (time and path): a run whose code
    changed under it (another session editing the tree) says so at the end."""
    files = [f for app in ("config", "crm", "sentiment", "churnmodel", "interventions")
             for f in (ROOT / app).rglob("*.py")]  # fmt: skip
    newest = max(files, key=lambda f: f.stat().st_mtime)
    return (
        f"{time.strftime('%H:%M:%S', time.localtime(newest.stat().st_mtime))} "
        f"{newest.relative_to(ROOT)}"
    )


# --- Set-up -----------------------------------------------------------------------------


def phase_score() -> None:
    """Score every text lacking a score from each analyzer of the run (a process of its
    own: the client's memory stays the client's)."""
    import django

    django.setup()
    from django.conf import settings

    from sentiment.analyzers import loadable_analyzers
    from sentiment.selectors import texts_missing_score
    from sentiment.services import texts_score

    analyzers = loadable_analyzers()
    if [a.name for a in analyzers] != list(settings.SENTIMENT_ANALYZERS):
        raise SystemExit(f"not every analyzer of {settings.SENTIMENT_ANALYZERS} loads")
    missing: set[int] = set()
    for analyzer in analyzers:
        missing.update(
            texts_missing_score(analyzer=analyzer.name, version=analyzer.version).values_list(
                "pk", flat=True
            )
        )
    for part in _chunks(sorted(missing), TEXT_CHUNK):
        texts_score(text_ids=list(part), analyzers=analyzers)
    print(len(missing))


def prepare(args: argparse.Namespace, env: dict[str, str], folder: Path) -> tuple[str, list[str]]:
    """Migrate, generate, score, train, add rules and a token; return (key, customers)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from crm.api.tokens import api_token_create
    from crm.models import Customer, CustomerText, Event, Order, Review
    from interventions.simulation import demo_rules

    began = time.monotonic()
    call_command("migrate", verbosity=0)
    # Yesterday: the generator spreads the last day's records over all of its 24 hours, so
    # with today some customers would sign up (and orders, events, reviews happen) later
    # today, in the future, where the churn model does not score them yet.
    end_date = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    manage(env, "generate_demo", "--customers", str(args.customers), "--seed", str(args.seed),
           "--end-date", end_date, "--no-score", "--truth-file",
           str(folder / "ground_truth.csv"))  # fmt: skip
    counts = {m._meta.db_table: m.objects.count()
              for m in (Customer, Order, Event, Review, CustomerText)}  # fmt: skip
    print("  demo shop: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "--phase", "score"], cwd=ROOT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"Scoring the demo's texts failed:\n{done.stdout}{done.stderr}")
    print(f"  {int(done.stdout.split()[-1]):,} texts scored by {args.analyzers}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    trained = manage(env, "churn_train").strip().splitlines()
    print(f"  churn_train: {trained[-1]}", flush=True)
    print(f"  churn_score: {manage(env, 'churn_score').strip().splitlines()[0]}", flush=True)
    rules = demo_rules()
    print(f"  intervention rules: {', '.join(r.name for r in rules)}")
    user = get_user_model().objects.create_superuser(username="load-bench", email="", password=None)
    _, key = api_token_create(name="load benchmark", user=user, rate=args.token_rate)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  set-up took {time.monotonic() - began:.0f} s", flush=True)
    # Those the churn model scores: a review for anyone else could never update a risk.
    customers = list(
        Customer.objects.filter(is_erased=False, current_risk__isnull=False)
        .order_by("pk")
        .values_list("external_id", flat=True)
    )
    print(f"  reviews and events go to the {len(customers):,} customers with a risk row")
    return key, customers


# --- Measuring --------------------------------------------------------------------------


def drain(run: Run, step: str, timeout: float, redis_client: Any) -> float:
    """Wait until every review of the step is updated and the queue is empty; seconds."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        waiting = [r for r in run.pending_reviews() if r.step == step]
        if not waiting and queue_length(redis_client) == 0:
            break
        time.sleep(0.2)
    return time.monotonic() - began


def summarise(run: Run, name: str, rate: float, seconds: float, load_avg: str, late: int,
              drain_s: float, window: tuple[float, float] | None = None) -> StepResult:  # fmt: skip
    """The figures of one step (or of the requests due in `window` of the soak)."""
    with run.lock:
        requests = [r for r in run.requests if r.step == name]
    if window is not None:
        requests = [r for r in requests if window[0] <= r.due < window[1]]
    first = min((r.due for r in requests), default=time.time())
    last = max((r.due for r in requests), default=first)
    latencies = [r.latency_ms for r in requests]
    reviews = [r for r in requests if r.kind == "review"]
    answered = [r for r in reviews if r.status == 201]
    observed = [
        (r.observed - r.saved) if r.observed is not None and r.saved is not None else math.inf
        for r in answered
    ]
    started = [r.started - r.saved for r in answered
               if r.started is not None and r.saved is not None]  # fmt: skip
    queue = [length for t, length in run.queue if first <= t <= last + 1]
    # Middle against last third: a step starts from an empty queue (the previous one was
    # drained), so its first seconds fill the queue to its working level without growing.
    third = max(1, len(queue) // 3)
    growing = bool(queue) and (
        statistics.mean(queue[-third:]) - statistics.mean(queue[third : 2 * third] or queue)
        > QUEUE_GROWTH_SLACK
    )

    def p(values: Sequence[float], q: float) -> float:
        return _percentile(values, q) if values else math.nan

    return StepResult(
        name=name,
        rate=rate,
        seconds=seconds,
        # A soak window shows the load average at its end (the machine is shared).
        load=load_avg
        if window is None
        else next((avg for t, avg in reversed(run.loads) if t <= window[1]), load_avg),
        requests=len(requests),
        reviews=len(reviews),
        errors=sum(r.status not in (200, 201) for r in requests),
        api=(p(latencies, 50), p(latencies, 95), max(latencies, default=math.nan)),
        api_review_p95=p([r.latency_ms for r in reviews], 95),
        api_events_p95=p([r.latency_ms for r in requests if r.kind == "events"], 95),
        late_starts=late,
        pipeline_observed=(p(observed, 50), p(observed, 95), max(observed, default=math.nan)),
        pipeline_started_p95=p(started, 95),
        not_updated=sum(v == math.inf for v in observed),
        queue=(queue[0], max(queue), queue[-1]) if queue else (-1, -1, -1),
        growing=growing,
        drain_s=drain_s,
    )


def print_steps(results: Sequence[StepResult], title: str, legend: bool = False) -> None:
    print(f"\n{title}")
    head = (f"{'step':<10}{'req/s':>6}{'load avg':>16}{'reqs':>6}{'err':>5}{'API p50':>9}"
            f"{'p95':>7}{'max':>7}{'rev p95':>8}{'ev p95':>8}{'pipe p50':>9}{'p95':>7}"
            f"{'max':>7}{'start95':>8}{'lost':>5}{'queue s/max/e':>15}{'grow':>5}"
            f"{'drain':>7}  sustained")  # fmt: skip
    print(head)
    print("-" * len(head))
    for s in results:
        queue = "/".join(str(n) for n in s.queue)
        print(
            f"{s.name:<10}{s.rate:>6g}{s.load:>16}{s.requests:>6}{s.errors:>5}{s.api[0]:>9.0f}"
            f"{s.api[1]:>7.0f}{s.api[2]:>7.0f}{s.api_review_p95:>8.0f}{s.api_events_p95:>8.0f}"
            f"{s.pipeline_observed[0]:>9.2f}{s.pipeline_observed[1]:>7.2f}"
            f"{s.pipeline_observed[2]:>7.2f}{s.pipeline_started_p95:>8.2f}{s.not_updated:>5}"
            f"{queue:>15}{'yes' if s.growing else 'no':>5}{s.drain_s:>6.1f}s  "
            f"{'yes' if s.sustained else 'NO'}"
        )
    if not legend:
        return
    print(
        "API in ms (scheduled start -> response read; rev / ev: reviews / event batches); "
        "pipeline in s (review saved -> risk updated, observed; start95: until the re-score "
        "began); lost: reviews not updated within --drain; queue: Celery queue length at "
        "the step's start / max / end"
    )


def print_rss(run: Run) -> None:
    """Per process: VmRSS when it was ready (before the warm-up), then at the start (right
    after the warm-up), each quarter and the end of the measured part, and its max: a
    process that grows and levels off shows it in the quarters, one that leaks grows in
    every one."""
    print("\nmemory (VmRSS, MB), sampled every --rss-interval s")
    print(f"{'process (pid)':<34}{'ready':>7}{'samples':>8}{'start':>8}{'25%':>7}{'50%':>7}"
          f"{'75%':>7}{'end':>7}{'max':>7}{'end-start':>10}{'end-50%':>9}")  # fmt: skip
    for label, values in run.rss.items():
        before = [v for t, v in values if t < run.measured_from]
        figures = [v for t, v in values if t >= run.measured_from] or [math.nan]
        ready = f"{before[0]:.0f}" if before else "-"
        quarter = [figures[min(len(figures) - 1, len(figures) * q // 4)] for q in (1, 2, 3)]
        print(
            f"{label:<34}{ready:>7}{len(figures):>8}{figures[0]:>8.0f}"
            + "".join(f"{v:>7.0f}" for v in quarter)
            + f"{figures[-1]:>7.0f}{max(figures):>7.0f}{figures[-1] - figures[0]:>+10.0f}"
            f"{figures[-1] - quarter[1]:>+9.0f}"
        )


def count_check(run: Run, logs: Sequence[Path], began: datetime) -> bool:
    """The end's count: nothing lost, nothing doubled. Prints; returns whether all hold."""
    from django.conf import settings
    from django.db.models import Count, Max

    from churnmodel.models import ChurnScore, CurrentRisk
    from crm.models import CustomerText, Event, Review
    from interventions.models import Intervention
    from sentiment.models import SentimentScore

    with run.lock:
        requests = list(run.requests)
    reviews = [r for r in requests if r.kind == "review"]
    posted = {r.external_id for r in reviews if r.status == 201}
    others = {r.external_id for r in reviews if r.status != 201}
    stored: set[str] = set()
    latest: dict[int, datetime] = {}  # customer -> newest primary scored_at of their reviews
    analyzers = list(settings.SENTIMENT_ANALYZERS)
    primary = settings.SENTIMENT_PRIMARY_ANALYZER
    texts = doubled = unscored = 0
    for part in _chunks(sorted(posted | others)):
        stored.update(
            Review.objects.filter(external_id__in=part).values_list("external_id", flat=True)
        )
        ids = list(
            CustomerText.objects.filter(review__external_id__in=part).values_list("pk", flat=True)
        )
        texts += len(ids)
        for analyzer in analyzers:
            per_text = dict(
                SentimentScore.objects.filter(text_id__in=ids, analyzer=analyzer)
                .values("text_id").annotate(n=Count("pk")).values_list("text_id", "n")
            )  # fmt: skip
            unscored += sum(1 for i in ids if i not in per_text)
            doubled += sum(1 for n in per_text.values() if n > 1)
        for customer, at in (
            SentimentScore.objects.filter(text_id__in=ids, analyzer=primary)
            .values("text__customer_id").annotate(last=Max("scored_at"))
            .values_list("text__customer_id", "last")
        ):  # fmt: skip
            latest[customer] = max(at, latest.get(customer, at))
    customers = sorted(latest)
    rescored = current = 0
    missed: list[tuple[int, datetime, datetime | None]] = []
    for part in _chunks(customers):
        newest = dict(
            ChurnScore.objects.filter(customer_id__in=part).values("customer_id")
            .annotate(last=Max("scored_at")).values_list("customer_id", "last")
        )  # fmt: skip
        risk = dict(
            CurrentRisk.objects.filter(customer_id__in=part).values_list("customer_id", "scored_at")
        )
        rescored += sum(1 for c in part if c in newest and newest[c] > latest[c])
        current += sum(1 for c in part if c in risk and risk[c] > latest[c])
        missed += [(c, latest[c], newest.get(c)) for c in part
                   if c not in newest or newest[c] <= latest[c]]  # fmt: skip
    events_posted = sum(r.events for r in requests if r.kind == "events" and r.status == 201)
    events_stored = Event.objects.filter(payload__load_run=run.tag).count()
    decided = Intervention.objects.filter(decided_at__gte=began).count()
    rescores = ChurnScore.objects.filter(scored_at__gte=began).exclude(task_id="").count()
    lost_reviews = len(posted - stored)
    checks = [
        (f"reviews answered 201 stored: {len(posted & stored):,} of {len(posted):,}"
         + (f" (and {len(others & stored)} of {len(others)} answered otherwise)" if others else ""),
         lost_reviews == 0),
        (f"their texts with one score per analyzer ({', '.join(analyzers)}): "
         f"{texts * len(analyzers) - unscored - doubled:,} of {texts * len(analyzers):,} "
         f"({unscored} missing, {doubled} more than one)",
         texts == len(stored) and unscored == 0 and doubled == 0),
        (f"reviewed customers re-scored after their latest review's score: {rescored:,} of "
         f"{len(customers):,} (CurrentRisk newer: {current:,})",
         rescored == len(customers) and current == len(customers)),
        (f"events in batches answered 201 stored: {events_stored:,} of {events_posted:,}",
         events_stored == events_posted),
    ]  # fmt: skip
    print(f"\ncount check ({len(requests):,} requests: {len(reviews):,} reviews, "
          f"{len(requests) - len(reviews):,} event batches)")  # fmt: skip
    for line, ok in checks:
        print(f"  {'ok ' if ok else 'NO '} {line}")
    for customer, scored, rescored_at in missed[:5]:
        print(f"      not re-scored: customer pk {customer}, {primary} score {scored:%H:%M:%S.%f}, "
              f"newest churn score {rescored_at and f'{rescored_at:%H:%M:%S.%f}'}")  # fmt: skip
    print(f"  during the run: {rescores:,} incremental churn re-scores, {decided:,} "
          f"interventions decided")  # fmt: skip
    # Each score_texts task logs how many scores it wrote; a text two overlapping batches
    # both scored is written twice (the second write replaces the first row).
    written = sum(
        int(line.rsplit(" ", 1)[1])
        for log in logs
        if "worker" in log.name
        for line in log.read_text(errors="replace").splitlines()
        if "sentiment.score_texts[" in line and " succeeded in " in line
    )
    print(
        f"  scores the workers wrote (sum of score_texts results in their logs): {written:,} "
        f"for {texts:,} texts x {len(analyzers)} analyzers: {written - texts * len(analyzers):,} "
        f"extra (a text scored twice)"
    )
    failed = 0
    for log in logs:
        text = log.read_text(errors="replace")
        failed += text.count(FAILED) + text.count("Traceback")
        problems = (
            f"{text.count(FAILED)} failed, {text.count(RETRIED)} retried tasks"
            if "worker" in log.name
            else f"{text.count('[ERROR]')} [ERROR] lines, {text.count('Traceback')} tracebacks"
        )
        print(f"  {'ok ' if not text.count(FAILED) + text.count('Traceback') else 'NO '} "
              f"{log.name}: {problems}")  # fmt: skip
    return all(ok for _, ok in checks) and not failed


def print_worker_time(logs: Sequence[Path]) -> None:
    """Tasks and busy seconds per task name, from the workers' "succeeded in" log lines
    (warm-up and every step together): where the workers' time goes."""
    busy: dict[str, list[float]] = {}
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if " succeeded in " not in line:
                continue
            name = line.split("Task ", 1)[1].split("[", 1)[0]
            seconds = float(line.split(" succeeded in ", 1)[1].split("s:", 1)[0])
            busy.setdefault(name, []).append(seconds)
    total = sum(sum(v) for v in busy.values()) or 1.0
    print(f"\nworker time by task{'':<20}{'tasks':>7}{'busy s':>9}{'share':>7}{'mean s':>8}")
    for name, values in sorted(busy.items(), key=lambda item: -sum(item[1])):
        print(f"  {name:<36}{len(values):>7}{sum(values):>9.1f}{sum(values) / total:>7.0%}"
              f"{statistics.mean(values):>8.3f}")  # fmt: skip


def measure(args: argparse.Namespace, env: dict[str, str], folder: Path, redis_client: Any) -> int:
    from django.db import connections

    key, customers = prepare(args, env, folder)
    connections.close_all()
    port = free_port()
    logs = [folder / "worker-a.log", folder / "worker-b.log", folder / "gunicorn.log"]
    processes: dict[str, subprocess.Popen] = {}
    run = Run(tag=uuid.uuid4().hex[:8])
    began = datetime.now(UTC)
    threads: list[threading.Thread] = []
    try:
        for name, log in zip(("a", "b"), logs[:2], strict=True):
            processes[f"celery worker {name}"] = start(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
                 "--concurrency", "1", "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-n", f"load-{name}@%h"],
                env, log,
            )  # fmt: skip
        processes["gunicorn master"] = start(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--log-level", "warning"],
            env, logs[2],
        )  # fmt: skip
        for name, log in zip(("a", "b"), logs[:2], strict=True):
            wait_for(lambda log=log: b"ready." in log.read_bytes(), 300,
                     f"celery worker {name} ready ({log})", list(processes.values()))  # fmt: skip
        wait_for(lambda: web_ready(port), 120, f"gunicorn answering /healthz ({logs[2]})",
                 list(processes.values()))  # fmt: skip
        roots = {name: p.pid for name, p in processes.items()} | {"client": os.getpid()}
        print(f"\nweb: gunicorn, 2 sync workers on 127.0.0.1:{port}; 2 Celery workers "
              f"(concurrency 1 each); logs in {folder}", flush=True)  # fmt: skip
        threads = [
            threading.Thread(target=poll_pipeline, args=(run, args.poll), daemon=True),
            threading.Thread(target=sample_queue, args=(run, redis_client), daemon=True),
            threading.Thread(target=watch_rss, args=(run, roots, args.rss_interval), daemon=True),
        ]
        sample_rss(run, roots)
        for thread in threads:
            thread.start()
        client = Client(run, "127.0.0.1", port, key, args, customers)

        late = asyncio.run(client.drive("warm-up", 4, 5))
        warm = summarise(
            run, "warm-up", 4, 5, load(), late, drain(run, "warm-up", 120, redis_client)
        )
        print_steps([warm], "warm-up (not counted in the verdicts)")
        run.measured_from = time.time()
        sample_rss(run, roots)

        if args.soak_minutes:
            ok = soak(args, run, client, redis_client)
        else:
            ok = steps(args, run, client, redis_client)
        sample_rss(run, roots)
        run.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"!! {name} exited early with {process.returncode}")
        print_rss(run)
        print_worker_time(logs[:2])
        counted = count_check(run, logs, began)
        if run.errors:
            print("\nfirst error answers:\n  " + "\n  ".join(run.errors))
        return 0 if ok and counted else 1
    finally:
        run.stop.set()
        for process in processes.values():
            stop(process)
        for thread in threads:
            thread.join(timeout=10)


def steps(args: argparse.Namespace, run: Run, client: Client, redis_client: Any) -> bool:
    results: list[StepResult] = []
    for number, rate in enumerate(args.rates):
        name = f"step {number + 1}"
        load_avg = load()
        print(f"\n{name}: {rate:g} requests/s for {args.seconds:g} s (load average {load_avg})",
              flush=True)  # fmt: skip
        late = asyncio.run(client.drive(name, rate, args.seconds))
        drained = drain(run, name, args.drain, redis_client)
        result = summarise(run, name, rate, args.seconds, load_avg, late, drained)
        results.append(result)
        print_steps([result], f"{name} (started late by > 10 ms: {late} requests)")
        if not result.sustained and not args.all_steps:
            break
    print_steps(results, "steps", legend=True)
    sustained = [s.rate for s in results if s.sustained]
    best = max(sustained, default=None)
    # Below the first failing step: a rate sustained only above a failure is not counted.
    for s in results:
        if not s.sustained:
            best = max((r.rate for r in results if r.sustained and r.rate < s.rate), default=None)
            break
    share = args.review_share
    print(
        "\nhighest sustained rate: "
        + (f"{best:g} requests/s ({best * share:g} reviews/s + {best * (1 - share):g} event "
           f"batches/s of {args.events_per_request})" if best else "none of the rates tried")
    )  # fmt: skip
    return best is not None


def soak(args: argparse.Namespace, run: Run, client: Client, redis_client: Any) -> bool:
    seconds = args.soak_minutes * 60
    load_avg = load()
    print(f"\nsoak: {args.rate:g} requests/s for {args.soak_minutes:g} min (load average "
          f"{load_avg})", flush=True)  # fmt: skip
    began = time.time()
    late = asyncio.run(client.drive("soak", args.rate, seconds))
    drained = drain(run, "soak", args.drain, redis_client)
    width = args.window_minutes * 60
    windows = [
        summarise(run, "soak", args.rate, width, load_avg, late, drained,
                  window=(began + i * width, began + (i + 1) * width))
        for i in range(math.ceil(seconds / width))
    ]  # fmt: skip
    for i, w in enumerate(windows):
        w.name = f"min {i * args.window_minutes:g}-"
    whole = summarise(run, "soak", args.rate, seconds, load_avg, late, drained)
    whole.name = "whole"
    title = (
        f"soak by {args.window_minutes:g}-minute windows (started late by > 10 ms: {late} "
        f"requests; drain after the last)"
    )
    print_steps([*windows, whole], title, legend=True)
    return whole.sustained


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rates", default="2,4,6,8,10,12,14,16,20,24,32", help="step mode: requests/s per step"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each step")
    parser.add_argument("--all-steps", action="store_true", help="go on after a failed step")
    parser.add_argument("--soak-minutes", type=float, default=0, help="soak instead of steps")
    parser.add_argument("--rate", type=float, default=4.0, help="the soak's requests/s")
    parser.add_argument("--window-minutes", type=float, default=5.0, help="soak table rows")
    parser.add_argument("--customers", type=int, default=10_000, help="demo shop size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--review-share", type=float, default=0.5, help="reviews among requests")
    parser.add_argument("--events-per-request", type=int, default=5)
    parser.add_argument("--token-rate", default="1000/s", help="the API token's throttle rate")
    parser.add_argument("--poll", type=float, default=0.2, help="pipeline poll interval (s)")
    parser.add_argument("--drain", type=float, default=120.0, help="max wait after a step (s)")
    parser.add_argument("--rss-interval", type=float, default=30.0, help="memory sample (s)")
    parser.add_argument("--database", default="crm_bench_load", help="scratch database")
    parser.add_argument("--redis-db", type=int, default=13, help="the run's Redis database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--analyzers", default="vader,transformer", help="SENTIMENT_ANALYZERS of the run"
    )
    parser.add_argument(
        "--primary", default="transformer", help="SENTIMENT_PRIMARY_ANALYZER of the run"
    )
    parser.add_argument("--phase", choices=("score",), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.phase == "score":
        phase_score()
        return 0
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.redis_db == 0:
        parser.error("--redis-db 0 is everybody's: choose a database of the run's own")
    if args.primary not in args.analyzers.split(","):
        parser.error("--primary must be one of --analyzers")
    if not 0 < args.review_share <= 1:
        parser.error("--review-share must lie in (0, 1]")

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if urlsplit(server_url).scheme not in ("postgres", "postgresql"):
        parser.error("DATABASE_URL must name a PostgreSQL server")
    redis_url = with_path(os.environ.get("REDIS_URL") or DEFAULT_REDIS, f"/{args.redis_db}")
    var_dir = Path(os.environ.get("CRM_VAR_DIR") or ROOT / "var")
    folder = var_dir / f"load-{args.database}-{time.strftime('%Y%m%d-%H%M%S')}"
    (folder / "churn").mkdir(parents=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": with_path(server_url, f"/{args.database}"),
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "CRM_VAR_DIR": str(var_dir),
        "CHURN_MODEL_DIR": str(folder / "churn"),
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "SENTIMENT_ANALYZERS": args.analyzers,
        "SENTIMENT_PRIMARY_ANALYZER": args.primary,
        "HF_HUB_OFFLINE": "1",
    }
    os.environ.update(env)
    import redis

    redis_client = redis.Redis.from_url(redis_url)
    if redis_client.dbsize():
        raise SystemExit(
            f"Redis database {args.redis_db} is not empty: another run uses it. Pass --redis-db."
        )
    # A stopped benchmark (Ctrl-C, kill) still stops its processes and drops its database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    stamp = source_stamp()
    print(f"code: {_git_revision()}; newest source file {stamp}")
    print(f"load average before set-up {load()}; {os.cpu_count()} cores; database "
          f"{args.database}, Redis db {args.redis_db}, CRM_VAR_DIR {var_dir}")  # fmt: skip
    create_database(server_url, args.database)
    try:
        import django

        django.setup()
        status = measure(args, env, folder, redis_client)
        if source_stamp() != stamp:
            # Workers and web processes started on the code of the start; the set-up
            # migrated its schema. A run on a moving tree measures neither.
            print(f"!! the code changed during the run: newest source file {source_stamp()}")
            status = 1
        return status
    finally:
        from django.db import connections

        connections.close_all()
        redis_client.flushdb()  # the run's own database (never 0, refused above)
        shutil.rmtree(folder / "churn", ignore_errors=True)
        (folder / "ground_truth.csv").unlink(missing_ok=True)
        if args.keep:
            print(f"kept database {args.database}")
        else:
            drop_database(server_url, args.database)


if __name__ == "__main__":
    sys.exit(main())

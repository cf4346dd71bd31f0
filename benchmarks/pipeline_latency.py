"""End-to-end scoring latency: a review saved -> both sentiment scores stored, by one real worker.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
    export REDIS_URL=redis://127.0.0.1:6379/0
    .venv/bin/python benchmarks/pipeline_latency.py --rate 20 --seconds 60

Target (issue): with one worker, the 95th percentile time from a review being saved to both
scores (VADER and the transformer) being stored stays under 2 s at 20 reviews/s, and the
worker's peak memory with both analyzers loaded stays under 1.5 GB.

What it does:
1. creates a scratch PostgreSQL database (--database, default crm_bench_latency; it refuses
   to start if that exists, so two runs never share or drop each other's; dropped at the
   end unless --keep) on the server DATABASE_URL names, and migrates it; the broker is
   REDIS_URL with its database number replaced by --redis-db (default 14), so other
   workers on the same Redis neither take this run's tasks nor give it theirs;
2. starts ONE real worker, `celery -A config worker --concurrency N` (prefork, as deployed;
   --pool solo for a single process), DEBUG off, with the product's default analyzer
   settings; waits for "ready." and for one warm-up review to be scored, so the models are
   loaded before timing starts;
3. saves reviews through `crm.services.review_upsert` in this process at a steady --rate for
   --seconds, each in its own transaction, which enqueues its text after commit. The save
   time is stamped by an on_commit callback registered before the product's, i.e. right
   after the commit and before the task is published, so publishing counts as latency;
4. a thread polls the database every --poll seconds (default 0.05) for texts that have
   both scores, and records when it saw them and their latest `scored_at`.

Latency is reported two ways: "stored" = latest scored_at - save (the worker's clock when it
wrote the rows; the same machine's clock) and "observed" = when the poller first saw both
rows - save (includes up to one poll interval; the verdict uses this, the larger). The
worker's peak memory is VmHWM from /proc for the worker and its pool processes, read before
it is stopped. The first start after a new model version also exports and quantises the
ONNX graph (cached in var/models), which raises that peak by some 400 MB: run twice.

The saving process, PostgreSQL and Redis share the machine's cores with the worker, as they
would on a single small server.

Texts: the demo generator's review grammar (crm.demo.texts, every topic and tone, seeded),
or with --data DIR the clothing reviews' held-out split from the shared data.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scratch_db import create_database, drop_database, with_path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_S = 2.0
TARGET_MEMORY_MB = 1536
# What Celery logs for a task that failed (for good, or before an automatic retry).
FAILED = "raised unexpected"
RETRIED = "Retry in"


@dataclass
class Sample:
    review_id: int
    saved: float = 0.0  # time.time() just after commit
    save_call_s: float = 0.0  # how long review_upsert took, commit and publish included
    stored: float | None = None  # latest scored_at of the two scores, as a timestamp
    observed: float | None = None  # when the poller first saw both scores


@dataclass
class Run:
    samples: dict[int, Sample] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done_saving: threading.Event = field(default_factory=threading.Event)


def _check_environment() -> tuple[str, str]:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    problems = []
    if urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        problems.append(
            "DATABASE_URL must name a PostgreSQL server, e.g. "
            "postgres://postgres@127.0.0.1:5432/postgres (the benchmark makes its own database)"
        )
    if urlsplit(redis_url).scheme not in ("redis", "rediss"):
        problems.append("REDIS_URL must name a Redis server, e.g. redis://127.0.0.1:6379/0")
    if problems:
        raise SystemExit("pipeline_latency: " + "; ".join(problems) + ".")
    return database_url, redis_url


def _demo_texts(count: int, seed: int) -> list[tuple[int, str, str]]:
    """(rating, title, body) from the demo generator's grammar, every topic and tone."""
    from crm.demo import catalogue as words
    from crm.demo import texts

    rng = random.Random(seed)
    ratings = {"negative": (1, 2), "mixed": (3, 4), "neutral": (3, 4), "positive": (4, 5)}
    topics = tuple(texts.POSITIVE)
    reviews = []
    for _ in range(count):
        category = rng.randrange(len(words.CATEGORIES))
        noun, price, sizing, materials = words.CATEGORIES[category]
        sizes = words.SHOE_SIZES if sizing == "shoes" else words.CLOTHING_SIZES
        material = rng.choice(materials)
        slots = {
            "product": words.product_name(rng.randrange(len(words.ADJECTIVES)), material, category),
            "item": noun,
            "material": words.MATERIALS[material],
            "colour": rng.choice(words.COLOURS),
            "size": rng.choice(sizes),
            "other_size": rng.choice(sizes),
            "order": f"#{rng.randrange(100000, 999999)}",
            "days": str(rng.randrange(1, 9)),
            "lead": str(rng.randrange(1, 6)),
            "price": f"€{price * rng.uniform(0.7, 1.1):.2f}",
            "diff": f"€{rng.randrange(3, 23)}",
            "courier": rng.choice(words.COURIERS),
            "n": str(rng.randrange(2, 7)),
            "waited": str(rng.randrange(5, 25)),
            "agent": rng.choice(words.AGENTS),
            "name": rng.choice(words.FIRST_NAMES),
            "shop": words.SHOP,
            "promised": rng.choice(("Monday", "Friday", "12 March", "3 June")),
            "coupon": rng.choice(words.COUPONS),
        }
        topic = rng.choice(topics)
        tone = rng.choice(texts.TONES)
        title, body = texts.review(rng, topic=topic, tone=tone, slots=slots)
        reviews.append((rng.choice(ratings[tone]), title, body))
    return reviews


def _clothing_texts(data_dir: Path, count: int) -> list[tuple[int, str, str]]:
    """(rating, "", text) from the clothing reviews' held-out split, repeated if too few."""
    from sentiment.training import data

    texts, labels = data.clothing(data_dir, "test")
    rating = {data.NEGATIVE: 2, data.NEUTRAL: 3, data.POSITIVE: 5}
    return [(rating[labels[i % len(texts)]], "", texts[i % len(texts)]) for i in range(count)]


def _scored_both(review_ids: Sequence[int], analyzers: Sequence[str]) -> list[tuple[int, Any]]:
    """(review id, latest scored_at) of the given reviews whose text has every analyzer's score."""
    from django.db.models import Count, Max

    from sentiment.models import SentimentScore

    return list(
        SentimentScore.objects.filter(
            text__review_id__in=list(review_ids), analyzer__in=list(analyzers)
        )
        .values("text__review_id")
        .annotate(analyzers=Count("analyzer", distinct=True), last=Max("scored_at"))
        .filter(analyzers=len(analyzers))
        .values_list("text__review_id", "last")
    )


def _poll(run: Run, analyzers: Sequence[str], interval: float, drain_s: float) -> None:
    """Until every review is scored (or drain_s after the last save): record completions."""
    from django.db import connection

    drain_deadline: float | None = None
    try:
        while True:
            with run.lock:
                pending = [s.review_id for s in run.samples.values() if s.observed is None]
            if pending:
                now = time.time()
                for review_id, last in _scored_both(pending, analyzers):
                    sample = run.samples[review_id]
                    sample.observed = now
                    sample.stored = last.timestamp()
            if run.done_saving.is_set():
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + drain_s
                if not pending or time.monotonic() > drain_deadline:
                    return
            time.sleep(interval)
    finally:
        connection.close()


def _start_worker(env: dict[str, str], concurrency: int, pool: str, log: Path) -> subprocess.Popen:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", f"bench-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_ready(worker: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while b"ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The Celery worker did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (the worker's prefork pool processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: ppid follows the last ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [pid]
    for member in tree:
        tree.extend(child for child, parent in parents.items() if parent == member)
    return tree


def _memory_mb(pid: int) -> dict[int, tuple[float, float]]:
    """{pid: (VmHWM MB, VmRSS MB)} for the process and its descendants."""
    figures = {}
    for member in _process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        values = {
            line.split(":")[0]: int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith(("VmHWM", "VmRSS"))
        }
        figures[member] = (values.get("VmHWM", 0.0), values.get("VmRSS", 0.0))
    return figures


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="reviews saved per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to save reviews")
    parser.add_argument("--concurrency", type=int, default=1, help="worker pool processes")
    parser.add_argument("--pool", choices=("prefork", "solo"), default="prefork")
    parser.add_argument("--data", type=Path, default=None, help="use clothing reviews from DIR")
    parser.add_argument("--database", default="crm_bench_latency", help="scratch database")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database for the broker")
    parser.add_argument("--poll", type=float, default=0.05, help="poll interval in seconds")
    parser.add_argument("--drain", type=float, default=120.0, help="max wait after last save")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    if args.pool == "solo" and args.concurrency != 1:
        parser.error("--pool solo runs exactly one process; leave --concurrency at 1")

    server_url, redis_url = _check_environment()
    # A stopped benchmark (Ctrl-C, kill) still stops its worker and drops its database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    scratch_url = with_path(server_url, f"/{args.database}")
    bench_redis = with_path(redis_url, f"/{args.redis_db}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        "DATABASE_URL": scratch_url,
        "REDIS_URL": bench_redis,
        "DEBUG": "0",  # DEBUG keeps every query in memory and slows the ORM
        "HF_HUB_OFFLINE": "1",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    create_database(server_url, args.database)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _measure(args, env, settings)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept database {args.database}")
        else:
            drop_database(server_url, args.database)


def _measure(args: argparse.Namespace, env: dict[str, str], settings: Any) -> int:
    from django.db import transaction
    from django.utils import timezone

    from config.celery_app import app
    from crm.services import customer_upsert, review_upsert

    analyzers = list(settings.SENTIMENT_ANALYZERS)
    count = int(args.rate * args.seconds)
    reviews = (
        _clothing_texts(args.data, count + 1) if args.data else _demo_texts(count + 1, args.seed)
    )
    source = f"clothing test split from {args.data}" if args.data else "demo review grammar"
    words = [len(f"{title} {body}".split()) for _, title, body in reviews]
    print(
        f"{count} reviews ({source}; mean {statistics.mean(words):.0f} words), "
        f"{args.rate:g}/s for {args.seconds:g}s; analyzers {', '.join(analyzers)}, "
        f"transformer runtime {settings.SENTIMENT_TRANSFORMER_RUNTIME}"
    )
    app.control.purge()
    customers = [
        customer_upsert(
            external_id=f"bench-c{i}",
            name=f"Bench customer {i}",
            signed_up_at=timezone.now() - timedelta(days=400),
        )[0]
        for i in range(50)
    ]
    run = Run()

    def save(number: int) -> Sample:
        rating, title, body = reviews[number]
        stamp: list[float] = []
        started = time.perf_counter()
        with transaction.atomic():
            # Registered before the product's own on_commit (the enqueue), so it runs first.
            transaction.on_commit(lambda: stamp.append(time.time()))
            review, _ = review_upsert(
                external_id=f"bench-r{number}-{uuid.uuid4().hex[:8]}",
                customer=customers[number % len(customers)],
                rating=rating,
                title=title[:300],
                body=body,
                created_at=timezone.now(),
            )
        sample = Sample(review.pk, stamp[0], time.perf_counter() - started)
        with run.lock:
            run.samples[review.pk] = sample
        return sample

    log = Path(tempfile.gettempdir()) / f"crm-bench-worker-{uuid.uuid4().hex[:8]}.log"
    started = time.monotonic()
    worker = _start_worker(env, args.concurrency, args.pool, log)
    try:
        _wait_ready(worker, log, timeout=300)
        warm = save(count)  # the last generated text is the warm-up review
        while not _scored_both([warm.review_id], analyzers):
            failed = FAILED in log.read_text()
            if failed or worker.poll() is not None or time.monotonic() - started > 600:
                raise SystemExit(f"The warm-up review was not scored:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        print(f"worker ready and warm in {time.monotonic() - started:.1f}s (log: {log})")
        with run.lock:
            run.samples.clear()

        poller = threading.Thread(
            target=_poll, args=(run, analyzers, args.poll, args.drain), daemon=True
        )
        poller.start()
        lag = []
        last_start = 0.0
        begin = time.monotonic()
        for number in range(count):
            due = begin + number / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                lag.append(-delay)
            last_start = time.monotonic() - begin
            save(number)
        run.done_saving.set()
        poller.join()
        memory = _memory_mb(worker.pid)
    finally:
        _stop(worker)

    text = log.read_text()
    if FAILED in text or RETRIED in text:
        print(
            f"worker log shows {text.count(FAILED)} failed and {text.count(RETRIED)} retried "
            f"tasks: see {log}"
        )
    samples = list(run.samples.values())
    done = [s for s in samples if s.observed is not None]
    observed = [s.observed - s.saved for s in done if s.observed is not None]
    stored = [s.stored - s.saved for s in done if s.stored is not None]
    calls = [s.save_call_s * 1000 for s in samples]
    print(
        f"saved {len(samples)} reviews, one every {last_start / max(len(samples) - 1, 1):.3f}s "
        f"= {(len(samples) - 1) / last_start if last_start else 0:.1f}/s "
        f"(asked {args.rate:g}/s; {len(lag)} saves started late, max {max(lag, default=0):.3f}s); "
        f"review_upsert p50 {statistics.median(calls):.1f} ms, max {max(calls):.1f} ms"
    )
    finished = max((s.observed for s in done if s.observed is not None), default=time.time())
    first = min(s.saved for s in samples)
    print(
        f"scored {len(done)}/{len(samples)}; both scores stored for all within "
        f"{finished - first:.1f}s of the first save = {len(done) / (finished - first):.1f}/s"
    )
    if done:
        print(f"\n{'latency (s)':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'mean':>8}")
        for name, values in (
            ("stored (scored_at - save)", stored),
            ("observed (poll - save)", observed),
        ):
            cells = (
                "".join(f"{_percentile(values, q):>8.3f}" for q in (50, 95, 99, 100))
                + f"{statistics.mean(values):>8.3f}"
            )
            print(f"{name:<28}{cells}")
    # A review never scored (within --drain) counts as infinitely late.
    p95 = _percentile(observed + [math.inf] * (len(samples) - len(done)), 95)
    verdict = "yes" if p95 < TARGET_P95_S else "NO"
    print(f"\np95 observed latency < {TARGET_P95_S:g} s at {args.rate:g} reviews/s: {verdict}")

    print(f"\nworker processes ({args.pool}, concurrency {args.concurrency}): peak / current RSS")
    for pid, (hwm, rss) in memory.items():
        role = "main" if pid == worker.pid else "pool"
        print(f"  pid {pid} ({role}): VmHWM {hwm:.0f} MB, VmRSS {rss:.0f} MB")
    largest = max(hwm for hwm, _ in memory.values()) if memory else float("nan")
    total = sum(hwm for hwm, _ in memory.values())
    print(
        f"peak worker memory with both analyzers loaded: {largest:.0f} MB in the largest "
        f"process, {total:.0f} MB summed over the worker's processes (an upper bound: forked "
        f"processes share pages) -> under {TARGET_MEMORY_MB / 1024:g} GB: "
        f"{'yes' if total < TARGET_MEMORY_MB else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

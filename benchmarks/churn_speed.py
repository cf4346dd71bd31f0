"""Churn model speed on PostgreSQL: training, the nightly batch, and the incremental re-score.

    CRM_VAR_DIR=/tmp/churnbench-var .venv/bin/python benchmarks/churn_speed.py --customers 100000

    # keep the database, then measure again on the same data without generating it
    .venv/bin/python benchmarks/churn_speed.py --customers 100000 --keep
    .venv/bin/python benchmarks/churn_speed.py \\
        --database-url postgres://postgres@127.0.0.1:5432/crm_bench_churn_speed --skip-generate

Targets (churn issue), on a demo shop of 100,000 customers:
  a. `churn_train` on 4 training cutoffs (its default) in <= 5 minutes;
  b. features + scoring of every customer (`churn_score`, i.e. scoring.score_all) in <= 60 s
     and <= 1.5 GB peak memory;
  c. the incremental re-score of one customer (scoring.score_customers([id]), what the
     Celery task runs after new text, orders or tickets) at p95 <= 200 ms.

Why each phase runs in a fresh process: the nightly batch and a training run are
separate processes in production, and a process's peak memory is only that phase's when
nothing else ran in it before. The peak is VmHWM from /proc/self/status, read by the phase
process as it ends: not ru_maxrss, which Linux carries over from the parent across
fork + exec (every phase would show at least the benchmark's own peak, the generator's).

What it does:
1. creates a scratch PostgreSQL database (--database, default crm_bench_churn_speed) on the
   server DATABASE_URL names (default postgres://postgres@127.0.0.1:5432/postgres); it
   refuses to start if that database exists, so two runs never share or drop each other's;
   dropped at the end unless --keep. --database-url uses an existing database instead (it
   is migrated, and never dropped);
2. generates the demo shop (crm.demo.generate.demo_generate, texts not announced to any
   worker) unless --skip-generate or the database already has customers;
3. scores every text that lacks a VADER score with VADER only (sentiment.services.texts_score
   in chunks), with ANALYZE before and during it and VACUUM ANALYZE after it, as
   autovacuum would after a bulk load (the server's autovacuum setting is printed: where
   it is off, the planner's statistics come from these alone);
4. runs, each in its own process: `manage.py churn_train --json`; `manage.py churn_score`
   (both through manage.py's own main(), inside a wrapper that reports VmHWM);
   features.feature_frame(now) for every customer at once (then each of its queries on its
   own, to show where the time goes); and score_customers([id]) for --samples random
   customers after one warm-up call (model loaded, connection open).

Every process runs with SENTIMENT_ANALYZERS=vader SENTIMENT_PRIMARY_ANALYZER=vader: scoring
the demo's 270,000-390,000 texts (the count depends on the generator's version) with the
transformer would take about an hour on 2 CPU cores, and sentiment speed is measured by
sentiment_speed.py and pipeline_latency.py. The transformer features are then missing for
everyone, which costs the feature queries nothing. DEBUG is off (DEBUG keeps every query
in memory).

The machine is printed with the figures: on shared machines the wall times vary between
runs; compare figures from one run. CPU seconds are the phase process's own (the database
server's work is not in them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scratch_db import create_database, drop_database, with_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_VAR_DIR = Path(tempfile.gettempdir()) / "churnbench-var"
TARGET_TRAIN_S = 300.0
TARGET_SCORE_S = 60.0
TARGET_SCORE_MB = 1536.0
TARGET_INCREMENTAL_P95_MS = 200.0
TEXT_CHUNK = 2000
PHASE_MARK = "CHURN_SPEED_RESULT "  # a phase process prints its result on a line after this


@dataclass
class Phase:
    """One phase process: what it printed and what it cost."""

    name: str
    wall_s: float
    peak_mb: float
    cpu_s: float
    stdout: str
    stderr: str
    result: dict[str, Any] = field(default_factory=dict)


def machine() -> str:
    """CPU model, cores, RAM, load, Python and platform: the context of every figure."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{model}, {os.cpu_count()} cores ({usable} usable), {ram_gb:.1f} GiB RAM; "
        f"load average {load()}; Python {platform.python_version()}, {platform.platform()}"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def run_phase(name: str, arguments: Sequence[str], env: dict[str, str]) -> Phase:
    """Run `churn_speed.py --phase ...arguments` to the end: wall time as seen from here,
    CPU time from os.wait4 (that process alone), peak memory as the process reported it.
    Exits with its output if it fails."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", *arguments]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(
            f"phase {name} failed (exit {child.returncode}): {' '.join(command)}\n"
            f"{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    results = [
        json.loads(line.removeprefix(PHASE_MARK))
        for line in stderr.splitlines()
        if line.startswith(PHASE_MARK)
    ]
    if not results:
        raise SystemExit(f"phase {name} reported nothing:\n{stderr[-3000:]}")
    result = results[-1]
    return Phase(
        name=name,
        wall_s=wall,
        peak_mb=result.pop("peak_mb"),
        cpu_s=usage.ru_utime + usage.ru_stime,
        stdout=stdout,
        stderr=stderr,
        result=result,
    )


def peak_mb() -> float:
    """This process's peak resident set size (VmHWM) in MiB, counted since its exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _report(result: dict[str, Any]) -> None:
    """Hand the phase's result to the parent on stderr (stdout is the command's own)."""
    print(PHASE_MARK + json.dumps({**result, "peak_mb": peak_mb()}), file=sys.stderr, flush=True)


def phase_manage(command: str) -> None:
    """In a phase process: `manage.py <command>` through manage.py's own main()."""
    import runpy
    import shlex

    sys.argv = [str(ROOT / "manage.py"), *shlex.split(command)]
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    runpy.run_path(str(ROOT / "manage.py"), run_name="__main__")
    sys.stdout.flush()
    _report({"seconds": time.perf_counter() - started})


def phase_features() -> None:
    """In a phase process: feature_frame(now) for every customer at once, then each of its
    per-table queries on its own (where the time goes)."""
    _setup_django()
    from django.utils import timezone

    from churnmodel import features
    from crm.models import Customer

    now = timezone.now()
    started = time.perf_counter()
    frame = features.feature_frame(now)
    total = time.perf_counter() - started
    customers = Customer.objects.filter(signed_up_at__lte=now)
    parts = {}
    for part in (
        features._order_features,
        features._event_features,
        features._ticket_features,
        features._review_features,
        features._text_features,
        features._effective_text_features,
        features._aspect_features,
    ):
        clock = time.perf_counter()
        part(now, customers)
        parts[part.__name__.strip("_")] = round(time.perf_counter() - clock, 2)
    _report({"seconds": total, "rows": len(frame), "columns": len(frame.columns), "parts": parts})


def phase_incremental(samples: int, seed: int) -> None:
    """In a phase process: score_customers([id]) for `samples` random customers, one call
    each, after one warm-up call on another customer (model loaded, connection open)."""
    _setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from churnmodel import scoring
    from churnmodel.features import feature_frame
    from crm.models import Customer

    ids = list(
        Customer.objects.filter(is_erased=False, signed_up_at__lte=timezone.now())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rng = random.Random(seed)
    chosen = rng.sample(ids, min(samples + 1, len(ids)))
    warm, timed = chosen[0], chosen[1:]
    clock = time.perf_counter()
    scoring.score_customers([warm])
    warm_ms = (time.perf_counter() - clock) * 1000
    millis = []
    written = 0
    for customer in timed:
        clock = time.perf_counter()
        written += scoring.score_customers([customer])
        millis.append((time.perf_counter() - clock) * 1000)
    # Where a call's time goes: the same customers' feature frames alone, and the queries
    # of one call.
    features_ms = []
    for customer in timed:
        clock = time.perf_counter()
        feature_frame(timezone.now(), Customer.objects.filter(pk__in=[customer], is_erased=False))
        features_ms.append((time.perf_counter() - clock) * 1000)
    with CaptureQueriesContext(connection) as queries:
        scoring.score_customers([timed[0]])
    _report(
        {
            "warm_up_ms": warm_ms,
            "ms": millis,
            "features_ms": features_ms,
            "written": written,
            "queries": len(queries.captured_queries),
        }
    )


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _prepare(args: argparse.Namespace) -> None:
    """Migrate, generate the demo shop if needed, score the texts with VADER, VACUUM ANALYZE."""
    from django.core.management import call_command
    from django.db import connection

    from crm.demo.generate import demo_generate
    from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage
    from sentiment.analyzers import loadable_analyzers
    from sentiment.models import AspectMention, SentimentScore
    from sentiment.selectors import texts_missing_score
    from sentiment.services import texts_score

    call_command("migrate", verbosity=0)
    existing = Customer.objects.count()
    if args.skip_generate or existing:
        print(f"not generating: {'--skip-generate' if args.skip_generate else 'customers exist'}")
    else:
        end = date.fromisoformat(args.end_date) if args.end_date else None
        from django.utils import timezone

        end = end or timezone.now().date()
        print(f"generating the demo shop: {args.customers:,} customers, seed {args.seed}, "
              f"ending {end}", flush=True)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="churnbench-truth-") as folder:
            summary = demo_generate(  # the hidden truth is not needed here: thrown away
                customers=args.customers, seed=args.seed, end_date=end,
                truth_path=Path(folder) / "ground_truth.csv", announce=False,
            )  # fmt: skip
        timings = ", ".join(f"{step} {s:.0f}s" for step, s in summary.seconds.items())
        print(f"  generated in {sum(summary.seconds.values()):.0f} s ({timings})")
    counts = {
        model._meta.db_table: model.objects.count()
        for model in (Customer, Order, Event, Review, Ticket, TicketMessage, CustomerText)
    }
    print("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))

    (vader,) = [a for a in loadable_analyzers() if a.name == "vader"]
    missing = list(
        texts_missing_score(analyzer=vader.name, version=vader.version)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    print(f"scoring {len(missing):,} texts that lack a VADER score (VADER only)", flush=True)
    # Statistics as autovacuum would keep them (where it is off, nobody else does): without
    # them texts_score's "missing score" anti-join degrades as the score table grows
    # (measured: 50,000 texts in 91 s, the next 50,000 in 420 s).
    scores = ", ".join(m._meta.db_table for m in (SentimentScore, AspectMention))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    for start in range(0, len(missing), TEXT_CHUNK):
        texts_score(text_ids=missing[start : start + TEXT_CHUNK], analyzers=[vader])
        done = min(start + TEXT_CHUNK, len(missing))
        if done % (TEXT_CHUNK * 25) == 0 or done == len(missing):
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {scores}")
            print(f"  {done:,}/{len(missing):,} in {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="demo customers")
    parser.add_argument("--seed", type=int, default=1, help="demo seed (and the sample's)")
    parser.add_argument("--end-date", default=None, help="demo's last day (default: today)")
    parser.add_argument("--database", default="crm_bench_churn_speed", help="scratch database")
    parser.add_argument("--database-url", default=None, help="use this database instead")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--skip-generate", action="store_true", help="use the data as it is")
    parser.add_argument("--samples", type=int, default=200, help="incremental re-scores timed")
    parser.add_argument(
        "--phase", choices=("manage", "features", "incremental"), help=argparse.SUPPRESS
    )
    parser.add_argument("--command", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase == "manage":
        phase_manage(args.command)
        return 0
    if args.phase == "features":
        phase_features()
        return 0
    if args.phase == "incremental":
        phase_incremental(args.samples, args.seed)
        return 0

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if args.database_url:
        database_url, created = args.database_url, False
    else:
        database_url, created = with_path(server_url, f"/{args.database}"), True
    if urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        parser.error("the benchmark measures PostgreSQL: give a postgres:// URL")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url,
        "CRM_VAR_DIR": os.environ.get("CRM_VAR_DIR") or str(DEFAULT_VAR_DIR),
        "DEBUG": "0",
        "SENTIMENT_ANALYZERS": "vader",
        "SENTIMENT_PRIMARY_ANALYZER": "vader",
    }
    # Nothing here should reach a Redis that real workers consume: any task the CRM queues
    # stays in CRM_VAR_DIR's filesystem broker.
    env.pop("REDIS_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env)
    # A stopped benchmark (Ctrl-C, kill) still drops its database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    print(f"machine: {machine()}")
    print(f"code: {_git_revision()}; database {urlsplit(database_url).path.lstrip('/')} "
          f"({'scratch' if created else 'given'}); CRM_VAR_DIR {env['CRM_VAR_DIR']}")  # fmt: skip
    print(
        "sentiment: VADER only (SENTIMENT_ANALYZERS=vader SENTIMENT_PRIMARY_ANALYZER=vader); "
        "the transformer would take ~1 h for the demo texts on this CPU, and scoring speed is "
        "measured by sentiment_speed.py / pipeline_latency.py"
    )
    if created:
        create_database(server_url, args.database)
    try:
        _setup_django()
        from django.db import connection, connections

        with connection.cursor() as cursor:
            settings = []
            for name in ("server_version", "jit", "autovacuum", "shared_buffers", "work_mem"):
                cursor.execute(f"SHOW {name}")
                settings.append(f"{name} {cursor.fetchone()[0]}")
            print(f"PostgreSQL: {', '.join(settings)}")
        _prepare(args)
        connections.close_all()
        return _measure(args, env)
    finally:
        from django.db import connections

        connections.close_all()
        if created and not args.keep:
            drop_database(server_url, args.database)
        elif created:
            print(f"kept database {args.database}")


def _measure(args: argparse.Namespace, env: dict[str, str]) -> int:
    print(f"\n[a] manage.py churn_train --json (load {load()})", flush=True)
    train = run_phase("train", ["manage", "--command", "churn_train --json"], env)
    report = json.loads(train.stdout[train.stdout.index("{") :])
    print(
        f"  {train.wall_s:.1f} s wall, {train.cpu_s:.1f} s CPU, peak {train.peak_mb:.0f} MB; "
        f"cutoffs {', '.join(c[:10] for c in report['training_cutoffs'])}, validation "
        f"{report['validation_cutoff'][:10]}; customers "
        + ", ".join(f"{part} {n:,}" for part, n in report["customers"].items())
        + "; chosen "
        f"{report['algorithm']}, ROC-AUC {report['model']['roc_auc']:.4f}; "
        f"promoted: {report.get('promoted')}"
    )

    print(f"\n[b] manage.py churn_score (load {load()})", flush=True)
    score = run_phase("score", ["manage", "--command", "churn_score"], env)
    scored_line = next(line for line in score.stdout.splitlines() if line.startswith("Scored"))
    customers_scored = int(scored_line.split()[1].replace(",", ""))
    print(
        f"  {score.wall_s:.1f} s wall, {score.cpu_s:.1f} s CPU, peak {score.peak_mb:.0f} MB; "
        f"command says: {scored_line}"
    )

    print(f"\n[b'] features.feature_frame(now), every customer at once (load {load()})",
          flush=True)  # fmt: skip
    features = run_phase("features", ["features"], env)
    parts = features.result["parts"]
    print(
        f"  {features.result['seconds']:.1f} s for {features.result['rows']:,} rows x "
        f"{features.result['columns']} features (process: {features.wall_s:.1f} s wall, peak "
        f"{features.peak_mb:.0f} MB); each query alone: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in parts.items())
    )

    print(f"\n[c] scoring.score_customers([id]) x {args.samples} (load {load()})", flush=True)
    incremental = run_phase(
        "incremental",
        ["incremental", "--samples", str(args.samples), "--seed", str(args.seed)],
        env,
    )  # fmt: skip
    millis = incremental.result["ms"]
    p50, p95, worst = (_percentile(millis, q) for q in (50, 95, 100))
    print(
        f"  {len(millis)} calls after a warm-up of {incremental.result['warm_up_ms']:.0f} ms: "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {worst:.0f} ms, mean "
        f"{statistics.mean(millis):.0f} ms; peak {incremental.peak_mb:.0f} MB"
    )
    features_ms = incremental.result["features_ms"]
    print(
        f"  of which feature_frame for one customer (timed again alone): p50 "
        f"{_percentile(features_ms, 50):.0f} ms, p95 {_percentile(features_ms, 95):.0f} ms; "
        f"{incremental.result['queries']} SQL queries per call"
    )

    rows = [
        ("a. churn_train, 4 cutoffs, wall", f"{train.wall_s:.1f} s", "<= 300 s",
         train.wall_s <= TARGET_TRAIN_S),
        ("a. churn_train peak RSS", f"{train.peak_mb:.0f} MB", "-", None),
        (f"b. churn_score, {customers_scored:,} customers, wall", f"{score.wall_s:.1f} s",
         "<= 60 s", score.wall_s <= TARGET_SCORE_S),
        ("b. churn_score peak RSS", f"{score.peak_mb:.0f} MB", "<= 1536 MB",
         score.peak_mb <= TARGET_SCORE_MB),
        ("b. feature_frame(now), all customers", f"{features.result['seconds']:.1f} s", "-",
         None),
        ("c. score_customers([id]) p50", f"{p50:.0f} ms", "-", None),
        ("c. score_customers([id]) p95", f"{p95:.0f} ms", "<= 200 ms",
         p95 <= TARGET_INCREMENTAL_P95_MS),
        ("c. score_customers([id]) max", f"{worst:.0f} ms", "-", None),
    ]  # fmt: skip
    print(f"\nmachine: {machine()}")
    print(f"\n{'figure':<44}{'value':>12}{'target':>13}{'met':>6}")
    for figure, value, target, met in rows:
        verdict = "-" if met is None else "yes" if met else "NO"
        print(f"{figure:<44}{value:>12}{target:>13}{verdict:>6}")
    print(f"(the benchmark's own process, which prepared the data: {peak_mb():.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

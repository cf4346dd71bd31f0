"""Server time of the web UI's pages on a big shop (PostgreSQL), against the web issue's targets.

    # a 100,000-customer shop with texts scored and a churn model (kept afterwards)
    CRM_VAR_DIR=/tmp/churnbench-var .venv/bin/python benchmarks/churn_speed.py \\
        --customers 100000 --keep
    # then
    .venv/bin/python benchmarks/web_pages.py \\
        --database-url postgres://postgres@127.0.0.1:5432/crm_bench_churn_speed

Targets (p95 server time): queue and at-risk list <= 150 ms, customer 360 <= 250 ms,
dashboards (rules, results, voice of the customer, model, approvals) <= 500 ms.

Setup, done once on the given database and kept: the demo users (agent, marketer), the
demo's four intervention rules, one past season (the engine decides as of 62 days ago,
with emails to a dummy backend, and the outcomes are measured from the shop's own
orders) and today's decisions, so the queue has calls and the results page has numbers;
and what the nightly jobs keep ready (current risk rows, the voice dashboard's weeks).
Then every page is requested --repeat times in this process through Django's test client
(the server's whole work: middleware, views, queries, templates; no network), and the
median, p95 and maximum are printed with the number of queries. Customer pages are those of
--customers random customers with the most texts (the heaviest timelines). DEBUG is off.
The machine is shared: compare figures from one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS_MS = {"queue": 150, "at-risk": 150, "customer 360": 250, "dashboard": 500}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--customers", type=int, default=30, help="customer pages to time")
    args = parser.parse_args(argv)

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory and slows pages
    os.environ.setdefault("SENTIMENT_ANALYZERS", "vader")
    os.environ.setdefault("SENTIMENT_PRIMARY_ANALYZER", "vader")
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs; database {args.database_url}")
    agent, marketer, manager = _users()
    _interventions()
    _nightly()
    pages = _pages(args.customers)
    print(f"\n{'page':<44} {'median':>8} {'p95':>8} {'max':>8} {'queries':>8} target")
    failed = []
    customer_times: list[float] = []
    customer_queries = 0
    rows: list[tuple[str, str, list[float], int]] = []
    for kind, label, url, user in pages:
        client = _client({"agent": agent, "marketer": marketer, "manager": manager}[user])
        if kind == "customer 360":  # one row for all of them
            times, queries = _time(client.get, url, max(2, args.repeat // 4))
            customer_times += times
            customer_queries = max(customer_queries, queries)
            continue
        rows.append((kind, label, *_time(client.get, url, args.repeat)))
    label = f"customer 360 ({args.customers} customers, most texts)"
    rows.append(("customer 360", label, customer_times, customer_queries))
    for kind, label, times, queries in rows:
        p95 = _p95(times)
        target = TARGETS_MS[kind]
        verdict = "ok" if p95 <= target else "OVER"
        if p95 > target:
            failed.append(label)
        print(f"{label:<44} {statistics.median(times):>6.0f}ms {p95:>6.0f}ms "
              f"{max(times):>6.0f}ms {queries:>8} {target} ms {verdict}")  # fmt: skip
    print(f"\n{len(rows) - len(failed)} of {len(rows)} pages within target"
          + (f"; over: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 0


def _users() -> tuple[object, object, object]:
    from django.contrib.auth.models import Group, User

    made = []
    for username, group in (("bench-agent", "Agents"), ("bench-marketer", "Marketing"),
                            ("bench-manager", "Managers")):  # fmt: skip
        user, _ = User.objects.get_or_create(username=username)
        user.groups.set([Group.objects.get(name=group)])
        made.append(user)
    return made[0], made[1], made[2]


def _nightly() -> None:
    """What the nightly jobs keep ready: current risk rows (filled by the migration or the
    scorer; rebuilt here for a database scored before they existed) and the voice weeks."""
    from django.conf import settings

    from churnmodel.models import CurrentRisk
    from churnmodel.scoring import rebuild_current_risk
    from sentiment.services import voice_aggregate

    if not CurrentRisk.objects.exists():
        from interventions.services import last_contact_sync

        started = time.perf_counter()
        rebuilt = rebuild_current_risk()
        last_contact_sync(customer_ids=None)
        print(f"current risk rebuilt for {rebuilt} customers in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:  # autovacuum may be off: plans need statistics
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    rows = voice_aggregate(weeks=settings.SENTIMENT_VOICE_WEEKS + 1)
    print(f"voice weeks aggregated ({rows} rows) in {time.perf_counter() - started:.1f} s")


def _interventions() -> None:
    from django.utils import timezone

    from interventions import services
    from interventions.models import Intervention, Rule
    from interventions.simulation import demo_rules

    if not Rule.objects.exists():
        demo_rules()
    if Intervention.objects.exists():
        print(f"interventions present: {Intervention.objects.count()}")
        return
    from django.core.mail import get_connection

    dummy = get_connection("django.core.mail.backends.dummy.EmailBackend")
    for at in (timezone.now() - timedelta(days=62), timezone.now()):
        started = time.perf_counter()
        made = services.decide_batch(
            None, at=at, carry=lambda pk, at=at: services.carry_out(pk, at=at, connection=dummy)
        )
        print(f"decided {made} interventions as of {at:%Y-%m-%d} in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        if at < timezone.now() - timedelta(days=1):
            print(f"measured {services.measure_outcomes()} outcomes")


def _pages(customers: int) -> list[tuple[str, str, str, str]]:
    from django.db.models import Count

    from crm.models import Customer

    heavy = list(
        Customer.objects.annotate(n=Count("texts"))
        .order_by("-n")
        .values_list("external_id", "n")[: customers * 10]
    )
    sample = random.Random(1).sample(heavy, min(customers, len(heavy)))
    pages = [
        ("queue", "queue (agent)", "/queue/", "agent"),
        ("at-risk", "at-risk, page 1", "/at-risk/", "agent"),
        ("at-risk", "at-risk, high band + open ticket", "/at-risk/?band=high&ticket=open",
         "agent"),
        ("at-risk", "at-risk, complained about delivery", "/at-risk/?aspect=delivery", "agent"),
        ("at-risk", "at-risk, by value, page 40", "/at-risk/?sort=value&page=40", "agent"),
        ("dashboard", "rules", "/rules/", "marketer"),
        ("dashboard", "results", "/results/", "marketer"),
        ("dashboard", "voice of the customer", "/voice/", "marketer"),
        ("dashboard", "model", "/model/", "marketer"),
        ("dashboard", "approvals (manager)", "/approvals/", "manager"),
        ("at-risk", "at-risk, never contacted, by contact",
         "/at-risk/?contacted=never&sort=contact", "agent"),
    ]  # fmt: skip
    for external_id, _texts in sample[:customers]:
        pages.append(("customer 360", "", f"/customers/{external_id}/", "agent"))  # fmt: skip
    return pages


def _client(user: object) -> object:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def _time(get: Callable[[str], object], url: str, repeat: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    get(url)  # warm: templates compiled, connection open
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = get(url)
        times.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 0)
        if status != 200:
            raise SystemExit(f"{url} answered {status}")
    with CaptureQueriesContext(connection) as queries:
        get(url)
    return times, len(queries)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())

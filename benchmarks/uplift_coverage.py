"""How often the uplift report's 95% intervals cover the true effect on the demo world.

    CRM_VAR_DIR=/tmp/coverage-var .venv/bin/python benchmarks/uplift_coverage.py --seeds 1 2

For each world seed: a fresh SQLite database in CRM_VAR_DIR (default a temporary folder),
a demo world of --customers customers ending --end-date, the four rules of
interventions.simulation.experiment_rules (call, coupon, gift, and an email with no true
effect; half of each held out), and --seasons seasons 70 days apart, oldest first, each
simulated with interventions.simulation.simulate_season (decide, respond, measure). Per
season and action it prints the true effect (mean over every decided customer), the
reported uplift and its interval, and whether the interval covers the truth; at the end,
the share of intervals that covered (95% expected) and how often the email, which has no
effect, was reported significant (5% expected).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--seasons", type=int, default=5)
    parser.add_argument("--end-date", default="2026-11-01")
    args = parser.parse_args(argv)

    os.environ.setdefault("CRM_VAR_DIR", tempfile.mkdtemp(prefix="coverage-var-"))
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from crm.demo.generate import demo_generate
    from interventions.models import Intervention
    from interventions.simulation import experiment_rules, simulate_season
    from interventions.uplift import UpliftRow, arms_of, estimate

    end = date.fromisoformat(args.end_date)
    var = Path(os.environ["CRM_VAR_DIR"])
    covered = total = email_significant = email_rows = 0
    print(f"{'seed':>4} {'season':>10} {'action':>7} {'n (t/c)':>11} {'true':>7} "
          f"{'reported [95% interval]':>28} covered")  # fmt: skip
    for seed in args.seeds:
        connections.close_all()
        (var / "db.sqlite3").unlink(missing_ok=True)
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        truth = var / f"truth-{seed}.csv"
        demo_generate(customers=args.customers, seed=seed, end_date=end, truth_path=truth,
                      announce=False)  # fmt: skip
        rules = experiment_rules()
        for k in reversed(range(args.seasons)):
            at = datetime(end.year, end.month, end.day, 10, tzinfo=UTC) - timedelta(
                days=62 + 70 * k
            )
            season = simulate_season(at=at, truth_path=truth, seed=seed * 100 + k)
            true = season.true_effects()
            arms = arms_of(Intervention.objects.filter(decided_at=at), ("rule_id",))
            for action, rule in rules.items():
                row = estimate(UpliftRow(label=rule.name, action=action, rule_id=rule.pk,
                                         treated=arms[(rule.pk, "treated")],
                                         control=arms[(rule.pk, "control")]))  # fmt: skip
                effect = float(true.loc[(rule.pk, action), "true_effect"])
                n = f"{row.treated.customers}/{row.control.customers}"
                if row.uplift is None or row.ci_low is None or row.ci_high is None:
                    print(f"{seed:>4} {at:%Y-%m-%d} {action:>7} {n:>11} {effect:+.3f}  "
                          f"{row.note[:40]}")  # fmt: skip
                    continue
                hit = row.ci_low <= effect <= row.ci_high
                covered += hit
                total += 1
                if action == "email":
                    email_rows += 1
                    email_significant += bool(row.significant)
                print(f"{seed:>4} {at:%Y-%m-%d} {action:>7} {n:>11} {effect:+.3f} "
                      f"{row.uplift:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]     "
                      f"{'yes' if hit else 'NO'}")  # fmt: skip
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s")
    if total:
        print(f"\nIntervals covering the true effect: {covered}/{total} ({covered / total:.0%}; "
              f"95% expected)")  # fmt: skip
    if email_rows:
        print(f"Email (no true effect) reported significant: {email_significant}/{email_rows} "
              f"(5% expected)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The churn model on real purchase histories (CDNOW), next to the published baselines.

    CRM_VAR_DIR=/tmp/churnbench-var .venv/bin/python benchmarks/churn_cdnow.py
    CRM_VAR_DIR=/tmp/churnbench-var .venv/bin/python benchmarks/churn_cdnow.py --sqlite

Why: the demo shop's churn is simulated by our own generator, so a model can learn its
rules back. CDNOW (23,570 customers who first bought CDs in January to March 1997,
followed until June 1998) is real behaviour with known baselines: for churn = no purchase
in the 180 days after a cutoff, recency alone gives ROC-AUC 0.76-0.80 and a logistic
regression on RFM features 0.77-0.81 (/work/shared/data/README.md). The target: the
model's ROC-AUC at least the best anchor's lower bound (0.77), and a Brier score better
than the base-rate forecast (always predicting the training churn rate).

What it does, with the product's own commands, each in its own process:
1. `benchmarks/cdnow_convert.py` turns the log into customers.csv and orders.csv (in a
   temporary folder);
2. a scratch database: PostgreSQL (--database, default crm_bench_cdnow, on the server
   DATABASE_URL names, default postgres://postgres@127.0.0.1:5432/postgres; refused if it
   exists, dropped at the end unless --keep), or with --sqlite a fresh SQLite file in a
   folder of its own under CRM_VAR_DIR (removed unless --keep);
3. `manage.py migrate`, then `manage.py import_csv --kind customers`, then `--kind orders`
   (rejected rows, if any, go to a rejects file and are counted);
4. `manage.py churn_train --validation-cutoff 1997-12-31 --horizon-days 180 --json`:
   features see 1997, the labels the first half of 1998; training cutoffs 180 days and
   more before the validation cutoff, so no training label window reaches into it.

CDNOW has orders only (no events, tickets or texts): the features other than recency,
frequency, spend and tenure are empty for everyone, and "without text" is the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scratch_db import create_database, drop_database, with_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "churn" / "cdnow" / "CDNOW_master.txt"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_VAR_DIR = Path(tempfile.gettempdir()) / "churnbench-var"
VALIDATION_CUTOFF = "1997-12-31"
HORIZON_DAYS = 180
# /work/shared/data/README.md: CDNOW, churn = no purchase in the 180 days after a cutoff.
ANCHORS = {"recency alone": (0.76, 0.80), "logistic regression on RFM": (0.77, 0.81)}


def machine() -> str:
    """CPU model, cores, RAM, load and Python: the context of the timings."""
    model, ram_gb = "unknown CPU", float("nan")
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        ram_gb = next(
            int(line.split()[1]) / 2**20
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        pass
    one, five, fifteen = os.getloadavg()
    return (
        f"{model}, {os.cpu_count()} cores, {ram_gb:.1f} GiB RAM; load average "
        f"{one:.2f} {five:.2f} {fifteen:.2f}; Python {platform.python_version()}"
    )


def run(step: str, command: Sequence[str], env: dict[str, str], *, echo: bool = True) -> str:
    """Run one step to the end and return its standard output; exit with its output if it
    fails. Prints the step, its wall time and (if `echo`) what it printed."""
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(list(command), cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{step} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    if echo:
        for line in (done.stdout + done.stderr).strip().splitlines():
            print(f"  {line}")
    print(f"  ({step}: {seconds:.1f} s)")
    return done.stdout


def in_range(value: float, bounds: tuple[float, float]) -> str:
    low, high = bounds
    return "below" if value < low else "above" if value > high else "within"


def verdict(report: dict[str, Any]) -> tuple[bool, bool]:
    """(ROC-AUC at least the best anchor's lower bound, Brier better than the base rate's)."""
    best_low = max(low for low, _ in ANCHORS.values())
    model = report["model"]
    return model["roc_auc"] >= best_low, model["brier"] < report["base_rate_brier"]


def print_report(report: dict[str, Any]) -> None:
    """The training report's figures next to the anchors, and the verdict."""
    customers = report["customers"]
    print(
        f"\nchurn = no purchase in the {report['horizon_days']} days after the cutoff; "
        f"validation cutoff {report['validation_cutoff'][:10]}; training cutoffs "
        + ", ".join(c[:10] for c in report["training_cutoffs"])
        + f" (calibrated on {str(report['calibration_cutoff'])[:10]})"
    )
    print(
        f"customers: training {customers['training']:,}, calibration "
        f"{customers['calibration']:,}, validation {customers['validation']:,}; churn rate "
        f"training {report['base_rate']['training']:.3f}, validation "
        f"{report['base_rate']['validation']:.3f}"
    )
    print(
        "candidates on the calibration cutoff (ROC-AUC): "
        + ", ".join(f"{name} {m['roc_auc']:.4f}" for name, m in report["candidates"].items())
        + f"; chosen {report['algorithm']}; {report['features']} features "
        f"({report['text_features']} from text, empty here)"
    )
    print(f"\n{'on the validation cutoff':<30}{'ROC-AUC':>9}{'PR-AUC':>9}{'Brier':>9}")
    for label, key in (
        (f"model ({report['algorithm']})", "model"),
        ("recency-only rule", "recency_rule"),
        ("RFM logistic", "rfm_logistic"),
        ("model without text", "without_text"),
    ):
        m = report[key]
        print(f"{label:<30}{m['roc_auc']:>9.4f}{m['pr_auc']:>9.4f}{m['brier']:>9.4f}")
    print(f"{'base-rate forecast':<30}{'-':>9}{'-':>9}{report['base_rate_brier']:>9.4f}")

    print("\nanchors (ROC-AUC, /work/shared/data/README.md) and ours on the same task:")
    ours = {
        "recency alone": report["recency_rule"]["roc_auc"],
        "logistic regression on RFM": report["rfm_logistic"]["roc_auc"],
    }
    for name, bounds in ANCHORS.items():
        print(
            f"  {name:<28}{bounds[0]:.2f}-{bounds[1]:.2f}   ours {ours[name]:.4f} "
            f"({in_range(ours[name], bounds)})"
        )
    model_auc = report["model"]["roc_auc"]
    best = max(ANCHORS, key=lambda name: ANCHORS[name][0])
    print(
        f"  {'the model':<28}{'':9}   ours {model_auc:.4f} "
        f"({in_range(model_auc, ANCHORS[best])} the best anchor's range)"
    )
    auc_met, brier_met = verdict(report)
    best_low = max(low for low, _ in ANCHORS.values())
    print(
        f"\ntarget: ROC-AUC >= {best_low:.2f} (the best anchor's lower bound): "
        f"{model_auc:.4f} -> {'yes' if auc_met else 'NO'}"
    )
    print(
        f"target: Brier < base-rate forecast's {report['base_rate_brier']:.4f}: "
        f"{report['model']['brier']:.4f} -> {'yes' if brier_met else 'NO'}"
    )
    if "promotion" in report:
        print(
            f"(saved as version {report['version']} in the scratch database: {report['promotion']})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="CDNOW_master.txt")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--database", default="crm_bench_cdnow", help="scratch PostgreSQL db")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    if not args.input.is_file():
        parser.error(f"{args.input} does not exist")

    var_dir = Path(os.environ.get("CRM_VAR_DIR") or DEFAULT_VAR_DIR)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CRM_VAR_DIR": str(var_dir),
        "DEBUG": "0",  # DEBUG keeps every query in memory
    }
    # The import announces orders for re-scoring: keep those messages in CRM_VAR_DIR's
    # filesystem broker, never on a Redis that real workers consume.
    env.pop("REDIS_URL", None)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    sqlite_dir: Path | None = None
    if args.sqlite:
        var_dir.mkdir(parents=True, exist_ok=True)
        sqlite_dir = Path(tempfile.mkdtemp(prefix="cdnow-sqlite-", dir=var_dir))
        env["CRM_VAR_DIR"] = str(sqlite_dir)  # the settings put db.sqlite3 there
        env.pop("DATABASE_URL", None)
        where = f"SQLite {sqlite_dir / 'db.sqlite3'}"
    else:
        if urlsplit(server_url).scheme not in ("postgres", "postgresql"):
            parser.error("DATABASE_URL must name a PostgreSQL server (or pass --sqlite)")
        env["DATABASE_URL"] = with_path(server_url, f"/{args.database}")
        where = f"PostgreSQL database {args.database} (scratch)"
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    print(f"machine: {machine()}")
    print(f"data: {args.input}; database: {where}; CRM_VAR_DIR {env['CRM_VAR_DIR']}")
    python, manage = sys.executable, str(ROOT / "manage.py")
    csv_dir = Path(tempfile.mkdtemp(prefix="cdnow-csv-"))
    if not args.sqlite:
        create_database(server_url, args.database)
    try:
        convert = [python, str(ROOT / "benchmarks" / "cdnow_convert.py"), str(args.input)]
        run("convert", [*convert, "--output", str(csv_dir)], env)
        run("migrate", [python, manage, "migrate", "--noinput", "-v", "0"], env)
        for kind in ("customers", "orders"):
            rejects = csv_dir / f"{kind}.rejects.csv"
            run(
                f"import {kind}",
                [python, manage, "import_csv", "--kind", kind, str(csv_dir / f"{kind}.csv"),
                 "--rejects", str(rejects)],
                env,
            )  # fmt: skip
            if rejects.is_file() and rejects.stat().st_size:
                rows = len(rejects.read_text().splitlines()) - 1
                if rows > 0:
                    print(f"  {rows} {kind} rows rejected: see {rejects}")
        train = [
            python, manage, "churn_train", "--validation-cutoff", VALIDATION_CUTOFF,
            "--horizon-days", str(HORIZON_DAYS), "--json",
        ]  # fmt: skip
        output = run("churn_train", train, env, echo=False)
        report = json.loads(output[output.index("{") :])
        print_report(report)
        auc_met, brier_met = verdict(report)
        print(f"\nmachine: {machine()}")
        return 0 if auc_met and brier_met else 1
    finally:
        shutil.rmtree(csv_dir, ignore_errors=True)
        if args.keep:
            print(f"kept {where}")
        elif sqlite_dir is not None:
            shutil.rmtree(sqlite_dir, ignore_errors=True)
        else:
            drop_database(server_url, args.database)


if __name__ == "__main__":
    sys.exit(main())

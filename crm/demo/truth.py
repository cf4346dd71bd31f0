"""The demo's hidden ground truth: a CSV file, never a database table.

The product's features must not be able to read what the simulation knows (who really
stopped, why, and their latent traits), so it lives in a file at
`settings.CRM_DEMO_TRUTH_PATH` (or `--truth-file`), one row per customer. Tests and
benchmarks read it with `read_truth()` to check what a model found against what is true.

Columns:
    external_id: the customer's external id ("CUST-000001").
    churn_propensity: the true probability of stopping within 60 days after the end
        date, from the hidden model; 1.0 for customers who already stopped.
    churned: 1 if the customer stopped during the simulation.
    churned_at: when they stopped (ISO 8601, UTC), empty if they did not.
    main_causes: semicolon-separated from crm.demo.world.CAUSES, largest first: the terms
        of the hazard that raised it most when they stopped (or, for those still active,
        at the end date). Empty when nothing stood out.
    price_sensitivity, service_sensitivity: latent traits in 0..1, for intervention effects.
    dissatisfaction_quality, dissatisfaction_price: latent, standard-normal scale.
    order_rate: expected orders per active week; engagement: standardised browsing rate.
    texts_negative, texts_mixed, texts_neutral, texts_positive: how many of the customer's
        texts (reviews and their own ticket messages) the generator wrote in each tone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from crm.demo import world as w

COLUMNS = (
    "external_id",
    "churn_propensity",
    "churned",
    "churned_at",
    "main_causes",
    "price_sensitivity",
    "service_sensitivity",
    "dissatisfaction_quality",
    "dissatisfaction_price",
    "order_rate",
    "engagement",
    "texts_negative",
    "texts_mixed",
    "texts_neutral",
    "texts_positive",
)


def truth_frame(world: w.World, external_ids: list[str]) -> pd.DataFrame:
    """One row per simulated customer, in the order of `external_ids`."""
    customers = world.customers
    n = len(external_ids)
    churned_at = pd.Series(
        [
            world.to_datetime(day).isoformat(timespec="seconds") if not np.isnan(day) else ""
            for day in customers["churn_day"]
        ]
    )
    # Tone counts over every text the customer wrote: reviews and their own messages.
    own = world.messages["role"] < w.M_AGENT_REPLY
    authors = np.concatenate(
        [world.reviews["cust"], world.tickets["cust"][world.messages["ticket"][own]]]
    )
    tones = np.concatenate([world.reviews["tone"], world.messages["tone"][own]])
    counts = {
        f"texts_{name}": np.bincount(authors[tones == index], minlength=n)
        for index, name in enumerate(w.TONES)
    }
    traits = world.traits
    return pd.DataFrame(
        {
            "external_id": external_ids,
            "churn_propensity": np.round(customers["propensity"], 4),
            "churned": customers["churned"].astype(int),
            "churned_at": churned_at,
            "main_causes": world.causes,
            "price_sensitivity": np.round(traits.price_sensitivity, 4),
            "service_sensitivity": np.round(traits.service_sensitivity, 4),
            "dissatisfaction_quality": np.round(traits.dissatisfaction_quality, 4),
            "dissatisfaction_price": np.round(traits.dissatisfaction_price, 4),
            "order_rate": np.round(traits.order_rate, 4),
            "engagement": np.round(traits.engagement, 4),
            **counts,
        },
        columns=list(COLUMNS),
    )


def write_truth(frame: pd.DataFrame, path: Path, *, append: bool = False) -> None:
    """Write the truth atomically (`*.part`, then rename); `append` keeps existing rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if append and path.exists():
        existing = read_truth(path)
        existing["churned_at"] = existing["churned_at"].map(
            lambda value: "" if pd.isna(value) else value.isoformat(timespec="seconds")
        )
        frame = pd.concat([existing[list(COLUMNS)], frame], ignore_index=True)
        frame = frame.drop_duplicates("external_id", keep="last")
    part = path.with_name(path.name + ".part")
    frame.to_csv(part, index=False, lineterminator="\n")
    os.replace(part, path)


def read_truth(path: Path | str) -> pd.DataFrame:
    """Read a truth file: `churned` as int, `churned_at` as UTC timestamps (NaT if active)."""
    frame = pd.read_csv(path, dtype={"external_id": str, "main_causes": str}, keep_default_na=False)
    frame["churned"] = frame["churned"].astype(int)
    frame["churned_at"] = pd.to_datetime(frame["churned_at"].replace("", None), utc=True)
    return frame

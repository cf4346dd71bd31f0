"""Named customer segments: k-means on standardised value and behaviour features.

Refit at every batch scoring (the segments follow the population), stored on the run
(scaler, centroids, names) so an incremental re-score assigns the nearest centroid of the
latest run. Customers who never ordered are a segment of their own, not clustered: they
have no value or purchase rhythm to compare. Names come from each centroid's position:
spend and order count give the kind of buyer, recency and tenure whether they are
loyal, new or lapsing ("loyal high spenders", "lapsing bargain hunters"...).
"""

from __future__ import annotations

from typing import Any

FEATURES = ("spend_365d", "orders_365d", "avg_order_value", "recency_days", "tenure_days",
            "visit_30d")  # fmt: skip
NO_ORDER = "browsers, no order yet"


def _transform(X: Any) -> Any:
    import numpy as np

    values = X[list(FEATURES)].astype(float).replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return np.sign(values) * np.log1p(values.abs())


def _name(z: dict[str, float]) -> str:
    if z["spend_365d"] > 0.5:
        kind = "high spenders"
    elif z["avg_order_value"] < -0.5:
        kind = "bargain hunters"
    elif z["orders_365d"] > 0.5:
        kind = "frequent buyers"
    else:
        kind = "occasional buyers"
    if z["recency_days"] > 0.6:
        stage = "lapsing"
    elif z["tenure_days"] < -0.8:
        stage = "new"
    elif z["spend_365d"] > 0.5 or z["orders_365d"] > 0.5:
        stage = "loyal"
    else:
        stage = "steady"
    return f"{stage} {kind}"


def fit(X: Any, k: int) -> dict[str, Any]:
    """Cluster the customers who ordered; return the JSON-able model (scaler, centroids,
    names, sizes)."""
    import numpy as np
    from sklearn.cluster import KMeans

    buyers = X[X["orders_total"] > 0]
    if len(buyers) < k:
        return {}
    values = _transform(buyers).to_numpy()
    mean, std = values.mean(axis=0), values.std(axis=0)
    std[std == 0] = 1.0
    scaled = (values - mean) / std
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=0).fit(scaled)
    names: list[str] = []
    for centroid in kmeans.cluster_centers_:
        name = _name(dict(zip(FEATURES, centroid, strict=True)))
        while name in names:  # two clusters alike: keep them apart, honestly numbered
            name = f"{name} ({sum(n.startswith(name) for n in names) + 1})"
        names.append(name)
    sizes = np.bincount(kmeans.labels_, minlength=k)
    return {
        "features": list(FEATURES),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "centroids": kmeans.cluster_centers_.tolist(),
        "names": names,
        "sizes": {n: int(s) for n, s in zip(names, sizes, strict=True)}
        | {NO_ORDER: int((X["orders_total"] <= 0).sum())},
    }


def assign(X: Any, model: dict[str, Any]) -> list[str]:
    """The segment name of each row: nearest centroid, or NO_ORDER; "" with no model."""
    import numpy as np

    if not model:
        return ["" for _ in range(len(X))]
    scaled = (_transform(X).to_numpy() - np.array(model["mean"])) / np.array(model["std"])
    centroids = np.array(model["centroids"])
    nearest = ((scaled[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    names = np.array(model["names"], dtype=object)[nearest]
    names[X["orders_total"].to_numpy() <= 0] = NO_ORDER
    return list(names)

"""The hidden world behind the demo shop: who signs up, buys, complains and leaves, and why.

`simulate()` steps through 78 weeks, vectorised over all customers with numpy, and returns
every observable fact (orders, browsing events, reviews, tickets and their messages) as
tables of numpy arrays, plus the hidden ground truth: latent traits, when each customer
stopped, their true 60-day churn probability at the end date and its main causes.

The churn process (`ChurnModel`) is a weekly hazard on the logit scale. It depends on
recency, frequency and value, and on bad experiences: late deliveries, returns, tickets
left unresolved and the tone of what the customer wrote. A latent dissatisfaction with
product quality and with price raises the hazard too and shows mostly in the tone of the
customer's reviews and messages, so text carries signal the behavioural facts do not.

Time is measured in float days since `World.start` (midnight UTC, 78 weeks before the day
after the end date), so every fact lies within the end date. Effects of an experience
(a late parcel, a negative review) reach the hazard from the start of the following week.
Nothing here touches the database; `crm.demo.writer` stores the observable part.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

import numpy as np

WEEKS = 78  # 18 months
HOUR = 1.0 / 24
MINUTE = HOUR / 60
# 60 days ahead = 8 full weeks and 4/7 of a ninth: the horizon of `churn_propensity`.
PROPENSITY_DAYS = 60
PROJECTION_WEEKS = 9
PROJECTION_REPLICATES = 24
# Effects that fall after the end date are still scheduled, for the projection.
EXTRA_WEEKS = PROJECTION_WEEKS + 1
FADE_WEEKS = 3.0  # a churned customer's browsing decays with this time constant

TOPICS = ("delivery", "price", "quality", "sizing", "service", "refund", "website")
TONES = ("negative", "mixed", "neutral", "positive")
T_DELIVERY, T_PRICE, T_QUALITY, T_SIZING, T_SERVICE, T_REFUND, T_WEBSITE = range(7)
NEGATIVE, MIXED, NEUTRAL, POSITIVE = range(4)
# How much a text of each tone adds to the customer's "negative experience text" score.
TONE_WEIGHT = np.array([1.0, 0.5, 0.0, -0.3], dtype=np.float32)

EVENT_KINDS = ("visit", "product_view", "add_to_cart", "search", "wishlist", "login")
E_VISIT, E_VIEW, E_CART, E_SEARCH, E_WISHLIST, E_LOGIN = range(6)

ORDER_STATUSES = ("placed", "delivered", "returned", "cancelled")
S_PLACED, S_DELIVERED, S_RETURNED, S_CANCELLED = range(4)

TICKET_STATUSES = ("open", "pending", "solved", "closed")
TK_OPEN, TK_PENDING, TK_SOLVED, TK_CLOSED = range(4)
CHANNELS = ("email", "chat", "phone", "web")

# Ticket message roles: who wrote it and at which step of the conversation.
MESSAGE_ROLES = (
    "opening",  # customer
    "followup",  # customer, the ticket is dragging on
    "thanks",  # customer, after it was solved
    "reopen",  # customer, it was not really solved
    "agent_reply",
    "agent_followup",
    "agent_solved",
    "agent_reopen",
)
M_OPENING, M_FOLLOWUP, M_THANKS, M_REOPEN = range(4)
M_AGENT_REPLY, M_AGENT_FOLLOWUP, M_AGENT_SOLVED, M_AGENT_REOPEN = range(4, 8)

COUNTRIES = ("DE", "FR", "NL", "AT", "BE", "IT", "ES", "PL", "IE", "DK", "SE")
COUNTRY_WEIGHTS = (0.34, 0.14, 0.1, 0.07, 0.06, 0.08, 0.07, 0.05, 0.03, 0.03, 0.03)
# Share of parcels a carrier delivers late, by destination country (before seasonality).
COUNTRY_LATE_RATE = (0.07, 0.1, 0.07, 0.08, 0.08, 0.15, 0.13, 0.14, 0.11, 0.09, 0.1)

CAUSES = (
    "inactivity",
    "few_orders",
    "low_order_value",
    "late_delivery",
    "returns",
    "unresolved_ticket",
    "negative_experience_text",
    "product_quality",
    "price",
    "low_engagement",
)
# A term of the hazard counts as a main cause when it adds at least this much to the
# logit (x1.4 on the odds); at most three causes are listed, largest first.
CAUSE_THRESHOLD = 0.35
MAX_CAUSES = 3


@dataclass(frozen=True)
class ChurnModel:
    """Coefficients of the hidden weekly churn hazard, on the logit scale.

    logit(h) = intercept + the sum of one term per cause (see `hazard_terms`). Each term is
    zero for a reference customer: ordered within 4 weeks, 5 orders, EUR 55 average
    order, no bad experiences, average latent traits and browsing. `decay` is the weekly
    decay of the late-delivery, return and text scores (a half-life of about 6.6 weeks).
    """

    intercept: float = -5.4
    inactivity: float = 0.07  # per week since the last order beyond 4 (capped at 26)
    few_orders: float = 0.35  # per unit of log1p(orders) below log1p(5)
    low_order_value: float = 0.25  # per unit of log(average order / EUR 55) below zero
    late_delivery: float = 0.8  # per unit of late score, times (0.5 + service sensitivity)
    returns: float = 0.35  # per unit of return score
    unresolved_ticket: float = 1.1  # per unresolved ticket (cap 2), x (0.5 + service sens.)
    negative_experience_text: float = 1.0  # per unit of text score (neg +1, mixed +0.5, pos -0.3)
    product_quality: float = 1.0  # per SD of latent dissatisfaction with quality
    price: float = 0.8  # per SD of latent price dissatisfaction, x (0.5 + price sensitivity)
    low_engagement: float = 0.3  # per SD of (log) browsing rate below the mean
    decay: float = 0.9


CHURN_MODEL = ChurnModel()


@dataclass
class HazardState:
    """What the hazard reads at the start of a week, one entry per customer."""

    weeks_since_order: np.ndarray
    n_orders: np.ndarray
    value_sum: np.ndarray
    late_score: np.ndarray
    return_score: np.ndarray
    text_score: np.ndarray
    unresolved: np.ndarray

    def copy(self) -> HazardState:
        return HazardState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


@dataclass
class Traits:
    """Latent, per-customer traits: never stored in the database, only in the truth file."""

    order_rate: np.ndarray  # expected orders per active week
    basket: np.ndarray  # typical order value, EUR
    browse_rate: np.ndarray  # browsing sessions per active week
    engagement: np.ndarray  # standardised log browse rate
    price_sensitivity: np.ndarray  # 0..1: reacts to prices and coupons
    service_sensitivity: np.ndarray  # 0..1: how much bad service hurts
    dissatisfaction_quality: np.ndarray  # standard normal; > 0 is unhappy with quality
    dissatisfaction_price: np.ndarray  # standard normal; > 0 is unhappy with prices
    review_propensity: np.ndarray  # chance of reviewing a delivered order
    return_propensity: np.ndarray  # chance of returning a delivered order
    late_rate: np.ndarray  # chance that a parcel to this customer is late


def hazard_terms(
    state: HazardState, traits: Traits, model: ChurnModel = CHURN_MODEL
) -> dict[str, np.ndarray]:
    """Each cause's contribution to the weekly churn logit (zero for the reference customer)."""
    avg_value = np.where(state.n_orders > 0, state.value_sum / np.maximum(state.n_orders, 1), 55)
    service = 0.5 + traits.service_sensitivity
    return {
        "inactivity": model.inactivity * (np.minimum(state.weeks_since_order, 26) - 4),
        "few_orders": -model.few_orders * (np.log1p(state.n_orders) - np.log1p(5)),
        "low_order_value": -model.low_order_value * np.log(avg_value / 55),
        "late_delivery": model.late_delivery * service * state.late_score,
        "returns": model.returns * state.return_score,
        "unresolved_ticket": model.unresolved_ticket * service * np.minimum(state.unresolved, 2),
        "negative_experience_text": model.negative_experience_text * state.text_score,
        "product_quality": model.product_quality * traits.dissatisfaction_quality,
        "price": model.price * (0.5 + traits.price_sensitivity) * traits.dissatisfaction_price,
        "low_engagement": -model.low_engagement * traits.engagement,
    }


def hazard(state: HazardState, traits: Traits, model: ChurnModel = CHURN_MODEL) -> np.ndarray:
    """The weekly probability of stopping, per customer."""
    logit = model.intercept + sum(hazard_terms(state, traits, model).values())
    return 1.0 / (1.0 + np.exp(-logit))


def main_causes(terms: dict[str, np.ndarray]) -> list[str]:
    """Semicolon-joined names of the terms adding most to the logit, per customer."""
    matrix = np.stack([terms[name] for name in CAUSES], axis=1)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :MAX_CAUSES]
    result = []
    for row, ranked in zip(matrix, order, strict=True):
        result.append(";".join(CAUSES[k] for k in ranked if row[k] >= CAUSE_THRESHOLD))
    return result


@dataclass
class Catalogue:
    """The shop's products, sorted by category."""

    category: np.ndarray  # category index per product
    price: np.ndarray  # EUR
    adjective: np.ndarray  # indexes into crm.demo.catalogue word lists
    material: np.ndarray
    colour: np.ndarray
    category_start: np.ndarray  # first product of each category
    category_count: np.ndarray


@dataclass
class World:
    """Everything simulated. Tables are dicts of equal-length numpy arrays.

    customers: signup, country, name_first, name_last, phone, consent, cat_a, cat_b,
        churned, churn_day (nan if still active), propensity (plus `traits`, `causes`)
    orders: cust, placed, promised (whole day), delivered (nan: not yet or cancelled),
        cancelled, status, total, items, coupon (-1: none), product, late_days, return_day,
        returned_at / cancelled_at (the day of a returned / cancelled order's return or
        cancellation; nan for other orders)
    reviews: cust, order (row in orders), product, day, topic, tone, rating
    tickets: cust, order (-1: none), topic, opened, solved (first time), reopen_day
        (nan: never; a ticket is reopened at most once), final (inf: never), status,
        solved_at (nan: unresolved at the end), reopened (reopen_day before the end: 0/1),
        channel, priority, agent, late_days, first_tone
    messages: ticket (row in tickets), day, role, tone (-1 for agents)
    events: cust, kind, at (whole seconds since start), product (-1: none), variant
    Rows are sorted by customer, then time (messages: by ticket, then time).
    """

    start: datetime
    end_date: date
    seed: int
    catalogue: Catalogue
    traits: Traits
    customers: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    reviews: dict[str, np.ndarray]
    tickets: dict[str, np.ndarray]
    messages: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    causes: list[str]

    @property
    def horizon(self) -> float:
        """The end of the end date, in days since start: every fact lies before it."""
        return WEEKS * 7.0

    def to_datetime(self, days: float) -> datetime:
        return self.start + timedelta(days=float(days))


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, stream]))


def _season(start: datetime, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per week: order-rate multiplier, late-delivery multiplier, Black Friday flag."""
    order_mult = np.ones(weeks)
    late_mult = np.ones(weeks)
    black_friday = np.zeros(weeks, dtype=bool)
    month_factor = {1: 0.9, 2: 0.85, 3: 1.0, 4: 1.0, 5: 1.05, 6: 1.0, 7: 0.9, 8: 0.9,
                    9: 1.0, 10: 1.05, 11: 1.3, 12: 1.25}  # fmt: skip
    for week in range(weeks):
        middle = start + timedelta(days=7 * week + 3.5)
        order_mult[week] = month_factor[middle.month]
        if middle.month in (11, 12):
            late_mult[week] = 1.7  # carriers are overloaded before Christmas
        # Black Friday: the day after the fourth Thursday of November.
        nov1 = date(middle.year, 11, 1)
        thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7 + 21)
        friday = datetime(thursday.year, 11, thursday.day, tzinfo=UTC) + timedelta(days=1)
        if abs((middle - friday).total_seconds()) <= 3.5 * 86400:
            order_mult[week] = 1.9
            black_friday[week] = True
    return order_mult, late_mult, black_friday


_HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 4, 4,
                          4.5, 4.5, 4, 4, 4.5, 5, 6, 7, 7.5, 7, 5, 2.5])  # fmt: skip


def _hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times of day (in days) when people shop: a morning bump and an evening peak."""
    hours = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    return (hours + rng.random(n)) / 24


def _catalogue(rng: np.random.Generator) -> Catalogue:
    from crm.demo import catalogue as words

    categories, prices, adjectives, materials, colours = [], [], [], [], []
    for index, (_, base_price, _sized, allowed_materials) in enumerate(words.CATEGORIES):
        count = int(rng.integers(14, 30))
        categories.append(np.full(count, index))
        prices.append(np.round(base_price * rng.lognormal(0, 0.25, count)) - 0.05)
        adjectives.append(rng.integers(0, len(words.ADJECTIVES), count))
        materials.append(rng.choice(allowed_materials, count))
        colours.append(rng.integers(0, len(words.COLOURS), count))
    category = np.concatenate(categories)
    counts = np.bincount(category)
    return Catalogue(
        category=category,
        price=np.maximum(np.concatenate(prices), 4.95),
        adjective=np.concatenate(adjectives),
        material=np.concatenate(materials),
        colour=np.concatenate(colours),
        category_start=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        category_count=counts,
    )


def _traits(rng: np.random.Generator, n: int, country: np.ndarray) -> Traits:
    browse_rate = rng.lognormal(np.log(0.16), 0.6, n)
    log_browse = np.log(browse_rate)
    price_sensitivity = rng.beta(2, 3, n)
    # Price-sensitive customers are more often unhappy with prices.
    ps_z = (price_sensitivity - 0.4) / 0.2
    dissatisfaction_price = (0.55 * ps_z + 0.83 * rng.standard_normal(n)) / 1.0
    late_rate = np.asarray(COUNTRY_LATE_RATE)[country] * rng.lognormal(0, 0.35, n)
    return Traits(
        order_rate=rng.lognormal(np.log(0.3), 0.45, n),
        basket=rng.lognormal(np.log(55), 0.4, n),
        browse_rate=browse_rate,
        engagement=(log_browse - np.log(0.16)) / 0.6,
        price_sensitivity=price_sensitivity,
        service_sensitivity=rng.beta(2, 2, n),
        dissatisfaction_quality=rng.standard_normal(n),
        dissatisfaction_price=dissatisfaction_price,
        review_propensity=rng.beta(2.5, 8, n),
        return_propensity=rng.beta(1.5, 11, n),
        late_rate=np.minimum(late_rate, 0.5),
    )


class _Schedule:
    """Per-week additions to the hazard state, for effects that land in a later week."""

    def __init__(self, weeks: int, n: int) -> None:
        self.weeks = weeks
        self.late = np.zeros((weeks, n), dtype=np.float32)
        self.returns = np.zeros((weeks, n), dtype=np.float32)
        self.text = np.zeros((weeks, n), dtype=np.float32)
        self.unresolved = np.zeros((weeks, n), dtype=np.int16)

    def add(self, table: np.ndarray, day: np.ndarray, cust: np.ndarray, value: object) -> None:
        week = np.floor(np.nan_to_num(day, nan=1e9) / 7).astype(np.int64)
        keep = (week >= 0) & (week < self.weeks)
        value = np.broadcast_to(np.asarray(value, dtype=table.dtype), week.shape)
        np.add.at(table, (week[keep], cust[keep]), value[keep])

    def span(self, start: np.ndarray, end: np.ndarray, cust: np.ndarray) -> None:
        """Count an unresolved ticket from day `start` until day `end` (inf: never solved)."""
        self.add(self.unresolved, start, cust, 1)
        ends = np.isfinite(end)
        self.add(self.unresolved, end[ends], cust[ends], -1)


class _Tables:
    """Row batches appended week by week, concatenated at the end."""

    def __init__(self) -> None:
        self._parts: dict[str, list[dict[str, np.ndarray]]] = {}

    def append(self, name: str, **columns: np.ndarray) -> None:
        self._parts.setdefault(name, []).append(columns)

    def count(self, name: str) -> int:
        """Rows appended so far: the creation index of the next row."""
        return sum(len(next(iter(part.values()))) for part in self._parts.get(name, []))

    def table(self, name: str) -> dict[str, np.ndarray]:
        parts = self._parts.get(name, [])
        if not parts:
            return {}
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _tone(score: np.ndarray) -> np.ndarray:
    """The tone label of a latent text score: negative, mixed, neutral or positive."""
    return np.digitize(score, [-0.9, -0.15, 0.45]).astype(np.int8)


def _pick_products(
    rng: np.random.Generator, cat: Catalogue, cat_a: np.ndarray, cat_b: np.ndarray
) -> np.ndarray:
    """A product per row from one of the customer's two favourite categories, or any."""
    n = len(cat_a)
    category = np.where(rng.random(n) < 0.5, cat_a, cat_b)
    anything = rng.random(n) < 0.2
    category[anything] = rng.integers(0, len(cat.category_count), int(anything.sum()))
    offset = np.floor(rng.random(n) * cat.category_count[category]).astype(np.int64)
    return cat.category_start[category] + offset


def _topic_dissatisfaction(traits: Traits, cust: np.ndarray, topic: np.ndarray) -> np.ndarray:
    """How much the customer's latent dissatisfaction darkens a text on `topic`."""
    quality = traits.dissatisfaction_quality[cust]
    price = traits.dissatisfaction_price[cust]
    return np.select(
        [(topic == T_QUALITY) | (topic == T_SIZING), topic == T_PRICE],
        [quality, price],
        default=0.35 * (quality + price),
    )


def _review_topics(
    rng: np.random.Generator,
    traits: Traits,
    cust: np.ndarray,
    late: np.ndarray,
    returned: np.ndarray,
) -> np.ndarray:
    """What a review is mainly about: what went wrong, else what the customer cares about."""
    k = len(cust)
    quality = np.maximum(traits.dissatisfaction_quality[cust], 0)
    price = np.maximum(traits.dissatisfaction_price[cust], 0)
    weights = np.empty((k, len(TOPICS)))
    weights[:, T_DELIVERY] = 0.14 + 2.0 * late
    weights[:, T_PRICE] = 0.12 + 0.15 * price
    weights[:, T_QUALITY] = 0.32 + 0.15 * quality + 0.3 * returned
    weights[:, T_SIZING] = 0.22 + 0.5 * returned
    weights[:, T_SERVICE] = 0.05
    weights[:, T_REFUND] = 0.02 + 0.25 * returned
    weights[:, T_WEBSITE] = 0.05
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(k) * cumulative[:, -1]
    return (u[:, None] > cumulative).sum(axis=1).astype(np.int8)


# P(rating = 1..5 | tone): ratings follow the tone loosely (many a complaint comes with
# three or four stars for the product itself), so the text says more than the stars.
_RATING_P = np.cumsum(
    [
        [0.25, 0.25, 0.25, 0.2, 0.05],
        [0.05, 0.2, 0.35, 0.3, 0.1],
        [0.0, 0.05, 0.3, 0.45, 0.2],
        [0.0, 0.02, 0.08, 0.35, 0.55],
    ],
    axis=1,
)


def _ratings(rng: np.random.Generator, tone: np.ndarray) -> np.ndarray:
    u = rng.random(len(tone))
    return (1 + (u[:, None] > _RATING_P[tone]).sum(axis=1)).clip(1, 5).astype(np.int8)


def simulate(customers: int, seed: int, end_date: date) -> World:
    """Simulate the shop for `customers` customers over the 78 weeks ending on `end_date`.

    Deterministic for (customers, seed, end_date): every draw comes from numpy Generators
    seeded from `seed`, never from global random state.
    """
    from crm.demo import catalogue as words

    n = customers
    rng = _rng(seed, 0)
    start = datetime(end_date.year, end_date.month, end_date.day, tzinfo=UTC) + timedelta(
        days=1 - 7 * WEEKS
    )
    horizon = 7.0 * WEEKS
    order_season, late_season, black_friday = _season(start, WEEKS + EXTRA_WEEKS)
    cat = _catalogue(rng)
    n_categories = len(cat.category_count)

    # --- customers and their latent traits ---------------------------------------------------
    # A launch bump, then steady growth.
    week_weights = (1 + 1.5 * np.exp(-np.arange(WEEKS) / 5)) * np.exp(0.012 * np.arange(WEEKS))
    signup_week = rng.choice(WEEKS, size=n, p=week_weights / week_weights.sum())
    signup = signup_week * 7 + np.floor(rng.random(n) * 7) + _hours(rng, n)
    signup = np.sort(np.minimum(signup, horizon - MINUTE))  # external ids follow signup order
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    traits = _traits(rng, n, country)
    customer_table = {
        "signup": signup,
        "country": country,
        "name_first": rng.integers(0, len(words.FIRST_NAMES), n),
        "name_last": rng.integers(0, len(words.LAST_NAMES), n),
        "phone": rng.integers(1_000_000, 9_999_999, n),
        "consent": rng.random(n) < 0.62,
        "cat_a": rng.integers(0, n_categories, n),
        "cat_b": rng.integers(0, n_categories, n),
    }

    # --- the weekly loop ---------------------------------------------------------------------
    schedule = _Schedule(WEEKS + EXTRA_WEEKS, n)
    state = HazardState(
        weeks_since_order=np.zeros(n),
        n_orders=np.zeros(n),
        value_sum=np.zeros(n),
        late_score=np.zeros(n, dtype=np.float32),
        return_score=np.zeros(n, dtype=np.float32),
        text_score=np.zeros(n, dtype=np.float32),
        unresolved=np.zeros(n, dtype=np.int32),
    )
    last_order = signup.copy()
    churned = np.zeros(n, dtype=bool)
    churn_day = np.full(n, np.nan)
    churn_terms = {name: np.zeros(n) for name in CAUSES}
    out = _Tables()

    for week in range(WEEKS):
        day0, day1 = 7.0 * week, 7.0 * week + 7
        if week:
            _advance(state, schedule, week - 1)
        state.weeks_since_order = (day0 - last_order) / 7

        # Who stops this week: customers signed up before it who are still with us.
        eligible = (signup < day0) & ~churned
        terms = hazard_terms(state, traits)
        logit = CHURN_MODEL.intercept + sum(terms.values())
        stops = eligible & (rng.random(n) < 1 / (1 + np.exp(-logit)))
        churned |= stops
        churn_day[stops] = day0 + rng.random(int(stops.sum())) * 7
        for name in CAUSES:
            churn_terms[name][stops] = terms[name][stops]

        # --- orders --------------------------------------------------------------------------
        alive = (signup < day1) & ~churned
        window_start = np.maximum(signup, day0)
        exposure = np.where(signup < day1, (day1 - window_start) / 7, 0)
        lam = np.where(alive, traits.order_rate * order_season[week] * exposure, 0)
        counts = np.minimum(rng.poisson(lam), 3)
        cust = np.repeat(np.arange(n), counts)
        placed = window_start[cust] + rng.random(len(cust)) * (day1 - window_start[cust])
        # Most accounts are made at checkout: a first order minutes after signing up.
        newcomers = np.flatnonzero((signup >= day0) & (signup < day1) & (rng.random(n) < 0.78))
        first_placed = signup[newcomers] + rng.exponential(20 * MINUTE, len(newcomers))
        cust = np.concatenate([cust, newcomers])
        placed = np.concatenate([placed, first_placed])
        keep = placed < horizon
        cust, placed = cust[keep], placed[keep]
        if len(cust):
            _orders(
                rng, out, schedule, state, traits, cat, customer_table, cust, placed,
                late_mult=late_season[week], black_friday=bool(black_friday[week]),
            )  # fmt: skip
            np.maximum.at(last_order, cust, placed)

        # --- tickets out of the blue: website trouble, price questions, sizing advice --------
        asks = np.flatnonzero(alive & (rng.random(n) < 0.004 * exposure))
        if len(asks):
            opened = window_start[asks] + rng.random(len(asks)) * (day1 - window_start[asks])
            topic = rng.choice(
                [T_WEBSITE, T_PRICE, T_SIZING, T_SERVICE, T_DELIVERY],
                size=len(asks),
                p=[0.35, 0.2, 0.2, 0.15, 0.1],
            )
            none = np.full(len(asks), -1)
            _tickets(rng, out, schedule, traits, asks, none, topic, opened, none * 0)

        # --- browsing: sessions fade out after a customer stops ------------------------------
        since_stop = np.maximum(day0 - np.where(churned, churn_day, day0), 0)
        activity = exposure * np.where(churned, 0.8 * np.exp(-since_stop / (7 * FADE_WEEKS)), 1)
        sessions = rng.poisson(traits.browse_rate * activity)
        s_cust = np.repeat(np.arange(n), sessions)
        s_at = window_start[s_cust] + rng.random(len(s_cust)) * (day1 - window_start[s_cust])
        _browse_sessions(rng, out, cat, customer_table, s_cust, s_at)

    # --- the truth: a 60-day churn probability for those still here, and the causes ----------
    _advance(state, schedule, WEEKS - 1)
    state.weeks_since_order = (horizon - last_order) / 7
    end_terms = hazard_terms(state, traits)
    for name in CAUSES:
        churn_terms[name][~churned] = end_terms[name][~churned]
    propensity = np.ones(n)
    propensity[~churned] = _project(
        _rng(seed, 1), state, traits, schedule, order_season, late_season, ~churned
    )
    customer_table.update(churned=churned, churn_day=churn_day, propensity=propensity)

    # Cancellation times come from a stream of their own: the draws of every other fact
    # stay as they were before orders had them.
    orders, order_position = _finish_orders(out.table("orders"), horizon, _rng(seed, 2))
    _order_sessions(rng, out, customer_table, orders)
    reviews = _finish(out.table("reviews"), out.table("reviews")["day"] < horizon, "day")
    reviews["order"] = order_position[reviews["order"]]
    tickets, messages = _finish_tickets(out.table("tickets"), out.table("messages"), horizon)
    has_order = tickets["order"] >= 0
    tickets["order"][has_order] = order_position[tickets["order"][has_order]]
    return World(
        start=start,
        end_date=end_date,
        seed=seed,
        catalogue=cat,
        traits=traits,
        customers=customer_table,
        orders=orders,
        reviews=reviews,
        tickets=tickets,
        messages=messages,
        events=_finish_events(out.table("events"), horizon),
        causes=main_causes(churn_terms),
    )


def _advance(state: HazardState, schedule: _Schedule, week: int) -> None:
    """Decay the experience scores and add what happened during `week`."""
    decay = CHURN_MODEL.decay
    state.late_score = state.late_score * decay + schedule.late[week]
    state.return_score = state.return_score * decay + schedule.returns[week]
    state.text_score = state.text_score * decay + schedule.text[week]
    state.unresolved = state.unresolved + schedule.unresolved[week]


def _orders(
    rng: np.random.Generator,
    out: _Tables,
    schedule: _Schedule,
    state: HazardState,
    traits: Traits,
    cat: Catalogue,
    customers: dict[str, np.ndarray],
    cust: np.ndarray,
    placed: np.ndarray,
    *,
    late_mult: float,
    black_friday: bool,
) -> None:
    """Place a week's orders and schedule what follows: delivery, returns, reviews, tickets."""
    m = len(cust)
    index = np.arange(out.count("orders"), out.count("orders") + m)
    product = _pick_products(rng, cat, customers["cat_a"][cust], customers["cat_b"][cust])
    items = 1 + rng.poisson(0.6, m)
    extra = traits.basket[cust] * 0.55 * rng.lognormal(0, 0.3, m) * (items - 1)
    total = cat.price[product] + extra
    coupon_p = 0.04 + 0.3 * traits.price_sensitivity[cust] + (0.25 if black_friday else 0)
    coupon = np.where(rng.random(m) < coupon_p, rng.integers(0, 6, m), -1)
    if black_friday:
        coupon = np.where(coupon >= 0, 6, coupon)  # the Black Friday code
    discount = np.array([0.1, 0.1, 0.15, 0.15, 0.2, 0.1, 0.25])
    total = np.where(coupon >= 0, total * (1 - discount[np.maximum(coupon, 0)]), total)
    total = np.round(total + np.where(total < 50, 4.95, 0), 2)

    placed_day = np.floor(placed)
    promised = placed_day + rng.integers(2, 6, m)
    cancelled = rng.random(m) < 0.025
    late = ~cancelled & (rng.random(m) < traits.late_rate[cust] * late_mult)
    late_days = np.where(late, np.minimum(rng.geometric(0.33, m), 14), 0)
    on_time_day = np.maximum(promised - rng.integers(0, 3, m), placed_day + 1)
    delivered_day = np.where(late, promised + late_days, on_time_day)
    delivered = delivered_day + (8 + 12 * rng.random(m)) / 24
    delivered = np.where(cancelled, np.nan, np.maximum(delivered, placed + 2 * HOUR))
    returned = ~cancelled & (rng.random(m) < traits.return_propensity[cust] + 0.08 * late)
    return_day = np.where(returned, delivered + 2 + rng.exponential(4, m), np.nan)

    # The order itself moves the hazard state at once; what happens to it, a week later.
    np.add.at(state.n_orders, cust, 1)
    np.add.at(state.value_sum, cust, total)
    schedule.add(schedule.late, delivered[late], cust[late], 1 + 0.15 * late_days[late])
    schedule.add(schedule.returns, return_day[returned], cust[returned], 1)
    out.append(
        "orders", cust=cust, placed=placed, promised=promised, delivered=delivered,
        cancelled=cancelled, total=total, items=items, coupon=coupon, product=product,
        late_days=late_days, return_day=return_day, index=index,
    )  # fmt: skip

    # --- reviews: more likely after something went wrong --------------------------------------
    p_review = traits.review_propensity[cust] + 0.12 * late + 0.15 * returned
    writes = np.flatnonzero(~cancelled & (rng.random(m) < p_review))
    if len(writes):
        r_cust = cust[writes]
        base = np.where(returned[writes], return_day[writes], delivered[writes])
        day = base + 0.3 + rng.exponential(3, len(writes))
        topic = _review_topics(rng, traits, r_cust, late[writes], returned[writes])
        score = (
            0.85
            - _topic_dissatisfaction(traits, r_cust, topic)
            - np.where(topic == T_DELIVERY, 0.35 * late_days[writes], 0)
            - 0.9 * returned[writes]
            + 0.85 * rng.standard_normal(len(writes))
        )
        tone = _tone(score)
        schedule.add(schedule.text, day, r_cust, TONE_WEIGHT[tone])
        out.append(
            "reviews", cust=r_cust, order=index[writes], product=product[writes], day=day,
            topic=topic, tone=tone, rating=_ratings(rng, tone),
        )  # fmt: skip

    # --- tickets about this order: where is it, where is my refund, it broke ------------------
    p_ticket = (
        np.where(late, 0.1 + 0.3 * (late_days >= 2), 0)
        + 0.3 * returned
        + np.where(cancelled, 0.1, 0.012)
    )
    asks = np.flatnonzero(rng.random(m) < p_ticket)
    if len(asks):
        k = len(asks)
        other = rng.choice([T_QUALITY, T_SIZING, T_DELIVERY, T_REFUND], k, p=[0.4, 0.3, 0.2, 0.1])
        topic = np.where(late[asks], T_DELIVERY, np.where(returned[asks], T_REFUND, other))
        arrived = np.where(np.isnan(delivered[asks]), placed[asks], delivered[asks])
        after_delivery = arrived + rng.exponential(2, k)
        opened = np.select(
            [late[asks], returned[asks]],
            [
                promised[asks] + 1 + rng.random(k) * late_days[asks],
                return_day[asks] + 4 + rng.exponential(4, k),
            ],
            default=after_delivery,
        )
        _tickets(
            rng, out, schedule, traits, cust[asks], index[asks], topic, opened, late_days[asks]
        )


def _tickets(
    rng: np.random.Generator,
    out: _Tables,
    schedule: _Schedule,
    traits: Traits,
    cust: np.ndarray,
    order: np.ndarray,
    topic: np.ndarray,
    opened: np.ndarray,
    late_days: np.ndarray,
) -> None:
    """Open tickets and play out their conversations: replies, follow-ups, reopens."""
    k = len(cust)
    index = np.arange(out.count("tickets"), out.count("tickets") + k)
    dissatisfaction = _topic_dissatisfaction(traits, cust, topic)
    service = traits.service_sensitivity[cust]
    score = (
        -0.1
        - 0.8 * dissatisfaction
        - 0.25 * late_days
        - 0.4 * service
        - 0.3 * (topic == T_REFUND)
        + 0.8 * rng.standard_normal(k)
    )
    first_tone = _tone(score)

    # The first reply comes before any follow-up (which waits at least two days).
    reply = opened + 0.05 + np.minimum(rng.exponential(0.7, k), 1.8)
    solved = reply + rng.exponential(2.5, k) * np.where(topic == T_REFUND, 2, 1)
    solved[rng.random(k) < 0.04] = np.inf  # fell through the cracks
    reopens = np.isfinite(solved) & (rng.random(k) < 0.12)
    reopen_day = np.where(reopens, solved + 1 + rng.exponential(3, k), np.nan)
    final = np.where(reopens, reopen_day + 0.1 + rng.exponential(4, k), solved)
    final[reopens & (rng.random(k) < 0.25)] = np.inf
    first_end = np.where(reopens, solved, final)

    # The hazard counts a ticket as unresolved from three days after it was opened.
    grace = opened + 3
    slow = first_end > grace
    schedule.span(grace[slow], first_end[slow], cust[slow])
    schedule.span(reopen_day[reopens], final[reopens], cust[reopens])

    channel = rng.choice(len(CHANNELS), k, p=[0.45, 0.3, 0.1, 0.15])
    priority = np.select(
        [late_days >= 5, (first_tone == NEGATIVE) | (topic == T_REFUND), topic == T_WEBSITE],
        [4, 3, 1],
        default=2,
    )
    out.append(
        "tickets", cust=cust, order=order, topic=topic, opened=opened, solved=solved,
        reopen_day=reopen_day, final=final, channel=channel, priority=priority,
        agent=rng.integers(0, 8, k), late_days=late_days, first_tone=first_tone, index=index,
    )  # fmt: skip

    # --- the conversation ---------------------------------------------------------------------
    rows: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []  # (ticket, day, role, tone)
    everyone = np.arange(k)
    agent = np.full(k, -1, dtype=np.int8)
    rows.append((everyone, opened, M_OPENING, first_tone))
    rows.append((everyone, reply, M_AGENT_REPLY, agent))
    dragging = np.flatnonzero(first_end - opened > 3)
    followup = (
        opened[dragging]
        + 2
        + rng.random(len(dragging)) * np.minimum(2, first_end[dragging] - opened[dragging] - 2.01)
    )
    rows.append((dragging, followup, M_FOLLOWUP, _tone(score[dragging] - 0.9)))
    agent_followup = followup + np.minimum(
        0.02 + rng.exponential(0.4, len(dragging)), (first_end[dragging] - followup) / 2
    )
    rows.append((dragging, agent_followup, M_AGENT_FOLLOWUP, agent[dragging]))
    solved_once = np.flatnonzero(np.isfinite(solved))
    rows.append((solved_once, solved[solved_once], M_AGENT_SOLVED, agent[solved_once]))
    again = np.flatnonzero(reopens)
    rows.append((again, reopen_day[again], M_REOPEN, _tone(score[again] - 1.2)))
    agent_reopen = reopen_day[again] + np.minimum(
        0.02 + rng.exponential(0.8, len(again)), (final[again] - reopen_day[again]) / 2
    )
    rows.append((again, agent_reopen, M_AGENT_REOPEN, agent[again]))
    solved_again = again[np.isfinite(final[again])]
    rows.append((solved_again, final[solved_again], M_AGENT_SOLVED, agent[solved_again]))
    # Some say thanks once it is really over; the dissatisfied ones less warmly.
    over = np.flatnonzero(np.isfinite(final) & (rng.random(k) < 0.45))
    thanks_score = 1.0 - 0.5 * dissatisfaction[over] + 0.7 * rng.standard_normal(len(over))
    thanks_day = final[over] + 0.01 + rng.exponential(0.3, len(over))
    rows.append((over, thanks_day, M_THANKS, _tone(thanks_score)))

    for who, day, role, tone in rows:
        if role < M_AGENT_REPLY:
            schedule.add(schedule.text, day, cust[who], TONE_WEIGHT[tone])
        out.append(
            "messages", ticket=index[who], day=day, role=np.full(len(who), role, dtype=np.int8),
            tone=tone.astype(np.int8),
        )  # fmt: skip


def _browse_sessions(
    rng: np.random.Generator,
    out: _Tables,
    cat: Catalogue,
    customers: dict[str, np.ndarray],
    cust: np.ndarray,
    at: np.ndarray,
) -> None:
    """Browsing sessions: a visit or login, product views, maybe a search, cart or wishlist."""
    s = len(cust)
    if not s:
        return
    parts: list[tuple[np.ndarray, ...]] = []
    first_kind = np.where(rng.random(s) < 0.75, E_VISIT, E_LOGIN)
    parts.append((cust, first_kind, at, np.full(s, -1), rng.integers(0, 5, s)))
    views = 1 + rng.poisson(1.2, s)
    v_session = np.repeat(np.arange(s), views)
    v_cust = cust[v_session]
    v_product = _pick_products(rng, cat, customers["cat_a"][v_cust], customers["cat_b"][v_cust])
    v_at = at[v_session] + MINUTE * (0.3 + rng.exponential(4, len(v_session)))
    parts.append((v_cust, np.full(len(v_cust), E_VIEW), v_at, v_product, np.zeros(len(v_cust))))
    for kind, share, delay in ((E_SEARCH, 0.35, 0.2), (E_WISHLIST, 0.08, 6), (E_CART, 0.1, 8)):
        pick = np.flatnonzero(rng.random(s) < share)
        product = _pick_products(
            rng, cat, customers["cat_a"][cust[pick]], customers["cat_b"][cust[pick]]
        )
        when = at[pick] + MINUTE * (delay + rng.exponential(3, len(pick)))
        variant = rng.integers(0, 3, len(pick))
        parts.append((cust[pick], np.full(len(pick), kind), when, product, variant))
    for c, kinds, when, product, variant in parts:
        out.append(
            "events", cust=c.astype(np.int32), kind=kinds.astype(np.int8), at=when,
            product=product.astype(np.int32), variant=variant.astype(np.int8),
        )  # fmt: skip


def _order_sessions(
    rng: np.random.Generator,
    out: _Tables,
    customers: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
) -> None:
    """The browsing behind each order: arrive, look at the product, put it in the cart."""
    m = len(orders["cust"])
    cust = orders["cust"]
    placed = orders["placed"]
    # Squeeze the session between signup and checkout for orders made right after signing up.
    window = np.minimum(40 * MINUTE, placed - customers["signup"][cust])
    arrive = np.flatnonzero(rng.random(m) < 0.7)
    parts = [
        (arrive, np.where(rng.random(len(arrive)) < 0.6, E_VISIT, E_LOGIN),
         placed[arrive] - window[arrive] * rng.uniform(0.7, 1.0, len(arrive)), -1),
        (np.arange(m), np.full(m, E_VIEW), placed - window * rng.uniform(0.3, 0.7, m), 0),
        (np.arange(m), np.full(m, E_CART), placed - window * rng.uniform(0.02, 0.25, m), 0),
    ]  # fmt: skip
    for rows, kind, when, product in parts:
        out.append(
            "events", cust=cust[rows].astype(np.int32), kind=kind.astype(np.int8), at=when,
            product=(orders["product"][rows] if product == 0 else np.full(len(rows), -1)).astype(
                np.int32
            ),
            variant=rng.integers(0, 5, len(rows)).astype(np.int8),
        )  # fmt: skip


def _project(
    rng: np.random.Generator,
    state: HazardState,
    traits: Traits,
    schedule: _Schedule,
    order_season: np.ndarray,
    late_season: np.ndarray,
    mask: np.ndarray,
) -> np.ndarray:
    """P(stopping within 60 days) for the customers in `mask`, from the end state.

    Averages the survival probability over replicates of the next 9 weeks of ordering (which
    resets recency and risks new late parcels and returns); effects already scheduled (a
    review on its way, a ticket solved next week) play out as they would have.
    """
    idx = np.flatnonzero(mask)
    reps = PROJECTION_REPLICATES
    sub = HazardState(**{f.name: np.tile(getattr(state, f.name)[idx], reps) for f in fields(state)})
    sub_traits = Traits(
        **{f.name: np.tile(getattr(traits, f.name)[idx], reps) for f in fields(traits)}
    )
    cust = np.tile(idx, reps)
    survival = np.ones(len(cust))
    decay = CHURN_MODEL.decay
    for step in range(PROJECTION_WEEKS):
        week = WEEKS + step
        fraction = min(1.0, (PROPENSITY_DAYS - 7 * step) / 7)
        survival *= (1 - hazard(sub, sub_traits)) ** fraction
        ordered = rng.poisson(sub_traits.order_rate * order_season[week])
        late = rng.binomial(ordered, np.minimum(sub_traits.late_rate * late_season[week], 1))
        returned = rng.binomial(ordered, sub_traits.return_propensity)
        sub.n_orders = sub.n_orders + ordered
        sub.value_sum = sub.value_sum + ordered * sub_traits.basket
        sub.weeks_since_order = np.where(
            ordered > 0, rng.random(len(cust)), sub.weeks_since_order + 1
        )
        sub.late_score = sub.late_score * decay + schedule.late[week][cust] + 1.45 * late
        sub.return_score = sub.return_score * decay + schedule.returns[week][cust] + returned
        sub.text_score = sub.text_score * decay + schedule.text[week][cust]
        sub.unresolved = sub.unresolved + schedule.unresolved[week][cust]
    return 1 - survival.reshape(reps, len(idx)).mean(axis=0)


def _finish(table: dict[str, np.ndarray], keep: np.ndarray, time: str, by: str = "cust") -> dict:
    """Keep the rows in `keep`, sorted by `by`, then `time`."""
    table = {key: value[keep] for key, value in table.items()}
    order = np.lexsort((table[time], table[by]))
    return {key: value[order] for key, value in table.items()}


def _finish_orders(
    orders: dict[str, np.ndarray], horizon: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Order status as of the end date, with the time a returned or cancelled order became
    so; returns the table and creation index -> row."""
    orders = _finish(orders, np.ones(len(orders["cust"]), dtype=bool), "placed")
    position = np.empty(len(orders["index"]), dtype=np.int64)
    position[orders["index"]] = np.arange(len(position))
    in_transit = ~orders["cancelled"] & (orders["delivered"] >= horizon)
    orders["delivered"] = np.where(in_transit, np.nan, orders["delivered"])
    returned = orders["return_day"] < horizon
    orders["status"] = np.select(
        [orders["cancelled"], in_transit, returned], [S_CANCELLED, S_PLACED, S_RETURNED],
        default=S_DELIVERED,
    ).astype(np.int8)  # fmt: skip
    status = orders["status"]
    placed = orders["placed"]
    orders["returned_at"] = np.where(status == S_RETURNED, orders["return_day"], np.nan)
    # Cancelled before dispatch: minutes to a day or two after checkout, within the period.
    delay = 5 * MINUTE + rng.exponential(0.5, len(placed))
    orders["cancelled_at"] = np.where(
        status == S_CANCELLED, placed + np.minimum(delay, (horizon - placed) / 2), np.nan
    )
    return orders, position


def _finish_tickets(
    tickets: dict[str, np.ndarray], messages: dict[str, np.ndarray], horizon: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Ticket status as of the end date, and the messages written by then."""
    kept = tickets["opened"] < horizon
    tickets = _finish(tickets, kept, "opened")
    position = np.full(len(kept), -1, dtype=np.int64)
    position[tickets["index"]] = np.arange(len(tickets["index"]))
    messages = {key: value.copy() for key, value in messages.items()}
    messages["ticket"] = position[messages["ticket"]]
    messages = _finish(messages, (messages["ticket"] >= 0) & (messages["day"] < horizon), "day",
                       by="ticket")  # fmt: skip

    reopened = tickets["reopen_day"] < horizon
    closed_at = np.where(reopened, tickets["final"], tickets["solved"])
    is_solved = closed_at < horizon
    # Unresolved: waiting on us (open) or on the customer (pending, an agent wrote last).
    last = np.full(len(tickets["opened"]), M_OPENING)
    np.put(last, messages["ticket"], messages["role"])  # rows are sorted: the last write wins
    status = np.select(
        [is_solved & (horizon - closed_at > 7), is_solved, last >= M_AGENT_REPLY],
        [TK_CLOSED, TK_SOLVED, TK_PENDING],
        default=TK_OPEN,
    )
    tickets["status"] = status.astype(np.int8)
    tickets["solved_at"] = np.where(is_solved, closed_at, np.nan)
    tickets["reopened"] = reopened.astype(np.int8)
    return tickets, messages


def _finish_events(events: dict[str, np.ndarray], horizon: float) -> dict[str, np.ndarray]:
    """Whole-second times, nothing after the end date, and one event per natural key."""
    seconds = np.floor(events["at"] * 86400).astype(np.int64)
    keep = (seconds >= 0) & (seconds < horizon * 86400)
    events = {key: value[keep] for key, value in events.items() if key != "at"}
    events["at"] = seconds[keep].astype(np.int32)
    order = np.lexsort((events["kind"], events["at"], events["cust"]))
    events = {key: value[order] for key, value in events.items()}
    same = (
        (np.diff(events["cust"]) == 0)
        & (np.diff(events["at"]) == 0)
        & (np.diff(events["kind"]) == 0)
    )
    unique = np.concatenate([[True], ~same])
    return {key: value[unique] for key, value in events.items()}

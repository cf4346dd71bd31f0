"""Store a simulated world in the CRM tables, a chunk of customers at a time.

Rows go in as multi-row `INSERT ... RETURNING id` statements through the connection's
cursor (`_Inserter`): what `bulk_create` does on SQLite and PostgreSQL, without building a
model instance per row or logging every statement when DEBUG is on, which at 100,000
customers (millions of rows) is the difference between minutes and a quarter of an hour.
Every value is adapted by the backend's own operations, and fields the generator does not
name get their model default, so the same code serves both databases and new fields.

Each chunk of customers is one transaction; its review and customer-message texts get their
CustomerText rows (crm.texts) and are announced to the sentiment pipeline when it commits.
Memory stays bounded by the chunk.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from crm.demo import catalogue as words
from crm.demo import texts
from crm.demo import world as w
from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage, TicketReopening
from crm.texts import announce_texts, sync_message_texts, sync_review_texts

CHUNK_CUSTOMERS = 4000
# SQLite builds may allow as few as 999 parameters per statement; stay under that.
MAX_PARAMS = 999
MAX_ROWS_PER_STATEMENT = 250
PREFIXES = {"customer": "CUST-", "order": "ORD-", "review": "REV-", "ticket": "TCK-",
            "message": "MSG-"}  # fmt: skip
WIDTHS = {"customer": 6, "order": 7, "review": 7, "ticket": 7, "message": 8}
_MODELS = {"customer": Customer, "order": Order, "review": Review, "ticket": Ticket,
           "message": TicketMessage}  # fmt: skip
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                 "nine", "ten")  # fmt: skip


@dataclass(frozen=True)
class IdOffsets:
    """The highest external-id number already used per record type (0 on an empty shop)."""

    customer: int = 0
    order: int = 0
    review: int = 0
    ticket: int = 0
    message: int = 0

    @classmethod
    def from_database(cls) -> IdOffsets:
        """Read the offsets so that appended records continue the numbering."""
        return cls(**{kind: _max_number(model, PREFIXES[kind]) for kind, model in _MODELS.items()})

    def external_id(self, kind: str, row: int) -> str:
        number = getattr(self, kind) + row + 1
        return f"{PREFIXES[kind]}{number:0{WIDTHS[kind]}d}"


def _max_number(model: type[Model], prefix: str) -> int:
    ids = model._default_manager.filter(external_id__startswith=prefix).values_list(
        "external_id", flat=True
    )
    suffixes = (value[len(prefix) :] for value in ids.iterator(chunk_size=10_000))
    return max((int(suffix) for suffix in suffixes if suffix.isdigit()), default=0)


def ensure_agents() -> list[int]:
    """The demo's support agents as user accounts that cannot log in; returns their ids."""
    user_model = get_user_model()
    ids = []
    for name in words.AGENTS:
        user, created = user_model.objects.get_or_create(
            username=f"demo-agent-{name.lower()}",
            defaults={"first_name": name, "last_name": "(demo agent)",
                      "email": f"{name.lower()}@support.example.com"},
        )  # fmt: skip
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        ids.append(user.pk)
    return ids


def write_world(
    world: w.World,
    *,
    offsets: IdOffsets,
    announce: bool = True,
    progress: Callable[[int, int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, int]:
    """Insert every observable record of `world`; returns the number of rows per table.

    Texts are announced (crm.texts.announce_texts) after each chunk commits unless
    `announce` is false; the sentiment sweeper finds unannounced texts later anyway.
    `timings`, if given, receives the seconds spent per step ("write_events", ...).
    """
    writer = _Writer(world, offsets, ensure_agents(), announce)
    n = len(world.customers["signup"])
    for first in range(0, n, CHUNK_CUSTOMERS):
        last = min(first + CHUNK_CUSTOMERS, n)
        with transaction.atomic():
            writer.write_chunk(first, last)
        if progress:
            progress(last, n)
    if timings is not None:
        timings.update({f"write_{step}": sec for step, sec in writer.seconds.items()})
    return writer.counts


def _range(sorted_keys: np.ndarray, first: int, last: int) -> tuple[int, int]:
    lo, hi = np.searchsorted(sorted_keys, [first, last])
    return int(lo), int(hi)


class _Writer:
    def __init__(self, world: w.World, offsets: IdOffsets, agents: list[int], announce: bool):
        self.world = world
        self.offsets = offsets
        self.agents = agents
        self.announce = announce
        self.start = world.start
        self.start_stamp = np.datetime64(world.start.replace(tzinfo=None), "s")
        probe = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        self.text_datetimes = (
            connection.ops.adapt_datetimefield_value(probe) == "2024-01-02 03:04:05"
        )
        self.start_date = world.start.date()
        self.order_pk = np.zeros(len(world.orders["cust"]), dtype=np.int64)
        self.ticket_pk = np.zeros(len(world.tickets["cust"]), dtype=np.int64)
        self.customer_pk = np.zeros(len(world.customers["signup"]), dtype=np.int64)
        self.counts = dict.fromkeys(
            ("customers", "orders", "events", "reviews", "tickets", "ticket_reopenings",
             "ticket_messages", "customer_texts"), 0,
        )  # fmt: skip
        # Separate text streams, so chunking does not change which text goes where.
        self.review_rng = random.Random(f"demo-reviews-{world.seed}")
        self.ticket_rng = random.Random(f"demo-tickets-{world.seed}")
        self.people_rng = random.Random(f"demo-people-{world.seed}")
        self._payloads: dict[tuple[int, int, int], object] = {}
        self.seconds: dict[str, float] = {}  # time per step, for the benchmark
        self.copy_text = use_copy()
        self.insert = {
            "customers": _Inserter(Customer, ("external_id", "name", "email", "phone", "country",
                                              "signed_up_at", "marketing_consent")),
            "orders": _Inserter(Order, ("external_id", "customer_id", "placed_at", "total",
                                        "currency", "item_count", "status", "delivered_at",
                                        "returned_at", "cancelled_at",
                                        "promised_delivery_date", "coupon_code")),
            "events": _Inserter(Event, ("customer_id", "kind", "occurred_at", "payload"),
                                returning=False),
            "reviews": _Inserter(Review, ("external_id", "customer_id", "order_id", "product_ref",
                                          "rating", "title", "body", "created_at")),
            "tickets": _Inserter(Ticket, ("external_id", "customer_id", "subject", "channel",
                                          "status", "priority", "opened_at", "solved_at",
                                          "reopened_count", "assigned_agent_id")),
            "messages": _Inserter(TicketMessage, ("external_id", "ticket_id", "author_kind",
                                                  "author_agent_id", "body", "created_at")),
            # The demo shop pretends the CRM saw each reopen as it happened.
            "reopenings": _Inserter(TicketReopening, ("ticket_id", "reopened_at", "recorded_at"),
                                    returning=False),
        }  # fmt: skip
        self._product_names = [
            words.product_name(a, m, c)
            for a, m, c in zip(
                world.catalogue.adjective,
                world.catalogue.material,
                world.catalogue.category,
                strict=True,
            )
        ]
        # For tickets not about a particular order: the customer's latest order before it.
        orders = world.orders
        self._order_key = orders["cust"] * 1000.0 + orders["placed"]

    # --- helpers ------------------------------------------------------------------------------
    def _stamps(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole-second numpy timestamps (UTC) for days since the start, and the NaN mask.

        Integer arrays are taken as whole seconds already (the events' exact times).
        """
        days = np.asarray(days)
        if days.dtype.kind in "iu":
            return self.start_stamp + days.astype("timedelta64[s]"), np.zeros(len(days), bool)
        seconds = np.floor(np.nan_to_num(days) * 86_400).astype("timedelta64[s]")
        return self.start_stamp + seconds, np.isnan(days)

    def datetimes(self, days: np.ndarray) -> list[datetime]:
        """Aware datetimes for float days since the start (none of them NaN)."""
        stamps, _ = self._stamps(days)
        return [value.replace(tzinfo=UTC) for value in stamps.tolist()]

    def db_datetimes(self, days: np.ndarray) -> list[object]:
        """`datetimes(days)` adapted as query parameters for this connection.

        Where the backend's adapter turns an aware datetime into naive UTC text (SQLite with
        UTC), numpy formats the text directly, several times faster over millions of events;
        so it does for PostgreSQL's COPY, which parses ISO text with an offset.
        """
        stamps, missing = self._stamps(days)
        if self.text_datetimes:
            values: list[object] = [
                text.replace("T", " ") for text in np.datetime_as_string(stamps).tolist()
            ]
        elif self.copy_text:  # COPY parses ISO text with an offset as timestamptz
            values = [f"{text}+00:00" for text in np.datetime_as_string(stamps).tolist()]
        else:
            adapt = connection.ops.adapt_datetimefield_value
            values = [adapt(value.replace(tzinfo=UTC)) for value in stamps.tolist()]
        for index in np.flatnonzero(missing):
            values[index] = None
        return values

    def date_of(self, day: float) -> date:
        return self.start_date + timedelta(days=int(day))

    # --- one chunk ----------------------------------------------------------------------------
    def write_chunk(self, first: int, last: int) -> None:
        for name, step in (
            ("customers", self._customers),
            ("orders", self._orders),
            ("events", self._events),
            ("reviews", self._reviews),
            ("tickets", self._tickets),
        ):
            clock = time.perf_counter()
            step(first, last)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - clock

    def _customers(self, first: int, last: int) -> None:
        c = self.world.customers
        signed = self.db_datetimes(c["signup"][first:last])
        rng = self.people_rng
        rows = []
        for offset, row in enumerate(range(first, last)):
            first_name = words.FIRST_NAMES[c["name_first"][row]]
            last_name = words.LAST_NAMES[c["name_last"][row]]
            local = _email_local(first_name, last_name, rng)
            country = int(c["country"][row])
            rows.append(
                (
                    self.offsets.external_id("customer", row),
                    f"{first_name} {last_name}",
                    f"{local}@{words.EMAIL_DOMAINS[row % 3]}",
                    f"{words.DIALLING_CODES[country]} 555 {c['phone'][row]:07d}",
                    w.COUNTRIES[country],
                    signed[offset],
                    bool(c["consent"][row]),
                )
            )
        self.customer_pk[first:last] = self.insert["customers"].insert(rows)
        self.counts["customers"] += len(rows)

    def _orders(self, first: int, last: int) -> None:
        o = self.world.orders
        lo, hi = _range(o["cust"], first, last)
        placed = self.db_datetimes(o["placed"][lo:hi])
        delivered = self.db_datetimes(o["delivered"][lo:hi])
        returned = self.db_datetimes(o["returned_at"][lo:hi])
        cancelled = self.db_datetimes(o["cancelled_at"][lo:hi])
        rows = []
        for offset, row in enumerate(range(lo, hi)):
            coupon = int(o["coupon"][row])
            rows.append(
                (
                    self.offsets.external_id("order", row),
                    int(self.customer_pk[o["cust"][row]]),
                    placed[offset],
                    Decimal(f"{o['total'][row]:.2f}"),
                    "EUR",
                    int(o["items"][row]),
                    w.ORDER_STATUSES[o["status"][row]],
                    delivered[offset],
                    returned[offset],
                    cancelled[offset],
                    self.date_of(o["promised"][row]),
                    words.COUPONS[coupon] if coupon >= 0 else "",
                )
            )
        self.order_pk[lo:hi] = self.insert["orders"].insert(rows)
        self.counts["orders"] += len(rows)

    def _payload(self, kind: int, product: int, variant: int) -> object:
        """The adapted JSON payload of an event; few distinct ones, so they are cached."""
        key = (kind, product, variant)
        value = self._payloads.get(key)
        if value is None:
            cat = self.world.catalogue
            if kind == w.E_VISIT:
                payload: dict = {"source": words.VISIT_SOURCES[variant % 5]}
            elif kind == w.E_LOGIN:
                payload = {"device": words.LOGIN_DEVICES[variant % 5]}
            elif kind == w.E_SEARCH:
                noun = words.CATEGORIES[cat.category[product]][0].removeprefix("pair of ")
                qualifier = (
                    words.MATERIALS[cat.material[product]],
                    words.COLOURS[cat.colour[product]],
                    f"{words.ADJECTIVES[cat.adjective[product]].lower()}",
                )[variant % 3]
                payload = {"query": f"{qualifier} {noun}"}
            elif kind == w.E_CART:
                payload = {"sku": words.sku(product), "quantity": 1 + variant % 2}
            else:
                payload = {"sku": words.sku(product)}
            if self.copy_text:
                # COPY parses the text as jsonb; a Jsonb wrapper would re-serialise per row.
                value = json.dumps(payload)
            else:
                value = Event._meta.get_field("payload").get_db_prep_save(payload, connection)
            self._payloads[key] = value
        return value

    def _events(self, first: int, last: int) -> None:
        e = self.world.events
        lo, hi = _range(e["cust"], first, last)
        if lo == hi:
            return
        occurred_at = self.db_datetimes(e["at"][lo:hi])  # whole seconds
        kinds = [Event.Kind(value).value for value in w.EVENT_KINDS]
        customer_pk = self.customer_pk[e["cust"][lo:hi]].tolist()
        kind = e["kind"][lo:hi].tolist()
        product = e["product"][lo:hi].tolist()
        variant = e["variant"][lo:hi].tolist()
        payload = self._payload
        rows = [
            (
                customer_pk[i],
                kinds[kind[i]],
                occurred_at[i],
                payload(kind[i], product[i], variant[i]),
            )
            for i in range(hi - lo)
        ]
        self.insert["events"].insert(rows, adapted=True)
        self.counts["events"] += len(rows)

    def _slots(
        self, rng: random.Random, *, cust: int, order: int, product: int | None = None
    ) -> dict[str, str]:
        """Values for the text templates: the record's own details, the rest made up."""
        o = self.world.orders
        cat = self.world.catalogue
        if product is None:
            product = int(o["product"][order]) if order >= 0 else int(rng.random() * len(cat.price))
        category = int(cat.category[product])
        sizing = words.CATEGORIES[category][2]
        sizes = words.SHOE_SIZES if sizing == "shoes" else words.CLOTHING_SIZES
        size_index = int(rng.random() * len(sizes))
        other_index = min(max(size_index + (1 if rng.random() < 0.5 else -1), 0), len(sizes) - 1)
        if other_index == size_index:
            other_index = 1 if size_index == 0 else size_index - 1
        late = int(o["late_days"][order]) if order >= 0 else 0
        days = late if late else 1 + int(rng.random() * 4)
        if order >= 0:
            promised = o["promised"][order]
            delivered = np.nan_to_num(o["delivered"][order], nan=promised)
            lead = int(delivered - np.floor(o["placed"][order]))
            price = float(o["total"][order])
            coupon = int(o["coupon"][order])
            order_id = self.offsets.external_id("order", order)
        else:
            promised, coupon, order_id = 0, -1, "my last order"
            lead, price = 2 + int(rng.random() * 4), float(cat.price[product])
        promised_date = self.date_of(promised)
        return {
            "product": self._product_names[product],
            "item": words.CATEGORIES[category][0],
            "material": words.MATERIALS[cat.material[product]],
            "colour": words.COLOURS[cat.colour[product]],
            "size": sizes[size_index],
            "other_size": sizes[other_index],
            "order": order_id,
            "days": _number(days, rng),
            "lead": _number(max(lead, 1), rng),
            "price": f"€{price:.2f}",
            "diff": f"€{3 + int(rng.random() * 20)}",
            "courier": words.COURIERS[int(rng.random() * len(words.COURIERS))],
            "n": _number(2 + int(rng.random() * 5), rng),
            "waited": str(5 + int(rng.random() * 20)),
            "agent": words.AGENTS[int(rng.random() * len(words.AGENTS))],
            "name": words.FIRST_NAMES[self.world.customers["name_first"][cust]],
            "shop": words.SHOP,
            "promised": promised_date.strftime("%A" if rng.random() < 0.5 else "%d %B").lstrip("0"),
            "coupon": words.COUPONS[coupon if coupon >= 0 else int(rng.random() * 6)],
        }

    def _text_topic(self, topic: int, order: int, product: int) -> str:
        """The topic as written: on-time parcels get parcel complaints, scarves no sizes."""
        name = w.TOPICS[topic]
        if name == "delivery" and (order < 0 or self.world.orders["late_days"][order] == 0):
            return "parcel"
        category = self.world.catalogue.category[product]
        if name == "sizing" and words.CATEGORIES[category][2] is None:
            return "quality"
        return name

    def _reviews(self, first: int, last: int) -> None:
        r = self.world.reviews
        lo, hi = _range(r["cust"], first, last)
        if lo == hi:
            return
        created_at = self.db_datetimes(r["day"][lo:hi])
        rng = self.review_rng
        rows = []
        for offset, row in enumerate(range(lo, hi)):
            order, product = int(r["order"][row]), int(r["product"][row])
            slots = self._slots(rng, cust=int(r["cust"][row]), order=order, product=product)
            title, body = texts.review(
                rng,
                topic=self._text_topic(int(r["topic"][row]), order, product),
                tone=w.TONES[r["tone"][row]],
                slots=slots,
            )
            rows.append(
                (
                    self.offsets.external_id("review", row),
                    int(self.customer_pk[r["cust"][row]]),
                    int(self.order_pk[order]),
                    words.sku(product),
                    int(r["rating"][row]),
                    title,
                    body,
                    created_at[offset],
                )
            )
        pks = self.insert["reviews"].insert(rows)
        self.counts["reviews"] += len(rows)
        # crm.texts reads pk, customer, time and text: unsaved shells carrying those suffice.
        written = self.datetimes(r["day"][lo:hi])
        reviews = [
            Review(pk=pk, external_id=row[0], customer_id=row[1], title=row[5], body=row[6],
                   created_at=when)
            for pk, row, when in zip(pks, rows, written, strict=True)
        ]  # fmt: skip
        self._announce(sync_review_texts(reviews))

    def _tickets(self, first: int, last: int) -> None:
        t = self.world.tickets
        lo, hi = _range(t["cust"], first, last)
        if lo == hi:
            return
        opened = self.db_datetimes(t["opened"][lo:hi])
        solved = self.db_datetimes(t["solved_at"][lo:hi])
        # Tickets not about an order borrow the customer's latest order before them.
        key = t["cust"][lo:hi] * 1000.0 + t["opened"][lo:hi]
        latest = np.searchsorted(self._order_key, key) - 1
        has_latest = (latest >= 0) & (
            self.world.orders["cust"][np.maximum(latest, 0)] == t["cust"][lo:hi]
        )
        rng = self.ticket_rng
        rows, contexts = [], []
        for offset, row in enumerate(range(lo, hi)):
            order = int(t["order"][row])
            if order < 0 and has_latest[offset]:
                order = int(latest[offset])
            cust = int(t["cust"][row])
            if order >= 0:
                product = int(self.world.orders["product"][order])
            else:
                product = int(rng.random() * len(self.world.catalogue.price))
            slots = self._slots(rng, cust=cust, order=order, product=product)
            topic = self._text_topic(int(t["topic"][row]), int(t["order"][row]), product)
            contexts.append((topic, slots))
            status = int(t["status"][row])
            # Nobody has picked up a ticket that is still open with no reply.
            agent = None if status == w.TK_OPEN else self.agents[int(t["agent"][row])]
            rows.append(
                (
                    self.offsets.external_id("ticket", row),
                    int(self.customer_pk[cust]),
                    texts.ticket_subject(rng, topic=topic, slots=slots)[:300],
                    w.CHANNELS[t["channel"][row]],
                    w.TICKET_STATUSES[status],
                    int(t["priority"][row]),
                    opened[offset],
                    solved[offset],
                    int(t["reopened"][row]),
                    agent,
                )
            )
        self.ticket_pk[lo:hi] = self.insert["tickets"].insert(rows)
        self.counts["tickets"] += len(rows)
        self._reopenings(lo, hi)
        self._messages(lo, hi, contexts)

    def _reopenings(self, lo: int, hi: int) -> None:
        """A reopening per reopened ticket (at most one each), when the customer wrote back."""
        t = self.world.tickets
        again = lo + np.flatnonzero(t["reopened"][lo:hi])
        if not len(again):
            return
        reopened_at = self.db_datetimes(t["reopen_day"][again])
        rows = [
            (int(self.ticket_pk[ticket]), when, when)
            for ticket, when in zip(again, reopened_at, strict=True)
        ]
        self.insert["reopenings"].insert(rows, adapted=True)
        self.counts["ticket_reopenings"] += len(rows)

    def _messages(self, lo: int, hi: int, contexts: list[tuple[str, dict[str, str]]]) -> None:
        m = self.world.messages
        t = self.world.tickets
        m_lo, m_hi = _range(m["ticket"], lo, hi)
        if m_lo == m_hi:
            return
        created_at = self.db_datetimes(m["day"][m_lo:m_hi])
        written = self.datetimes(m["day"][m_lo:m_hi])
        rng = self.ticket_rng
        rows = []
        for offset, row in enumerate(range(m_lo, m_hi)):
            ticket = int(m["ticket"][row])
            topic, slots = contexts[ticket - lo]
            role = w.MESSAGE_ROLES[m["role"][row]]
            if role.startswith("agent"):
                agent = self.agents[int(t["agent"][ticket])]
                slots = {**slots, "agent": words.AGENTS[int(t["agent"][ticket])]}
                body = texts.agent_message(rng, role=role, topic=topic, slots=slots)
                author = TicketMessage.Author.AGENT.value
            else:
                agent = None
                body = texts.customer_message(
                    rng, role=role, topic=topic, tone=w.TONES[m["tone"][row]], slots=slots
                )
                author = TicketMessage.Author.CUSTOMER.value
            rows.append(
                (
                    self.offsets.external_id("message", row),
                    int(self.ticket_pk[ticket]),
                    author,
                    agent,
                    body,
                    created_at[offset],
                )
            )
        pks = self.insert["messages"].insert(rows)
        self.counts["ticket_messages"] += len(rows)
        customer_messages = [
            TicketMessage(pk=pk, external_id=row[0], ticket_id=row[1], author_kind=row[2],
                          body=row[4], created_at=when)
            for pk, row, when in zip(pks, rows, written, strict=True)
            if row[2] == TicketMessage.Author.CUSTOMER
        ]  # fmt: skip
        self._announce(sync_message_texts(customer_messages))

    def _announce(self, text_ids: list[int]) -> None:
        self.counts["customer_texts"] += len(text_ids)
        if self.announce:
            announce_texts(text_ids)


def _number(value: int, rng: random.Random) -> str:
    """Small numbers as people write them: sometimes in words, sometimes in digits."""
    if value < len(_NUMBER_WORDS) and rng.random() < 0.4:
        return _NUMBER_WORDS[value]
    return str(value)


def _email_local(first: str, last: str, rng: random.Random) -> str:
    first = first.lower()
    last = last.lower().replace(" ", "")
    number = 1 + int(rng.random() * 99)
    style = int(rng.random() * 4)
    return (
        f"{first}.{last}{number}",
        f"{first}{last}{number}",
        f"{first[0]}.{last}{number}",
        f"{first}_{last}{number}",
    )[style]


class _Inserter:
    """Insert one model's rows in bulk, returning the new primary keys in row order.

    `columns` are attnames; each row gives them as Python values (dates, Decimals, dicts),
    adapted here by the backend's operations, except datetimes, which come already adapted
    (`_Writer.db_datetimes`) because there are millions of them. Concrete fields not named
    get their default (auto_now fields: now), so a field added later with a default does
    not break the demo. Statements run on a cursor without DEBUG query logging.

    On PostgreSQL (psycopg 3) rows go through COPY, with primary keys reserved up front from
    the table's own sequence: several times faster than INSERT statements, which psycopg
    has to compose client-side. Elsewhere (SQLite) they go in as multi-row
    `INSERT ... VALUES (...), (...) RETURNING id`, as bulk_create does.
    """

    def __init__(self, model: type[Model], columns: tuple[str, ...], *, returning: bool = True):
        self.model = model
        self.returning = returning
        fields: dict[str, Field] = {
            f.attname: f for f in model._meta.concrete_fields if not f.primary_key
        }
        pk = model._meta.pk
        assert pk is not None
        self.pk_column = _column(pk)
        unknown = set(columns) - set(fields)
        if unknown:
            raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
        self.adapters = [_adapter(fields[name]) for name in columns]
        now = timezone.now()
        self.constants = []
        for name, field in fields.items():
            if name in columns:
                continue
            value = (
                now
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
                else field.get_default()
            )
            self.constants.append((name, field.get_db_prep_save(value, connection)))
        quote = connection.ops.quote_name
        names = [*columns, *(name for name, _ in self.constants)]
        self.width = len(names)
        self.rows_per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, MAX_PARAMS // self.width))
        # Table and column names come from the model and are quoted; values are parameters.
        self.head = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(_column(fields[n])) for n in names)}) VALUES "
        )
        self.tail = f" RETURNING {quote(self.pk_column)}" if returning else ""
        self.one = "(" + ", ".join(["%s"] * self.width) + ")"
        self.constant_values = [value for _, value in self.constants]
        self.use_copy = use_copy()
        if self.use_copy:
            table = model._meta.db_table
            copied = ([self.pk_column] if returning else []) + [_column(fields[n]) for n in names]
            self.copy_sql = f"COPY {quote(table)} ({', '.join(map(quote, copied))}) FROM STDIN"

    def _sql(self, rows: int) -> str:
        return self.head + ", ".join([self.one] * rows) + self.tail

    def insert(self, rows: list[tuple], *, adapted: bool = False) -> list[int]:
        """Insert `rows`; returns their primary keys (empty when returning=False)."""
        if not rows:
            return []
        if adapted:
            flat_rows = [[*row, *self.constant_values] for row in rows]
        else:
            adapters = self.adapters
            flat_rows = [
                [adapt(value) for adapt, value in zip(adapters, row, strict=True)]
                + self.constant_values
                for row in rows
            ]
        if self.use_copy:
            return self._copy(flat_rows)
        size = self.rows_per_statement
        groups = [flat_rows[start : start + size] for start in range(0, len(flat_rows), size)]
        params = [[value for row in group for value in row] for group in groups]
        pks: list[int] = []
        with connection.cursor() as wrapped:
            # The bare DB-API cursor under Django's wrapper: errors are still translated,
            # but millions of rows are not logged to connection.queries under DEBUG.
            cursor = connection.make_cursor(wrapped.cursor)
            if not self.returning:
                full = [p for p, g in zip(params, groups, strict=True) if len(g) == size]
                if full:
                    cursor.executemany(self._sql(size), full)
                if len(groups[-1]) < size:
                    cursor.execute(self._sql(len(groups[-1])), params[-1])
                return pks
            for group, values in zip(groups, params, strict=True):
                cursor.execute(self._sql(len(group)), values)
                pks.extend(row[0] for row in cursor.fetchall())
        if len(pks) != len(rows):
            raise RuntimeError(
                f"Inserted {len(rows)} {self.model.__name__} rows, got {len(pks)} ids"
            )
        return pks

    def _copy(self, rows: list[list]) -> list[int]:
        pks: list[int] = []
        with connection.cursor() as wrapped:
            raw = wrapped.cursor
            with connection.wrap_database_errors:
                if self.returning:
                    # Ids from the table's own sequence: safe alongside concurrent inserts.
                    raw.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                        "FROM generate_series(1, %s)",
                        [self.model._meta.db_table, self.pk_column, len(rows)],
                    )
                    pks = [row[0] for row in raw.fetchall()]
                    rows = [[pk, *row] for pk, row in zip(pks, rows, strict=True)]
                with raw.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
        return pks


def use_copy() -> bool:
    """Whether the connection is PostgreSQL through psycopg 3, which can COPY rows in."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return hasattr(cursor.cursor, "copy")


def _column(field: Field) -> str:
    assert field.column is not None, f"{field} has no column"
    return field.column


# Field types whose Python values the drivers take as they are.
_PASSED_AS_IS = frozenset(
    ("CharField", "TextField", "BooleanField", "ForeignKey", "IntegerField", "BigIntegerField",
     "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField")
)  # fmt: skip


def _adapter(field: Field) -> Callable[[Any], Any]:
    """How a value of `field` becomes a query parameter on this connection."""
    ops = connection.ops
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return _identity  # adapted in bulk by _Writer.db_datetimes
    if kind == "DateField":
        return ops.adapt_datefield_value
    if kind in _PASSED_AS_IS:
        return _identity
    return partial(field.get_db_prep_save, connection=connection)


def _identity(value: object) -> object:
    return value

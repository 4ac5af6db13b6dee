"""A fake Shopify store: realistic, signed webhook deliveries for demos, tests and benchmarks.

Pure generation from a seed; sending them is the caller's business (`winkel simulate`).
Each order tells a story: created, paid, shipped in one or two fulfilments (or cancelled),
sometimes partly refunded afterwards (a credit note), sometimes stalled days ago (paid and never
shipped, or partly shipped: the stuck worklist's cases).

With a `clock` (the demo), every story is placed before its "now" and cut at it, since
its steps carry marketplace times, and a time in the future is something no marketplace sends
(a story started from a fixed `start` plus its hours of fulfilment used to run into the future).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from engine.domain.marketplaces import shopify
from engine.domain.money import to_cents

PRODUCTS = (
    ("MUG-BLUE", "Stoneware mug, blue", Decimal("12.95")),
    ("TEE-ORG-M", "Organic T-shirt, M", Decimal("24.50")),
    ("BAG-CANVAS", "Canvas tote bag", Decimal("18.00")),
    ("LAMP-DESK", "Desk lamp, brass", Decimal("79.00")),
    ("NOTE-A5", "Notebook A5, dotted", Decimal("7.25")),
    ("TEA-EARL", "Earl Grey tea, 100 g", Decimal("6.40")),
)
CUSTOMERS = (
    ("Sanne", "de Vries", "NL", None),
    ("Lukas", "Peeters", "BE", None),
    ("Anna", "Schmidt", "DE", None),
    ("Camille", "Martin", "FR", None),
    ("Joost", "Bakker", "NL", "Bakker Interieur B.V."),
    ("Emma", "Jansen", "NL", None),
)
RATES = {"NL": Decimal("0.21"), "BE": Decimal("0.21"), "DE": Decimal("0.19"), "FR": Decimal("0.20")}


@dataclass(frozen=True, slots=True)
class Delivery:
    store_id: str
    topic: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ShopifyStore:
    """Generates the deliveries of one Shopify store; `seed` makes the traffic repeatable."""

    store_id: str
    shop_domain: str
    secret: bytes
    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    cancel_share: float = 0.08
    split_share: float = 0.3
    #: Shopify location ids the fulfilments come from, in turn: a split order's second
    #: fulfilment ships from the second location (another company, where `locations` says so).
    location_ids: tuple[int, ...] = (70001,)
    #: The demo's clock: each story is placed before its "now" (see the module doc); None: the
    #: stories start at `start` and are told whole.
    clock: Callable[[], datetime] | None = None
    #: Orders partly refunded after shipping (a `refunds/create` delivery: a credit note).
    refund_share: float = 0.0
    #: Orders that stalled days before `now`: paid and never shipped, or partly shipped.
    stall_share: float = 0.0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - repeatable traffic, not secrets

    def deliver(self, topic: str, document: dict[str, Any], at: datetime) -> Delivery:
        body = orjson.dumps(document)
        headers = {
            "Content-Type": "application/json",
            shopify.TOPIC_HEADER: topic,
            shopify.SIGNATURE_HEADER: shopify.sign(body, self.secret),
            shopify.DELIVERY_HEADER: str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "X-Shopify-Event-Id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "X-Shopify-Shop-Domain": self.shop_domain,
            TRIGGERED_AT: at.isoformat(),
            "X-Shopify-API-Version": "2026-01",
        }
        return Delivery(self.store_id, topic, headers, body)

    def order_story(self, order_id: int) -> list[Delivery]:
        """All deliveries of one order, in the order Shopify would send them; with `now`, only
        those due by then (a story still under way stops where it is)."""
        now = None if self.clock is None else self.clock()
        story = self._story(order_id, now)
        return story if now is None else due(story, now)

    def _story(self, order_id: int, now: datetime | None) -> list[Delivery]:
        rng = self._rng
        stalled = bool(self.stall_share) and rng.random() < self.stall_share
        # Where it stalled: 0 not paid, 1 paid and not shipped, 2 partly shipped.
        stall = rng.randrange(3) if stalled else 0
        refunded = bool(self.refund_share) and rng.random() < self.refund_share
        created = self._created(order_id, stalled, now)
        first, last, country, company = rng.choice(CUSTOMERS)
        picks = rng.sample(PRODUCTS, rng.randint(1, 3))
        items = [(sku, title, price, rng.randint(1, 3)) for sku, title, price in picks]
        order = _order(order_id, created, items, (first, last, country, company))
        deliveries = [self.deliver("orders/create", order, created)]
        paid_at = created + timedelta(minutes=2)
        order = {**order, "financial_status": "paid", "updated_at": paid_at.isoformat()}
        deliveries.append(self.deliver("orders/paid", order, paid_at))
        if stalled and stall == 0:
            return deliveries[:1]  # never paid
        if stalled and (len(order["line_items"]) == 1 or stall == 1):
            return deliveries  # paid, and then nothing: waiting for a shipment
        if not stalled and rng.random() < self.cancel_share:
            at = paid_at + timedelta(hours=1)
            order = {
                **order,
                "cancelled_at": at.isoformat(),
                "cancel_reason": "customer",
                "updated_at": at.isoformat(),
            }
            deliveries.append(self.deliver("orders/cancelled", order, at))
            return deliveries
        line_items: list[dict[str, Any]] = order["line_items"]
        split = len(line_items) > 1 and rng.random() < self.split_share
        groups = [line_items[:1], line_items[1:]] if split else [line_items]
        if stalled:
            groups = [line_items[:1]]  # partly shipped, the rest never follows
        fulfillments: list[dict[str, Any]] = []
        for number, group in enumerate(groups, start=1):
            at = paid_at + timedelta(hours=3 * number)
            fulfillment = {
                "id": order_id * 10 + number,
                "order_id": order_id,
                "status": "success",
                "created_at": at.isoformat(),
                "updated_at": at.isoformat(),
                "location_id": self.location_ids[(number - 1) % len(self.location_ids)],
                "tracking_number": f"3SWNK{order_id:08d}{number}",
                "line_items": [{"id": li["id"], "quantity": li["quantity"]} for li in group],
            }
            fulfillments.append(fulfillment)
            deliveries.append(self.deliver("fulfillments/create", fulfillment, at))
            done = number == len(groups)
            order = {
                **order,
                "fulfillments": list(fulfillments),
                "fulfillment_status": "fulfilled" if done else "partial",
                "updated_at": at.isoformat(),
            }
            if stalled:
                done = False
                order["fulfillment_status"] = "partial"
            topic = "orders/fulfilled" if done else "orders/partially_fulfilled"
            deliveries.append(self.deliver(topic, order, at))
        if refunded and not stalled:
            at = paid_at + timedelta(hours=3 * len(groups) + REFUND_AFTER_HOURS)
            deliveries.append(self.deliver(REFUND_TOPIC, _refund(order_id, line_items[0], at), at))
        return deliveries

    def stories(self, first_order_id: int = 1001) -> Iterator[list[Delivery]]:
        order_id = first_order_id
        while True:
            yield self.order_story(order_id)
            order_id += 1

    def _created(self, order_id: int, stalled: bool, now: datetime | None) -> datetime:
        """When the order was placed: from `start`, or (with `now`) within the last
        `RECENT_HOURS` hours, so the demo shows orders at every step of their story; a stalled
        one two to five days ago, past any stage's limit, so the worklist shows it."""
        spread = timedelta(seconds=order_id % 86_400, microseconds=order_id % 997)
        if now is None:
            return self.start + spread
        if stalled:
            return now - timedelta(days=2) - spread * 3
        recent = (order_id * 7_919) % (RECENT_HOURS * 3600)
        return now - timedelta(seconds=recent, microseconds=order_id % 997)


#: With `now`, orders are placed within this many hours before it.
RECENT_HOURS = 10
TRIGGERED_AT = "X-Shopify-Triggered-At"


def delivery_time(delivery: Delivery) -> datetime:
    """The marketplace time a delivery is dated: Shopify's `X-Shopify-Triggered-At` header,
    a WooCommerce order's `date_modified_gmt` (UTC without an offset)."""
    header = delivery.headers.get(TRIGGERED_AT)
    if header:
        return datetime.fromisoformat(header)
    document = orjson.loads(delivery.body)
    modified = document.get("date_modified_gmt") if isinstance(document, dict) else None
    if not isinstance(modified, str):
        raise ValueError(f"a {delivery.topic} delivery names no time")
    return datetime.fromisoformat(modified).replace(tzinfo=UTC)


def due(story: list[Delivery], now: datetime) -> list[Delivery]:
    """The deliveries of a story dated at or before `now`: a story still under way stops where
    it is, and nothing is ever dated in the future."""
    return [delivery for delivery in story if delivery_time(delivery) <= now]


@dataclass
class DueBy:
    """Another fake store's stories cut at the clock's now (see `due`), e.g. WooCommerce's."""

    store: Any  # has order_story(order_id) -> list[Delivery]
    clock: Callable[[], datetime]

    def order_story(self, order_id: int) -> list[Delivery]:
        return due(self.store.order_story(order_id), self.clock())


#: A refund follows the last fulfilment by this many hours.
REFUND_AFTER_HOURS = 2
REFUND_TOPIC = shopify.REFUND_TOPIC


def _refund(order_id: int, line_item: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A `refunds/create` body: one unit of the first line back (damaged in transit)."""
    return {
        "id": order_id * 10 + 9,
        "order_id": order_id,
        "created_at": at.isoformat(),
        "processed_at": at.isoformat(),
        "note": "damaged in transit",
        "restock": False,
        "refund_line_items": [
            {
                "id": order_id * 10 + 8,
                "line_item_id": line_item["id"],
                "quantity": 1,
                "restock_type": "no_restock",
            }
        ],
        "order_adjustments": [],
        "transactions": [],
    }


def _order(
    order_id: int,
    created: datetime,
    items: list[tuple[str, str, Decimal, int]],
    customer: tuple[str, str, str, str | None],
) -> dict[str, Any]:
    first, last, country, company = customer
    rate = RATES[country]
    line_items = []
    total_tax = Decimal(0)
    for index, (sku, title, price, quantity) in enumerate(items, start=1):
        tax = to_cents(price * quantity * rate / (1 + rate))
        total_tax += tax
        line_items.append(
            {
                "id": order_id * 100 + index,
                "variant_id": order_id * 1000 + index,
                "sku": sku,
                "title": title,
                "name": title,
                "quantity": quantity,
                "price": str(price),
                "fulfillable_quantity": quantity,
                "fulfillment_status": None,
                "taxable": True,
                "tax_lines": [{"title": "BTW", "price": str(tax), "rate": float(rate)}],
                "discount_allocations": [],
            }
        )
    shipping = Decimal("4.95")
    shipping_tax = to_cents(shipping * rate / (1 + rate))
    subtotal = sum((price * quantity for _, _, price, quantity in items), Decimal(0))
    address = {
        "first_name": first,
        "last_name": last,
        "company": company,
        "address1": "Stationsplein 1",
        "city": "Utrecht",
        "zip": "3511 ED",
        "country_code": country,
    }
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "email": f"{first.lower()}.{last.lower().replace(' ', '')}@example.com",
        "created_at": created.isoformat(),
        "updated_at": created.isoformat(),
        "processed_at": created.isoformat(),
        "cancelled_at": None,
        "cancel_reason": None,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "financial_status": "pending",
        "fulfillment_status": None,
        "taxes_included": True,
        "total_price": str(subtotal + shipping),
        "subtotal_price": str(subtotal),
        "total_tax": str(total_tax + shipping_tax),
        "line_items": line_items,
        "shipping_lines": [
            {
                "id": order_id * 100 + 99,
                "title": "PostNL Standard",
                "price": str(shipping),
                "tax_lines": [{"title": "BTW", "price": str(shipping_tax), "rate": float(rate)}],
                "discount_allocations": [],
            }
        ],
        "billing_address": address,
        "shipping_address": address,
        "customer": {"id": order_id * 7, "first_name": first, "last_name": last},
        "fulfillments": [],
        "refunds": [],
    }

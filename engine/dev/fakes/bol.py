"""A fake bol.com Retailer API v10 and a generator of realistic bol order histories.

Speaks the wire format of docs/marketplaces.md §1 (and the v10 spec where that page is
silent): the OAuth2 token endpoint, orders (list and detail), shipments, returns,
signature keys, the v10 media type, 50 items a page, and 429s with rate-limit headers once a
path's budget is spent. Push notifications are signed with a throwaway RSA key made at run time.

Three parts:

- `BolShop`: pure, seeded generation of order stories as steps (place, request cancellation,
  cancel, ship, register and handle a return), like `engine.dev.simulator.ShopifyStore`.
- `FakeBol`: the marketplace's state; `apply(step)` changes it the way bol would and returns
  the push notifications bol would send for that change.
- `create_app(fake)`: the aiohttp application serving that state over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from engine.dev.fakes._play import FakeClock as FakeClock
from engine.dev.fakes._play import StoryShop, serve_and_play, wall_clock
from engine.domain.marketplaces import bol

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: bol's ORDER and SHIPMENT push type names are not documented (docs/marketplaces.md §1.6);
#: these are the fake's own. The engine treats any ORDER or SHIPMENT push as "fetch this
#: resource".
ORDER_PLACED, ORDER_CHANGED, SHIPMENT_CREATED = "ORDER_PLACED", "ORDER_CHANGED", "SHIPMENT_CREATED"
#: Handled order items leave `GET /retailer/orders` this long after their last change.
HANDLED_VISIBLE_FOR = timedelta(hours=48)


def bol_time(moment: datetime) -> str:
    """bol writes times with the Dutch offset: `2026-11-02T10:15:00+01:00`."""
    return moment.astimezone(AMSTERDAM).isoformat(timespec="seconds")


def _money(amount: Decimal) -> float:
    """bol sends prices as JSON numbers; a two-decimal float prints back as the same text."""
    return float(amount)


# --- signing push notifications ------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair as bol's push signer holds it; `key_id` is the header's `keyId`."""

    key_id: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, key_id: str = "0") -> SigningKey:
        return cls(key_id, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: str, key_id: str = "0") -> SigningKey:
        """A private key handed over in PEM (`winkel run` gives the demo's to the simulator)."""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("bol signs with RSA: not an RSA private key")
        return cls(key_id, key)

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    @property
    def public_base64(self) -> str:
        """The form of `GET /retailer/subscriptions/signature-keys`: base64 DER."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def signature(self, body: bytes) -> str:
        raw = self.private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    def headers(self, body: bytes) -> dict[str, str]:
        """The headers of a signed push: `Signature: keyId=.., algorithm="rsa-sha256", ..`."""
        return {
            "Content-Type": "application/json",
            bol.SIGNATURE_HEADER: (
                f'keyId={self.key_id}, algorithm="{bol.SIGNATURE_ALGORITHM}", '
                f"signature={self.signature(body)}"
            ),
        }


@cache
def throwaway_signing_key() -> SigningKey:
    """THROWAWAY TEST KEY, generated in memory on first use and never written anywhere.

    Good only for tests and `winkel simulate`; a store configured with its public key accepts
    anything this process signs.
    """
    return SigningKey.generate("0")


def notification(
    resource: str, resource_id: str, kind: str, at: datetime, retailer_id: int
) -> bytes:
    """A push body: `{"retailerId", "timestamp", "event": {"resource", "type", "resourceId"}}`."""
    return orjson.dumps(
        {
            "retailerId": retailer_id,
            "timestamp": bol_time(at),
            "event": {"resource": resource, "type": kind, "resourceId": resource_id},
        }
    )


@dataclass(frozen=True, slots=True)
class Push:
    """One push notification as bol would POST it to the subscription's URL."""

    headers: dict[str, str]
    body: bytes


# --- steps of an order's story ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    at: datetime
    order: dict[str, Any]  # the Order detail as placed: nothing shipped or cancelled


@dataclass(frozen=True, slots=True)
class RequestCancellation:
    at: datetime
    order_id: str
    order_item_id: str


@dataclass(frozen=True, slots=True)
class CancelItem:
    """The seller (or bol, or expiry) cancels an order item's open units."""

    at: datetime
    order_id: str
    order_item_id: str
    reason_code: str


@dataclass(frozen=True, slots=True)
class Ship:
    at: datetime
    shipment_id: str
    order_id: str
    items: tuple[tuple[str, int], ...]  # (orderItemId, units in this shipment)
    transporter_code: str = "TNT"


@dataclass(frozen=True, slots=True)
class RegisterReturn:
    at: datetime
    return_id: str
    rma_id: str
    order_id: str
    order_item_id: str
    quantity: int
    main_reason: str
    comments: str = ""


@dataclass(frozen=True, slots=True)
class HandleReturn:
    at: datetime
    rma_id: str
    quantity: int
    handling_result: str


Step = PlaceOrder | RequestCancellation | CancelItem | Ship | RegisterReturn | HandleReturn


# --- generator -------------------------------------------------------------------------------

PRODUCTS = (
    ("8712345000019", "Stoneware mok, blauw", Decimal("12.95"), "MUG-BLUE"),
    ("8712345000026", "Biologisch katoenen T-shirt, M", Decimal("24.50"), "TEE-ORG-M"),
    ("8712345000033", "Canvas draagtas", Decimal("18.00"), "BAG-CANVAS"),
    ("8712345000040", "Bureaulamp, messing", Decimal("79.00"), "LAMP-DESK"),
    ("8712345000057", "Notitieboek A5, dotted", Decimal("7.25"), "NOTE-A5"),
    ("8712345000064", "Theepot, gietijzer", Decimal("34.99"), "TEAPOT-CI"),
)
#: (first name, surname, street, number, zip, city, country, language)
PEOPLE = (
    ("Sanne", "de Vries", "Oudegracht", "12", "3511 AB", "Utrecht", "NL", "nl"),
    ("Lukas", "Peeters", "Meir", "41", "2000", "Antwerpen", "BE", "nl-BE"),
    ("Camille", "Dubois", "Rue Neuve", "7", "1000", "Bruxelles", "BE", "fr-BE"),
    ("Emma", "Jansen", "Stationsweg", "3", "2312 AV", "Leiden", "NL", "nl"),
    ("Daan", "Bakker", "Havenstraat", "88", "1071 KB", "Amsterdam", "NL", "nl"),
)
#: (company, vatNumber, kvkNumber, country)
BUSINESSES = (
    ("Bakker Interieur B.V.", "NL859123456B01", "71234567", "NL"),
    ("Peeters & Zonen BV", "BE0412345678", "0412345678", "BE"),
)
PICKUP_POINTS = {
    "NL": ("PostNL Punt Primera Centrum", "Lange Elisabethstraat", "22", "3511 JH", "Utrecht"),
    "BE": ("bpost Punt Carrefour Express", "Kammenstraat", "5", "2000", "Antwerpen"),
}
RETURN_REASONS = (
    ("Product defect", "Werkt niet"),
    ("Verkeerd artikel ontvangen", ""),
    ("Niet naar verwachting", "Kleur wijkt af"),
)
NO_CREDIT_HANDLING = ("EXCHANGE_PRODUCT", "RETURN_DOES_NOT_MEET_CONDITIONS", "REPAIR_PRODUCT")


@dataclass
class BolShop(StoryShop):
    """Generates the order stories of one bol seller; `seed` makes the traffic repeatable.

    Each story: placed; then maybe a customer cancellation request (confirmed) or an item
    cancelled out of stock; shipped in one shipment or split (one item's units over two
    shipments: the partial shipment bol makes possible); maybe a return, usually received.
    """

    return_share: float = 0.15
    business_share: float = 0.2
    pickup_share: float = 0.15
    fbb_share: float = 0.25
    no_billing_share: float = 0.05

    def order_story(self, number: int) -> list[Step]:
        """All steps of one order, in time order; `number` makes its ids."""
        rng = self._rng
        order_id = str(1_000_000_000 + number)
        placed = self.start + timedelta(minutes=7 * (number % 10_000), seconds=number % 53)
        method = "FBB" if rng.random() < self.fbb_share else "FBR"
        picks = rng.sample(PRODUCTS, rng.randint(1, 3))
        lines = [
            (f"{order_id}{index}", product, rng.randint(1, 3))
            for index, product in enumerate(picks, start=1)
        ]
        order = self._order(order_id, placed, method, lines)
        steps: list[Step] = [PlaceOrder(placed, order)]
        open_units = {item_id: quantity for item_id, _, quantity in lines}
        at = placed
        if rng.random() < self.cancel_share:
            item_id = rng.choice(list(open_units))
            at += timedelta(minutes=20)
            if rng.random() < 0.5:
                steps.append(RequestCancellation(at, order_id, item_id))
                at += timedelta(minutes=30)
                steps.append(CancelItem(at, order_id, item_id, "REQUESTED_BY_CUSTOMER"))
            else:
                at += timedelta(minutes=5)
                steps.append(CancelItem(at, order_id, item_id, "OUT_OF_STOCK"))
            del open_units[item_id]
        if not open_units:
            return steps
        shipments = self._split(open_units) if rng.random() < self.split_share else [open_units]
        shipped: dict[str, int] = {}
        for index, units in enumerate(shipments, start=1):
            at += timedelta(hours=3 * index)
            transporter = "TNT" if method == "FBR" else "BOL"
            steps.append(
                Ship(at, f"5{order_id}{index}", order_id, tuple(units.items()), transporter)
            )
            for item_id, count in units.items():
                shipped[item_id] = shipped.get(item_id, 0) + count
        if rng.random() < self.return_share:
            item_id = rng.choice(sorted(shipped))
            main, comments = rng.choice(RETURN_REASONS)
            at += timedelta(days=3)
            rma_id = f"3{order_id}"
            steps.append(
                RegisterReturn(at, f"2{order_id}", rma_id, order_id, item_id, 1, main, comments)
            )
            at += timedelta(days=2)
            handling = "RETURN_RECEIVED" if rng.random() < 0.8 else rng.choice(NO_CREDIT_HANDLING)
            steps.append(HandleReturn(at, rma_id, 1, handling))
        return steps

    def stories(self, first: int = 1) -> Iterator[list[Step]]:
        number = first
        while True:
            yield self.order_story(number)
            number += 1

    def _split(self, open_units: dict[str, int]) -> list[dict[str, int]]:
        """Two shipments: one item's units across both when it has several, else by item."""
        several = [item_id for item_id, count in open_units.items() if count > 1]
        if several:
            item_id = several[0]
            first = {item_id: 1}
            rest = dict(open_units)
            rest[item_id] -= 1
            return [first, rest]
        if len(open_units) > 1:
            items = list(open_units.items())
            return [dict(items[:1]), dict(items[1:])]
        return [open_units]

    def _order(
        self,
        order_id: str,
        placed: datetime,
        method: str,
        lines: list[tuple[str, tuple[str, str, Decimal, str], int]],
    ) -> dict[str, Any]:
        rng = self._rng
        first, surname, street, number, zip_code, city, country, language = rng.choice(PEOPLE)
        business = None
        if rng.random() < self.business_share:
            business = rng.choice([b for b in BUSINESSES if b[3] == country] or BUSINESSES)
        pickup = rng.random() < self.pickup_share
        person = {
            "salutation": rng.choice(("MALE", "FEMALE", "UNKNOWN")),
            "firstName": first,
            "surname": surname,
            "streetName": street,
            "houseNumber": number,
            "zipCode": zip_code,
            "city": city,
            "countryCode": country,
            "email": f"{_email_alias(order_id)}@verkopen.bol.com",
        }
        shipment_details: dict[str, Any] = {**person, "language": language}
        if pickup:
            name, p_street, p_number, p_zip, p_city = PICKUP_POINTS[country]
            shipment_details.update(
                pickupPointName=name,
                streetName=p_street,
                houseNumber=p_number,
                zipCode=p_zip,
                city=p_city,
            )
        billing: dict[str, Any] | None = dict(person)
        if business is not None and billing is not None:
            company, vat_number, kvk_number, _ = business
            billing.update(company=company, vatNumber=vat_number, kvkNumber=kvk_number)
            billing["orderReference"] = f"PO-{order_id[-5:]}"
        if rng.random() < self.no_billing_share:
            billing = None  # bol has left billingDetails out before (docs/marketplaces.md §1.3)
        distribution = "BOL" if method == "FBB" else "RETAILER"
        items = []
        for item_id, (ean, title, price, reference), quantity in lines:
            discount = Decimal("2.00") if rng.random() < 0.1 else Decimal(0)
            total = price * quantity - discount
            item: dict[str, Any] = {
                "orderItemId": item_id,
                "cancellationRequest": False,
                "fulfilment": {
                    "method": method,
                    "distributionParty": distribution,
                    "latestDeliveryDate": (placed + timedelta(days=2)).date().isoformat(),
                    "expiryDate": (placed + timedelta(days=5)).date().isoformat(),
                    "timeFrameType": "REGULAR",
                },
                "offer": {"offerId": f"off-{ean}", "reference": reference},
                "product": {"ean": ean, "title": title},
                "quantity": quantity,
                "quantityShipped": 0,
                "quantityCancelled": 0,
                "unitPrice": _money(price),
                "totalPrice": _money(total),
                "discounts": ([{"title": "Actie", "amount": _money(discount)}] if discount else []),
                "commission": _money(
                    (total * Decimal("0.15") + Decimal("0.99")).quantize(Decimal("0.01"))
                ),
                "latestChangedDateTime": bol_time(placed),
            }
            items.append(item)
        order: dict[str, Any] = {
            "orderId": order_id,
            "pickupPoint": pickup,
            "orderPlacedDateTime": bol_time(placed),
            "shipmentDetails": shipment_details,
            "orderItems": items,
        }
        if billing is not None:
            order["billingDetails"] = billing
        return order


def _email_alias(order_id: str) -> str:
    """bol scrambles customer e-mail addresses; a stable alias per order is enough here."""
    return f"2x{int(order_id):x}"


# --- the marketplace's state -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateRule:
    """At most `limit` requests per `window_seconds` (bol's conventions table, sliding)."""

    limit: int
    window_seconds: float


#: bol's published examples (conventions page, "similar to" the real rules) where known,
#: generous guesses elsewhere. Patterns are "METHOD path", `*` standing for an id.
DEFAULT_RATE_RULES: Mapping[str, RateRule] = {
    "GET /retailer/orders": RateRule(7, 180),
    "GET /retailer/orders/*": RateRule(8, 60),
    "GET /retailer/shipments": RateRule(20, 60),
    "GET /retailer/shipments/*": RateRule(20, 60),
    "GET /retailer/returns": RateRule(20, 60),
    "GET /retailer/returns/*": RateRule(20, 60),
}


@dataclass
class FakeBol:
    """bol's side of one seller account: orders, shipments, returns, tokens and budgets."""

    client_id: str = "fake-bol-client"
    client_secret: str = "fake-bol-secret"  # not a secret: the fake's own test credential
    retailer_id: int = 1234567
    clock: Callable[[], datetime] = wall_clock
    token_lifetime_seconds: int = 299
    rate_rules: Mapping[str, RateRule] = field(default_factory=lambda: dict(DEFAULT_RATE_RULES))
    signing_key: SigningKey = field(default_factory=throwaway_signing_key)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every call of the token endpoint, successful or not: bol blocks callers who overdo it.
    token_requests: int = 0
    #: "METHOD path?query" of every API request that passed authentication, in order.
    requests: list[str] = field(default_factory=list)
    throttled: int = 0
    #: Path -> seconds: the next request on that path is answered 429 with this `Retry-After`
    #: (bol throttles by its own rules; tests use this to throttle on cue).
    throttle_next: dict[str, int] = field(default_factory=dict)
    #: Path -> status: the next request on that path fails with it (a 500, say), once.
    fail_next: dict[str, int] = field(default_factory=dict)
    #: (wall-clock seconds, status, path) of every API request, throttled ones included.
    calls: list[tuple[float, int, str]] = field(default_factory=list)
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _windows: dict[str, deque[datetime]] = field(default_factory=dict)

    # --- changes ---------------------------------------------------------------------------

    def apply(self, step: Step) -> list[Push]:
        """Change the state as bol would; the pushes bol would send about the change."""
        match step:
            case PlaceOrder(at=at, order=order):
                self.orders[order["orderId"]] = orjson.loads(orjson.dumps(order))
                return [self._push("ORDER", order["orderId"], ORDER_PLACED, at)]
            case RequestCancellation(at=at, order_id=order_id, order_item_id=item_id):
                item = self._item(order_id, item_id)
                item["cancellationRequest"] = True
                item["latestChangedDateTime"] = bol_time(at)
                return [self._push("ORDER", order_id, ORDER_CHANGED, at)]
            case CancelItem(at=at, order_id=order_id, order_item_id=item_id):
                item = self._item(order_id, item_id)
                item["quantityCancelled"] = item["quantity"] - item["quantityShipped"]
                item["latestChangedDateTime"] = bol_time(at)
                return [self._push("ORDER", order_id, ORDER_CHANGED, at)]
            case Ship():
                return self._ship(step)
            case RegisterReturn():
                self._register_return(step)
                return []  # v10 has no RETURN push resource: returns are polled
            case HandleReturn():
                self._handle_return(step)
                return []
        raise TypeError(f"not a bol step: {step!r}")

    def apply_all(self, steps: list[Step]) -> list[Push]:
        return [push for step in steps for push in self.apply(step)]

    def _push(self, resource: str, resource_id: str, kind: str, at: datetime) -> Push:
        body = notification(resource, resource_id, kind, at, self.retailer_id)
        return Push(self.signing_key.headers(body), body)

    def _item(self, order_id: str, order_item_id: str) -> dict[str, Any]:
        for item in self.orders[order_id]["orderItems"]:
            if item["orderItemId"] == order_item_id:
                found: dict[str, Any] = item  # the stored dict: callers change it in place
                return found
        raise KeyError(f"order {order_id} has no item {order_item_id}")

    def _ship(self, step: Ship) -> list[Push]:
        order = self.orders[step.order_id]
        shipment_items = []
        for item_id, units in step.items:
            item = self._item(step.order_id, item_id)
            item["quantityShipped"] += units
            item["latestChangedDateTime"] = bol_time(step.at)
            shipment_items.append(
                {
                    "orderItemId": item_id,
                    "fulfilment": {
                        "method": item["fulfilment"]["method"],
                        "distributionParty": item["fulfilment"]["distributionParty"],
                        "latestDeliveryDate": item["fulfilment"]["latestDeliveryDate"],
                    },
                    "offer": item["offer"],
                    "product": item["product"],
                    "quantity": item["quantity"],
                    "quantityShipped": units,
                    "unitPrice": item["unitPrice"],
                    "commission": item["commission"],
                }
            )
        shipment: dict[str, Any] = {
            "shipmentId": step.shipment_id,
            "shipmentDateTime": bol_time(step.at),
            "shipmentReference": f"REF-{step.shipment_id}",
            "pickupPoint": order["pickupPoint"],
            "order": {
                "orderId": step.order_id,
                "orderPlacedDateTime": order["orderPlacedDateTime"],
            },
            "shipmentDetails": order["shipmentDetails"],
            "shipmentItems": shipment_items,
            "transport": {
                "transportId": f"t{step.shipment_id}",
                "transporterCode": step.transporter_code,
                "trackAndTrace": f"3SBOL{step.shipment_id}",
            },
        }
        if "billingDetails" in order:
            shipment["billingDetails"] = order["billingDetails"]
        self.shipments[step.shipment_id] = shipment
        return [
            self._push("SHIPMENT", step.shipment_id, SHIPMENT_CREATED, step.at),
            self._push("ORDER", step.order_id, ORDER_CHANGED, step.at),
        ]

    def _register_return(self, step: RegisterReturn) -> None:
        order = self.orders[step.order_id]
        item = self._item(step.order_id, step.order_item_id)
        self.returns[step.return_id] = {
            "returnId": step.return_id,
            "registrationDateTime": bol_time(step.at),
            "fulfilmentMethod": item["fulfilment"]["method"],
            "returnItems": [
                {
                    "rmaId": step.rma_id,
                    "orderId": step.order_id,
                    "ean": item["product"]["ean"],
                    "title": item["product"]["title"],
                    "expectedQuantity": step.quantity,
                    "returnReason": {
                        "mainReason": step.main_reason,
                        "detailedReason": step.main_reason,
                        "customerComments": step.comments,
                    },
                    "trackAndTrace": f"3SRET{step.rma_id}",
                    "transporterName": "PostNL",
                    "handled": False,
                    "processingResults": [],
                    "customerDetails": {
                        key: order["shipmentDetails"].get(key)
                        for key in ("firstName", "surname", "zipCode", "countryCode")
                    },
                }
            ],
        }

    def _handle_return(self, step: HandleReturn) -> None:
        for ret in self.returns.values():
            for item in ret["returnItems"]:
                if item["rmaId"] == step.rma_id:
                    item["handled"] = True
                    item["processingResults"].append(
                        {
                            "quantity": step.quantity,
                            "processingResult": "ACCEPTED",
                            "handlingResult": step.handling_result,
                            "processingDateTime": bol_time(step.at),
                        }
                    )
                    return
        raise KeyError(f"no return item {step.rma_id}")

    # --- reads -----------------------------------------------------------------------------

    def order_list(
        self,
        method: str,
        status: str,
        change_interval_minute: int | None,
        latest_change_date: date | None,
    ) -> list[dict[str, Any]]:
        """ReducedOrders with the items matching the filters, newest order first."""
        now = self.clock()
        reduced = []
        for order in sorted(
            self.orders.values(),
            key=lambda o: (o["orderPlacedDateTime"], o["orderId"]),
            reverse=True,
        ):
            items = []
            for item in order["orderItems"]:
                changed = datetime.fromisoformat(item["latestChangedDateTime"])
                open_units = item["quantity"] - item["quantityShipped"] - item["quantityCancelled"]
                state = "OPEN" if open_units > 0 else "HANDLED"
                if method != "ALL" and item["fulfilment"]["method"] != method:
                    continue
                if status == "OPEN" and state != "OPEN":
                    continue
                if status == "SHIPPED" and item["quantityShipped"] == 0:
                    continue
                # Handled items leave the list after 48 hours; `latest-change-date` reaches
                # back three months (docs/marketplaces.md §1.3).
                if (
                    state == "HANDLED"
                    and latest_change_date is None
                    and now - changed > HANDLED_VISIBLE_FOR
                ):
                    continue
                if change_interval_minute is not None and now - changed > timedelta(
                    minutes=change_interval_minute
                ):
                    continue
                if latest_change_date is not None and changed.date() != latest_change_date:
                    continue
                items.append(
                    {
                        "orderItemId": item["orderItemId"],
                        "ean": item["product"]["ean"],
                        "fulfilmentMethod": item["fulfilment"]["method"],
                        "fulfilmentStatus": state,
                        "quantity": item["quantity"],
                        "quantityShipped": item["quantityShipped"],
                        "quantityCancelled": item["quantityCancelled"],
                        "cancellationRequest": item["cancellationRequest"],
                        "latestChangedDateTime": item["latestChangedDateTime"],
                    }
                )
            if items:
                reduced.append(
                    {
                        "orderId": order["orderId"],
                        "orderPlacedDateTime": order["orderPlacedDateTime"],
                        "orderItems": items,
                    }
                )
        return reduced

    def shipment_list(self, method: str, order_id: str | None) -> list[dict[str, Any]]:
        """ReducedShipments (no unit counts: fetch the detail), newest first."""
        found = []
        for shipment in sorted(
            self.shipments.values(), key=lambda s: s["shipmentDateTime"], reverse=True
        ):
            if order_id is not None and shipment["order"]["orderId"] != order_id:
                continue
            if shipment["shipmentItems"][0]["fulfilment"]["method"] != method:
                continue
            found.append(
                {
                    "shipmentId": shipment["shipmentId"],
                    "shipmentDateTime": shipment["shipmentDateTime"],
                    "shipmentReference": shipment["shipmentReference"],
                    "order": shipment["order"],
                    "shipmentItems": [
                        {"orderItemId": i["orderItemId"], "ean": i["product"]["ean"]}
                        for i in shipment["shipmentItems"]
                    ],
                    "transport": {"transportId": shipment["transport"]["transportId"]},
                }
            )
        return found

    def return_list(self, method: str, handled: bool) -> list[dict[str, Any]]:
        found = []
        for ret in sorted(
            self.returns.values(), key=lambda r: r["registrationDateTime"], reverse=True
        ):
            if ret["fulfilmentMethod"] != method:
                continue
            items = [
                {
                    key: item[key]
                    for key in (
                        "rmaId",
                        "orderId",
                        "ean",
                        "expectedQuantity",
                        "returnReason",
                        "handled",
                        "processingResults",
                    )
                }
                for item in ret["returnItems"]
                if item["handled"] is handled
            ]
            if items:
                found.append(
                    {
                        **{
                            k: ret[k]
                            for k in ("returnId", "registrationDateTime", "fulfilmentMethod")
                        },
                        "returnItems": items,
                    }
                )
        return found

    # --- tokens and budgets ----------------------------------------------------------------

    def issue_token(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.clock() + timedelta(seconds=self.token_lifetime_seconds)
        return token, self.token_lifetime_seconds

    def token_valid(self, token: str) -> bool:
        expires_at = self._tokens.get(token)
        return expires_at is not None and self.clock() < expires_at

    def spend(self, method: str, path: str) -> tuple[RateRule, int, float] | None:
        """Take one request from the path's budget: (rule, remaining, reset) or None if unlimited.

        `remaining` is -1 when the budget was already spent (the request is refused).
        """
        rule_key = next(
            (key for key in self.rate_rules if fnmatch.fnmatchcase(f"{method} {path}", key)), None
        )
        if rule_key is None:
            return None
        rule = self.rate_rules[rule_key]
        now = self.clock()
        window = self._windows.setdefault(rule_key, deque())
        while window and (now - window[0]).total_seconds() >= rule.window_seconds:
            window.popleft()
        if len(window) >= rule.limit:
            reset = rule.window_seconds - (now - window[0]).total_seconds()
            return rule, -1, reset
        window.append(now)
        reset = rule.window_seconds - (now - window[0]).total_seconds()
        return rule, rule.limit - len(window), reset


# --- HTTP ------------------------------------------------------------------------------------

FAKE = web.AppKey("fake_bol", FakeBol)


def _problem(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """bol's error body (RFC 7807 Problem) in the v10 media type."""
    body = {
        "type": "https://api.bol.com/problems",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type=bol.MEDIA_TYPE,
        headers=headers,
    )


def _json(document: object, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type=bol.MEDIA_TYPE, headers=headers)


@web.middleware
async def _retailer_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication, media type and rate limits, in bol's order, for `/retailer/*`."""
    if not request.path.startswith("/retailer/"):
        return await handler(request)
    fake = request.app[FAKE]
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ").strip()
    if not authorization.startswith("Bearer ") or not fake.token_valid(token):
        return _problem(401, "Unauthorized", "missing, unknown or expired access token")
    if request.headers.get("Accept") != bol.MEDIA_TYPE:
        return _problem(406, "Not Acceptable", f"Accept must be {bol.MEDIA_TYPE}")
    cued = fake.throttle_next.pop(request.path, None)
    if cued is not None:
        fake.throttled += 1
        fake.calls.append((time.time(), 429, request.path))
        return _problem(
            429,
            "Too Many Requests",
            "rate limit exceeded",
            {bol.RETRY_AFTER_HEADER: str(cued), bol.RATE_REMAINING_HEADER: "0"},
        )
    failure = fake.fail_next.pop(request.path, None)
    if failure is not None:
        fake.calls.append((time.time(), failure, request.path))
        return _problem(failure, "Internal Server Error", "something went wrong")
    budget = fake.spend(request.method, request.path)
    limit_headers: dict[str, str] = {}
    if budget is not None:
        rule, remaining, reset = budget
        limit_headers = {
            bol.RATE_LIMIT_HEADER: str(rule.limit),
            bol.RATE_REMAINING_HEADER: str(max(remaining, 0)),
            bol.RATE_RESET_HEADER: str(math.ceil(reset)),
        }
        if remaining < 0:
            fake.throttled += 1
            fake.calls.append((time.time(), 429, request.path))
            retry = {**limit_headers, bol.RETRY_AFTER_HEADER: str(math.ceil(reset))}
            return _problem(429, "Too Many Requests", "rate limit exceeded", retry)
    fake.requests.append(request.path_qs)
    response = await handler(request)
    fake.calls.append((time.time(), response.status, request.path))
    response.headers.update(limit_headers)
    return response


async def _token(request: web.Request) -> web.Response:
    """`POST /token`: client credentials in a Basic header or in the form body."""
    fake = request.app[FAKE]
    fake.token_requests += 1
    form = await request.post()
    grant = request.query.get("grant_type") or form.get("grant_type")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, client_secret = decoded.partition(":")
    if grant != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    if client_id != fake.client_id or client_secret != fake.client_secret:
        return web.json_response({"error": "invalid_client"}, status=401)
    token, lifetime = fake.issue_token()
    return web.json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": "RETAILER"}
    )


def _page(request: web.Request) -> int | web.Response:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        return _problem(400, "Bad Request", "page must be a positive number")
    return int(raw)


def _paged(key: str, items: list[dict[str, Any]], page: int) -> web.Response:
    """50 a page; bol answers an empty page with `{}`."""
    chunk = items[(page - 1) * bol.PAGE_SIZE : page * bol.PAGE_SIZE]
    return _json({key: chunk} if chunk else {})


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str | None:
    value = request.query.get(name, default)
    return value if value in allowed else None


async def _orders(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    page = _page(request)
    if isinstance(page, web.Response):
        return page
    method = _choice(request, "fulfilment-method", ("FBR", "FBB", "ALL"), "FBR")
    status = _choice(request, "status", ("OPEN", "SHIPPED", "ALL"), "OPEN")
    if method is None or status is None:
        return _problem(400, "Bad Request", "unknown fulfilment-method or status")
    interval = request.query.get("change-interval-minute")
    if interval is not None and (not interval.isdigit() or int(interval) < 1):
        return _problem(400, "Bad Request", "change-interval-minute must be a positive number")
    latest = request.query.get("latest-change-date")
    try:
        day = None if latest is None else date.fromisoformat(latest)
    except ValueError:
        return _problem(400, "Bad Request", "latest-change-date must be yyyy-MM-dd")
    minutes = None if interval is None else int(interval)
    return _paged("orders", fake.order_list(method, status, minutes, day), page)


def _one(what: str, table: Callable[[FakeBol], Mapping[str, Any]]) -> Handler:
    """`GET /retailer/<what>s/{<what>_id}`: the stored document, or bol's 404 problem."""

    async def handle(request: web.Request) -> web.Response:
        found = table(request.app[FAKE]).get(request.match_info[f"{what}_id"])
        if found is None:
            return _problem(404, "Not Found", f"{what} not found")
        return _json(found)

    return handle


_order = _one("order", lambda fake: fake.orders)
_shipment = _one("shipment", lambda fake: fake.shipments)
_return = _one("return", lambda fake: fake.returns)


async def _shipments(request: web.Request) -> web.Response:
    page = _page(request)
    if isinstance(page, web.Response):
        return page
    method = _choice(request, "fulfilment-method", ("FBR", "FBB"), "FBR")
    if method is None:
        return _problem(400, "Bad Request", "unknown fulfilment-method")
    found = request.app[FAKE].shipment_list(method, request.query.get("order-id"))
    return _paged("shipments", found, page)


async def _returns(request: web.Request) -> web.Response:
    page = _page(request)
    if isinstance(page, web.Response):
        return page
    method = _choice(request, "fulfilment-method", ("FBR", "FBB"), "FBR")
    handled = _choice(request, "handled", ("true", "false"), "false")
    if method is None or handled is None:
        return _problem(400, "Bad Request", "unknown fulfilment-method or handled")
    return _paged("returns", request.app[FAKE].return_list(method, handled == "true"), page)


async def _signature_keys(request: web.Request) -> web.Response:
    key = request.app[FAKE].signing_key
    return _json(
        {"signatureKeys": [{"id": key.key_id, "type": "RSA", "publicKey": key.public_base64}]}
    )


def create_app(fake: FakeBol | None = None) -> web.Application:
    """The fake at the root of one server: `/token` (login.bol.com) and `/retailer/*`."""
    app = web.Application(middlewares=[_retailer_api])
    app[FAKE] = fake or FakeBol()
    app.router.add_post("/token", _token)
    app.router.add_get("/retailer/orders", _orders)
    app.router.add_get("/retailer/orders/{order_id}", _order)
    app.router.add_get("/retailer/shipments", _shipments)
    app.router.add_get("/retailer/shipments/{shipment_id}", _shipment)
    app.router.add_get("/retailer/returns", _returns)
    app.router.add_get("/retailer/returns/{return_id}", _return)
    app.router.add_get("/retailer/subscriptions/signature-keys", _signature_keys)
    return app


# --- demo traffic ----------------------------------------------------------------------------


def live_story(seed: int, number: int, now: datetime) -> list[Step]:
    """One order story placed `now`; later steps are re-stamped when they are played."""
    offset = timedelta(minutes=7 * (number % 10_000), seconds=number % 53)
    return BolShop(seed=seed + number, start=now - offset).order_story(number)


async def play_demo(
    fake: FakeBol,
    host: str,
    port: int,
    push_url: str | None,
    *,
    seed: int = 1,
    steps_per_second: float = 0.1,
    first_order: int = 1,
    in_flight: int = 6,
) -> None:
    """Serve `fake` on host:port and play order stories into it in real time, forever.

    Each step happens "now" (its time is re-stamped as it is played), so the poller's change
    filter sees it; the pushes bol would send for it are POSTed to `push_url`.
    """

    def play(step: Step, now: datetime) -> list[tuple[bytes, Mapping[str, str]]]:
        return [(push.body, push.headers) for push in fake.apply(dataclasses.replace(step, at=now))]

    await serve_and_play(
        create_app(fake),
        host,
        port,
        lambda number: live_story(seed, number, wall_clock()),
        play,
        push_url,
        seed=seed,
        steps_per_second=steps_per_second,
        first_order=first_order,
        in_flight=in_flight,
    )

"""A fake WooCommerce store: signed webhook deliveries, and the REST API the poller reads.

Two halves sharing one `FakeShop`:

- `WooCommerceStore` generates, from a seed, the webhook deliveries of realistic orders
  (created, paid, completed; cancelled, failed; refunded in part or in full; B2B with a VAT
  number; cross-border with destination VAT or reverse charge) exactly as WooCommerce sends
  them, and the unsigned ping. Every order it generates is also put in its `FakeShop`, as the
  REST API would return it after the last step of its story.
- `fake_api(shop, …)` is an aiohttp application serving `GET /wp-json/wc/v3/orders` (with
  `modified_after`, `dates_are_gmt`, `status`, `orderby`, `order`, `page`, `per_page`, and
  `X-WP-Total` / `X-WP-TotalPages` / `Link` headers), `GET /wp-json/wc/v3/orders/{id}` and
  `GET /wp-json/wc/v3/orders/{id}/refunds`, behind Basic auth with the consumer key and secret.

Wire details kept on purpose, because each one has broken a real integration: bodies are
encoded like PHP's `json_encode` (slashes escaped, non-ASCII as \\u escapes) and signed over
those bytes; `*_gmt` times and site-local times carry no offset; money is strings, `price` a
number; refund line items are negative and name the refunded line in `_refunded_item_id`;
`refunds[]` in an order holds only id, reason and a negative total; the refunds endpoint pages
10 at a time unless asked otherwise; the Delivery-ID is one hash per webhook per second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from engine.dev.simulator import Delivery
from engine.domain.marketplaces import woocommerce
from engine.domain.money import to_cents

USER_AGENT = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"
API_PREFIX = "/wp-json/wc/v3"
BASE_COUNTRY = "NL"
#: (rate id, label, rate) per destination, as a store with OSS tax rates configures them.
TAX_RATES = {
    "NL": (1, "BTW", Decimal("0.21")),
    "BE": (2, "BTW", Decimal("0.21")),
    "DE": (3, "MwSt.", Decimal("0.19")),
    "FR": (4, "TVA", Decimal("0.20")),
    "AT": (5, "USt.", Decimal("0.20")),
}
PRODUCTS = (
    (201, "MUG-BLUE", "Stoneware mug, blue", Decimal("12.95")),
    (202, "TEE-ORG-M", "Organic T-shirt &ndash; M", Decimal("24.50")),
    (203, "BAG-CANVAS", "Canvas tote bag", Decimal("18.00")),
    (204, "LAMP-DESK", "Desk lamp, brass", Decimal("79.00")),
    (205, "NOTE-A5", "Notebook A5, dotted", Decimal("7.25")),
    (206, "TEA-EARL", "Earl Grey tea, 100 g", Decimal("6.40")),
)


@dataclass(frozen=True, slots=True)
class FakeCustomer:
    first_name: str
    last_name: str
    country: str
    city: str
    postcode: str
    company: str = ""
    vat_number: str | None = None


CUSTOMERS = (
    FakeCustomer("Sanne", "de Vries", "NL", "Utrecht", "3511 AA"),
    FakeCustomer("Lukas", "Peeters", "BE", "Gent", "9000"),
    FakeCustomer("Anna", "Schmidt", "DE", "Köln", "50667"),
    FakeCustomer("Camille", "Martin", "FR", "Lille", "59000"),
    FakeCustomer("Emma", "Jansen", "NL", "Zwolle", "8011 AB"),
    FakeCustomer(
        "Joost", "Bakker", "NL", "Amersfoort", "3811 AB", "Bakker Interieur B.V.", "NL853746333B01"
    ),
    FakeCustomer("Marie", "Claes", "BE", "Antwerpen", "2000", "Claes Design BV", "BE0477472701"),
    FakeCustomer("Jonas", "Gruber", "AT", "Wien", "1010", "Gruber Handel GmbH", "ATU13585627"),
)
SHIPPING = ("flat_rate", "PostNL Standaard", Decimal("4.95"))
GIFT_WRAP = ("Cadeauverpakking", Decimal("2.50"))
#: MyWorks Multilocation location ids (the `mw_warehouse` order meta): Utrecht and Antwerpen.
LOCATIONS = ("12", "14")


def php_json(document: Any) -> bytes:
    """JSON as WordPress's `wp_json_encode` writes it: `\\/` for `/`, `\\uXXXX` for non-ASCII."""
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def _gmt(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _money(amount: Decimal) -> str:
    return f"{abs(amount) if amount == 0 else amount:.2f}"  # PHP prints no "-0.00"


def _tax(amount: Decimal) -> str:
    """Line taxes come unformatted, as WooCommerce stores them ("0.9", "4.2")."""
    return format(amount.normalize(), "f")


@dataclass
class FakeShop:
    """What the fake REST API serves: each order's current REST representation, and refunds."""

    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    site_url: str = "https://winkel-demo.example"
    #: The site's UTC offset (WordPress "Timezone" setting): local dates are shown in it.
    site_offset: timedelta = timedelta(0)

    def put(self, order: dict[str, Any]) -> None:
        self.orders[int(order["id"])] = order

    def add_refund(self, order_id: int, refund: dict[str, Any]) -> None:
        self.refunds.setdefault(order_id, []).append(refund)


@dataclass
class WooCommerceStore:
    """Generates the deliveries of one WooCommerce store; `seed` makes the traffic repeatable."""

    store_id: str
    secret: bytes
    site_url: str = "https://winkel-demo.example"
    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    site_offset: timedelta = timedelta(hours=1)  # see FakeShop.site_offset
    fail_share: float = 0.05
    cancel_share: float = 0.08
    refund_share: float = 0.12
    gift_wrap_share: float = 0.1
    #: Deliveries WooCommerce failed to make and never retries; only the poll finds these.
    lost_share: float = 0.0
    webhook_ids: Mapping[str, int] = field(
        default_factory=lambda: {
            woocommerce.CREATED_TOPIC: 11,
            woocommerce.UPDATED_TOPIC: 12,
            woocommerce.DELETED_TOPIC: 13,
            woocommerce.RESTORED_TOPIC: 14,
        }
    )
    shop: FakeShop = field(init=False)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - repeatable traffic, not secrets
        self.shop = FakeShop(site_url=self.site_url, site_offset=self.site_offset)

    # --- deliveries --------------------------------------------------------------------

    def delivery_id(self, webhook_id: int, at: datetime) -> str:
        """`wp_hash(webhook_id . time())`: an MD5 HMAC, the same for a whole second."""
        message = f"{webhook_id}{int(at.timestamp())}".encode()
        return hmac.new(b"fake-wp-salt", message, hashlib.md5).hexdigest()

    def deliver(self, topic: str, document: Mapping[str, Any], at: datetime) -> Delivery:
        body = php_json(document)
        resource, event = topic.split(".", 1)
        webhook_id = self.webhook_ids[topic]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            woocommerce.SOURCE_HEADER: f"{self.site_url.rstrip('/')}/",
            woocommerce.TOPIC_HEADER: topic,
            woocommerce.RESOURCE_HEADER: resource,
            woocommerce.EVENT_HEADER: event,
            woocommerce.SIGNATURE_HEADER: woocommerce.sign(body, self.secret),
            woocommerce.WEBHOOK_ID_HEADER: str(webhook_id),
            woocommerce.DELIVERY_HEADER: self.delivery_id(webhook_id, at),
        }
        return Delivery(self.store_id, topic, headers, body)

    def ping(self, topic: str = woocommerce.CREATED_TOPIC) -> Delivery:
        """What saving the webhook for `topic` sends: unsigned, form-encoded, no WC headers."""
        headers = {"Content-Type": woocommerce.FORM_CONTENT_TYPE, "User-Agent": USER_AGENT}
        body = f"webhook_id={self.webhook_ids[topic]}".encode()
        return Delivery(self.store_id, "ping", headers, body)

    def deleted(self, order_id: int, at: datetime) -> Delivery:
        """`order.deleted` (the order was trashed): the body is the id alone."""
        order = self.shop.orders.get(order_id)
        if order is not None:
            self.shop.put(self._stamp(order, at, status="trash"))
        return self.deliver(woocommerce.DELETED_TOPIC, {"id": order_id}, at)

    def restored(self, order_id: int, status: str, at: datetime) -> Delivery:
        """`order.restored`: the order is back from the trash, with its status before it."""
        order = self._stamp(self.shop.orders[order_id], at, status=status)
        self.shop.put(order)
        return self.deliver(woocommerce.RESTORED_TOPIC, order, at)

    # --- stories -----------------------------------------------------------------------

    def order_story(self, order_id: int) -> list[Delivery]:
        """All deliveries of one order, in the order WooCommerce would send them."""
        rng = self._rng
        created = self.start + timedelta(seconds=order_id % 86_400)
        customer = rng.choice(CUSTOMERS)
        picks = rng.sample(PRODUCTS, rng.randint(1, 3))
        items = [(product, rng.randint(1, 3)) for product in picks]
        order = self.new_order(
            order_id,
            created,
            customer,
            items,
            gift_wrap=rng.random() < self.gift_wrap_share,
            location=rng.choice((None, *LOCATIONS)),
        )
        deliveries = [self.deliver(woocommerce.CREATED_TOPIC, order, created)]

        def update(at: datetime, **changes: Any) -> None:
            nonlocal order
            order = self._stamp(order, at, **changes)
            self.shop.put(order)
            deliveries.append(self.deliver(woocommerce.UPDATED_TOPIC, order, at))

        paid_at = created + timedelta(minutes=2)
        if rng.random() < self.fail_share:
            update(paid_at, status="failed")
            return self._lose_some(deliveries)
        update(
            paid_at,
            status="processing",
            date_paid=self._local(paid_at),
            date_paid_gmt=_gmt(paid_at),
            transaction_id=f"tr_{order_id:08d}",
            needs_payment=False,
        )
        if rng.random() < self.cancel_share:
            update(paid_at + timedelta(hours=1), status="cancelled")
            return self._lose_some(deliveries)
        completed_at = paid_at + timedelta(hours=20)
        update(
            completed_at,
            status="completed",
            date_completed=self._local(completed_at),
            date_completed_gmt=_gmt(completed_at),
        )
        if rng.random() < self.refund_share:
            refunded_at = completed_at + timedelta(days=3)
            whole = rng.random() < 0.3
            refund = self.refund(order, refund_id=order_id * 10 + 1, at=refunded_at, whole=whole)
            self.shop.add_refund(order_id, refund)
            listed = [
                {"id": refund["id"], "reason": refund["reason"], "total": f"-{refund['amount']}"}
            ]
            update(
                refunded_at,
                status="refunded" if whole else "completed",
                refunds=listed + list(order["refunds"]),
            )
        return self._lose_some(deliveries)

    def stories(self, first_order_id: int = 1001) -> Iterator[list[Delivery]]:
        order_id = first_order_id
        while True:
            yield self.order_story(order_id)
            order_id += 1

    def _lose_some(self, deliveries: list[Delivery]) -> list[Delivery]:
        if not self.lost_share:
            return deliveries
        return [d for d in deliveries if self._rng.random() >= self.lost_share]

    # --- documents ---------------------------------------------------------------------

    def _local(self, at: datetime) -> str:
        return (
            (at.astimezone(UTC) + self.site_offset).replace(tzinfo=None, microsecond=0).isoformat()
        )

    def _stamp(self, order: Mapping[str, Any], at: datetime, **changes: Any) -> dict[str, Any]:
        return {
            **order,
            **changes,
            "date_modified": self._local(at),
            "date_modified_gmt": _gmt(at),
        }

    def new_order(
        self,
        order_id: int,
        created: datetime,
        customer: FakeCustomer,
        items: list[tuple[tuple[int, str, str, Decimal], int]],
        *,
        gift_wrap: bool = False,
        location: str | None = None,
    ) -> dict[str, Any]:
        """A pending order as `GET /wp-json/wc/v3/orders/{id}` returns it; also put in the shop.

        Prices include VAT and are set for the Netherlands. Elsewhere in the EU the net price
        stays and the destination's rate applies (OSS); a business abroad with a VAT number
        pays the net price without VAT (reverse charge), as EU VAT plugins do it.
        """
        country = customer.country
        reverse_charge = bool(customer.vat_number) and country != BASE_COUNTRY
        rate_id, label, rate = TAX_RATES[country]
        base_rate = TAX_RATES[BASE_COUNTRY][2]

        def split(gross: Decimal) -> tuple[Decimal, Decimal]:
            net = to_cents(gross / (1 + base_rate))
            if reverse_charge:
                return net, Decimal("0.00")
            if country == BASE_COUNTRY:
                return net, gross - net
            return net, to_cents(net * rate)

        def taxes(tax: Decimal) -> list[dict[str, Any]]:
            return (
                []
                if reverse_charge
                else [{"id": rate_id, "total": _tax(tax), "subtotal": _tax(tax)}]
            )

        line_items: list[dict[str, Any]] = []
        for index, ((product_id, sku, name, price), quantity) in enumerate(items, start=1):
            net, tax = split(price * quantity)
            line_items.append(
                {
                    "id": order_id * 100 + index,
                    "name": name,
                    "product_id": product_id,
                    "variation_id": 0,
                    "quantity": quantity,
                    "tax_class": "",
                    "subtotal": _money(net),
                    "subtotal_tax": _money(tax),
                    "total": _money(net),
                    "total_tax": _money(tax),
                    "taxes": taxes(tax),
                    "meta_data": [],
                    "sku": sku,
                    "price": float(net / quantity),
                    "image": {"id": 0, "src": ""},
                    "parent_name": None,
                }
            )
        method_id, method_title, shipping_gross = SHIPPING
        shipping_net, shipping_tax = split(shipping_gross)
        shipping_lines = [
            {
                "id": order_id * 100 + 90,
                "method_title": method_title,
                "method_id": method_id,
                "instance_id": "1",
                "total": _money(shipping_net),
                "total_tax": _money(shipping_tax),
                "taxes": taxes(shipping_tax),
                "meta_data": [],
            }
        ]
        fee_lines: list[dict[str, Any]] = []
        if gift_wrap:
            fee_name, fee_gross = GIFT_WRAP
            fee_net, fee_tax = split(fee_gross)
            fee_lines.append(
                {
                    "id": order_id * 100 + 95,
                    "name": fee_name,
                    "tax_class": "",
                    "tax_status": "taxable",
                    "amount": _money(fee_gross),
                    "total": _money(fee_net),
                    "total_tax": _money(fee_tax),
                    "taxes": taxes(fee_tax),
                    "meta_data": [],
                }
            )
        cart_tax = sum((Decimal(i["total_tax"]) for i in (*line_items, *fee_lines)), Decimal(0))
        net_total = sum((Decimal(i["total"]) for i in (*line_items, *fee_lines)), Decimal(0))
        tax_lines = []
        if not reverse_charge:
            tax_lines.append(
                {
                    "id": order_id * 100 + 99,
                    "rate_code": f"{country}-{label.upper().rstrip('.')}-1",
                    "rate_id": rate_id,
                    "label": label,
                    "compound": False,
                    "tax_total": _money(cart_tax),
                    "shipping_tax_total": _money(shipping_tax),
                    "rate_percent": float(rate * 100),
                    "meta_data": [],
                }
            )
        meta_data: list[dict[str, Any]] = []
        if customer.vat_number:
            meta_data.append(
                {
                    "id": order_id * 10 + 1,
                    "key": "_billing_vat_number",
                    "value": customer.vat_number,
                }
            )
        if location:
            meta_data.append({"id": order_id * 10 + 2, "key": "mw_warehouse", "value": location})
        email = f"{customer.first_name.lower()}.{customer.last_name.lower().replace(' ', '')}"
        address = {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "company": customer.company,
            "address_1": "Stationsplein 1",
            "address_2": "",
            "city": customer.city,
            "state": "",
            "postcode": customer.postcode,
            "country": country,
        }
        order = {
            "id": order_id,
            "parent_id": 0,
            "status": "pending",
            "currency": "EUR",
            "version": "9.4.2",
            "prices_include_tax": True,
            "date_created": self._local(created),
            "date_modified": self._local(created),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": _money(shipping_net),
            "shipping_tax": _money(shipping_tax),
            "cart_tax": _money(cart_tax),
            "total": _money(net_total + cart_tax + shipping_net + shipping_tax),
            "total_tax": _money(cart_tax + shipping_tax),
            "customer_id": 0,
            "order_key": f"wc_order_{hashlib.sha1(str(order_id).encode()).hexdigest()[:13]}",  # noqa: S324 - a fake key
            "billing": {**address, "email": f"{email}@example.com", "phone": "+31 30 123 4567"},
            "shipping": {**address, "phone": ""},
            "payment_method": "mollie_wc_gateway_ideal",
            "payment_method_title": "iDEAL",
            "transaction_id": "",
            "customer_ip_address": "192.0.2.10",
            "customer_user_agent": "Mozilla/5.0",
            "created_via": "checkout",
            "customer_note": "",
            "date_completed": None,
            "date_paid": None,
            "cart_hash": hashlib.md5(str(order_id).encode()).hexdigest(),  # noqa: S324 - a fake hash
            "number": str(order_id),
            "meta_data": meta_data,
            "line_items": line_items,
            "tax_lines": tax_lines,
            "shipping_lines": shipping_lines,
            "fee_lines": fee_lines,
            "coupon_lines": [],
            "refunds": [],
            "payment_url": f"{self.site_url}/checkout/order-pay/{order_id}/",
            "is_editable": True,
            "needs_payment": True,
            "needs_processing": True,
            "date_created_gmt": _gmt(created),
            "date_modified_gmt": _gmt(created),
            "date_completed_gmt": None,
            "date_paid_gmt": None,
            "currency_symbol": "€",
            "_links": {
                "self": [{"href": f"{self.site_url}{API_PREFIX}/orders/{order_id}"}],
                "collection": [{"href": f"{self.site_url}{API_PREFIX}/orders"}],
            },
        }
        self.shop.put(order)
        return order

    def refund(
        self, order: Mapping[str, Any], *, refund_id: int, at: datetime, whole: bool
    ) -> dict[str, Any]:
        """A refund as `GET /orders/{id}/refunds` lists it: one unit of the first line, or
        every line and the shipping (`whole`). Refund lines are negative and point back at
        the order line in `_refunded_item_id`."""
        order_url = f"{self.site_url}{API_PREFIX}/orders/{order['id']}"
        lines = order["line_items"] if whole else order["line_items"][:1]
        refund_lines = []
        amount = Decimal(0)
        for number, line in enumerate(lines, start=1):
            quantity = line["quantity"] if whole else 1
            total = to_cents(Decimal(line["total"]) * quantity / line["quantity"])
            tax = to_cents(Decimal(line["total_tax"]) * quantity / line["quantity"])
            amount += total + tax
            refund_lines.append(
                {
                    "id": refund_id * 100 + number,
                    "name": line["name"],
                    "product_id": line["product_id"],
                    "variation_id": line["variation_id"],
                    "quantity": -quantity,
                    "tax_class": "",
                    "subtotal": _money(-total),
                    "subtotal_tax": _money(-tax),
                    "total": _money(-total),
                    "total_tax": _money(-tax),
                    "taxes": [
                        {"id": t["id"], "total": _tax(-tax), "subtotal": _tax(-tax)}
                        for t in line["taxes"]
                    ],
                    "meta_data": [
                        {
                            "id": refund_id * 100 + 50 + number,
                            "key": "_refunded_item_id",
                            "value": str(line["id"]),
                            "display_key": "_refunded_item_id",
                            "display_value": str(line["id"]),
                        }
                    ],
                    "sku": line["sku"],
                    "price": -float(total / quantity),
                }
            )
        shipping_refunds = []
        if whole:
            for number, shipping in enumerate(order["shipping_lines"], start=1):
                total, tax = Decimal(shipping["total"]), Decimal(shipping["total_tax"])
                amount += total + tax
                shipping_refunds.append(
                    {
                        "id": refund_id * 100 + 80 + number,
                        "method_title": shipping["method_title"],
                        "method_id": shipping["method_id"],
                        "total": _money(-total),
                        "total_tax": _money(-tax),
                        "taxes": [],
                        "meta_data": [
                            {"id": 0, "key": "_refunded_item_id", "value": str(shipping["id"])}
                        ],
                    }
                )
            amount = Decimal(order["total"])  # fees too: a whole refund gives back the total
        return {
            "id": refund_id,
            "date_created": self._local(at),
            "date_created_gmt": _gmt(at),
            "amount": _money(amount),
            "reason": "Hele bestelling retour" if whole else "Beschadigd ontvangen",
            "refunded_by": 1,
            "refunded_payment": True,
            "meta_data": [],
            "line_items": refund_lines,
            "shipping_lines": shipping_refunds,
            "tax_lines": [],
            "fee_lines": [],
            "_links": {
                "self": [{"href": f"{order_url}/refunds/{refund_id}"}],
                "up": [{"href": order_url}],
            },
        }


# --- the REST API ----------------------------------------------------------------------------

SHOP = web.AppKey("woocommerce_shop", FakeShop)
AUTHORIZATION = web.AppKey("woocommerce_authorization", str)
DEFAULT_PER_PAGE = 10
ORDERBY: dict[str, Callable[[dict[str, Any]], Any]] = {
    "date": lambda o: (o["date_created_gmt"], o["id"]),
    "modified": lambda o: (o["date_modified_gmt"], o["id"]),
    "id": lambda o: o["id"],
}


def _error(status: int, code: str, message: str, **data: Any) -> web.Response:
    return _json({"code": code, "message": message, "data": {"status": status, **data}}, status)


def _json(
    document: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=php_json(document),
        status=status,
        content_type="application/json",
        charset="UTF-8",
        headers=headers,
    )


class _BadParam(Exception):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(name)
        self.name, self.why = name, why


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadParam(name, f"{name} is not of type integer.") from None
    if not low <= value <= high:
        raise _BadParam(name, f"{name} must be between {low} (inclusive) and {high} (inclusive)")
    return value


def _bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in {"true", "1", "false", "0"}:
        raise _BadParam(name, f"{name} is not of type boolean.")
    return raw in {"true", "1"}


def _authorised(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), request.app[AUTHORIZATION].encode())


def _naive(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def _window_start(raw: str, gmt: bool, offset: timedelta) -> datetime:
    """`modified_after` in the frame it is compared in: UTC or the site's local time."""
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        return moment
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment if gmt else moment + offset


def _paged(
    request: web.Request, items: list[dict[str, Any]], page: int, per_page: int
) -> web.Response:
    total = len(items)
    pages = math.ceil(total / per_page)
    links = []
    if page > 1:
        links.append(f'<{request.url.update_query(page=page - 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{request.url.update_query(page=page + 1)}>; rel="next"')
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    if links:
        headers["Link"] = ", ".join(links)
    return _json(items[(page - 1) * per_page : page * per_page], headers=headers)


async def _list_orders(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    shop = request.app[SHOP]
    try:
        page = _int_param(request, "page", 1, 1, 2**31)
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, 100)
        gmt = _bool_param(request, "dates_are_gmt")
        orderby = request.query.get("orderby", "date")
        if orderby not in ORDERBY:
            raise _BadParam("orderby", f"orderby is not one of {', '.join(ORDERBY)}.")
        direction = request.query.get("order", "desc")
        if direction not in {"asc", "desc"}:
            raise _BadParam("order", "order is not one of asc, desc.")
        after = request.query.get("modified_after")
        try:
            start = None if after is None else _window_start(after, gmt, shop.site_offset)
        except ValueError:
            raise _BadParam("modified_after", "Invalid date.") from None
    except _BadParam as bad:
        return _error(
            400,
            "rest_invalid_param",
            f"Invalid parameter(s): {bad.name}",
            params={bad.name: bad.why},
        )
    statuses = set(request.query.get("status", "any").split(","))
    orders = [
        order
        for order in shop.orders.values()
        if (order["status"] in statuses or ("any" in statuses and order["status"] != "trash"))
        and (
            start is None or _naive(order["date_modified_gmt" if gmt else "date_modified"]) > start
        )
    ]
    orders.sort(key=ORDERBY[orderby], reverse=direction == "desc")
    return _paged(request, orders, page, per_page)


async def _get_order(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    order = request.app[SHOP].orders.get(int(request.match_info["order_id"]))
    if order is None:
        return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return _json(order)


async def _list_refunds(request: web.Request) -> web.Response:
    if not _authorised(request):
        return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    shop = request.app[SHOP]
    order_id = int(request.match_info["order_id"])
    if order_id not in shop.orders:
        return _error(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
    try:
        page = _int_param(request, "page", 1, 1, 2**31)
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, 100)
    except _BadParam as bad:
        return _error(
            400,
            "rest_invalid_param",
            f"Invalid parameter(s): {bad.name}",
            params={bad.name: bad.why},
        )
    newest_first = sorted(
        shop.refunds.get(order_id, []), key=lambda r: (r["date_created_gmt"], r["id"]), reverse=True
    )
    return _paged(request, newest_first, page, per_page)


def fake_api(shop: FakeShop, *, consumer_key: str, consumer_secret: str) -> web.Application:
    """The WooCommerce REST API (v3) over `shop`, for the poller's tests and the simulator."""
    app = web.Application()
    app[SHOP] = shop
    app[AUTHORIZATION] = woocommerce.basic_auth(consumer_key, consumer_secret)
    app.router.add_get(f"{API_PREFIX}/orders", _list_orders)
    app.router.add_get(f"{API_PREFIX}/orders/{{order_id:\\d+}}", _get_order)
    app.router.add_get(f"{API_PREFIX}/orders/{{order_id:\\d+}}/refunds", _list_refunds)
    return app

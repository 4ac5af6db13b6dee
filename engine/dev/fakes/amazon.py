"""A fake Amazon SP-API (Orders v0 and v2026-01-01, Finances v0), Login with Amazon, orders.

Speaks the wire format of docs/marketplaces.md §2 (and the v0 models where that page is
silent): `POST /auth/o2/token` (refresh-token grant, form-encoded), `getOrders`
(`LastUpdatedAfter`/`CreatedAfter`, `NextToken`, `payload.Orders`, `LastUpdatedBefore`),
`getOrder`, `getOrderItems` (`NextToken`), `listFinancialEventsByOrderId`; `x-amz-access-token`
on every call; errors as `{"errors": [{"code", "message", "details"}]}`; 429 `QuotaExceeded`
with `x-amzn-RateLimit-Limit` and `x-amzn-RequestId` once an operation's token bucket is empty.

Three parts, like the bol fake:

- `AmazonShop`: pure, seeded generation of order stories as steps: AFN and MFN, business
  buyers with a VAT id, cross-border buyers, deemed-supplier (UOSS) and IOSS orders, Amazon
  Business as seller of record, cancellations (some at the buyer's request), and partial
  shipments.
- `FakeAmazon`: the seller account's state; `apply(step)` changes it as Amazon would and
  returns the `ORDER_CHANGE` notifications Amazon would queue for that change.
- `create_app(fake)`: the aiohttp application serving that state.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import random
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from engine.dev.fakes._play import FakeClock as FakeClock
from engine.dev.fakes._play import StoryShop, serve_and_play, wall_clock
from engine.domain.marketplaces import amazon

MARKETPLACE_IDS = {"DE": "A1PA6795UKMFR9", "FR": "A13V1IB3VIYZZH", "NL": "A1805IZSGTT6HS"}
SELLER_ID = "A3TH9S8BH6GOGM"
APPLICATION_ID = "amzn1.sellerapps.app.0b5f2a77-6f6e-4c3a-9d7e-fake00000001"
CENT = Decimal("0.01")
#: Destination rates for the generated prices (docs/marketplaces.md §5.2, standard rates 2026).
STANDARD_RATES = {
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "BE": Decimal("0.21"),
    "AT": Decimal("0.20"),
    "IT": Decimal("0.22"),
    "ES": Decimal("0.21"),
    "PL": Decimal("0.23"),
}
#: Fees the generator posts: commission share of the gross, FBA per-unit fee.
COMMISSION = Decimal("0.15")
FBA_PER_UNIT = Decimal("3.10")
FBA_WAREHOUSES = ("DE", "PL", "CZ")


def amazon_time(moment: datetime) -> str:
    return amazon.amazon_time(moment)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(amount: Decimal, currency: str = "EUR") -> dict[str, str]:
    """Orders API `Money`: the amount as a string."""
    return {"CurrencyCode": currency, "Amount": str(_cents(amount))}


def _currency(amount: Decimal, currency: str = "EUR") -> dict[str, Any]:
    """Finances API `Currency`: the amount as a JSON number."""
    return {"CurrencyCode": currency, "CurrencyAmount": float(_cents(amount))}


# --- steps -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    at: datetime
    order: dict[str, Any]  # the v0 Order as placed (Pending)
    items: tuple[dict[str, Any], ...]
    address: dict[str, Any]  # ShippingAddress, shown once the payment is authorised


@dataclass(frozen=True, slots=True)
class AuthorisePayment:
    """Pending -> Unshipped: the address becomes visible."""

    at: datetime
    order_id: str


@dataclass(frozen=True, slots=True)
class Ship:
    """Units of items leave the warehouse (FBA) or the seller confirms a shipment (MFN)."""

    at: datetime
    order_id: str
    items: tuple[tuple[str, int], ...]
    #: The address a merchant-fulfilled package leaves from (v0 `Address` keys), where it is
    #: not the order's `DefaultShipFromLocationAddress`: stock in a second country.
    ship_from: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    at: datetime
    order_id: str
    buyer_requested: bool = False


Step = PlaceOrder | AuthorisePayment | Ship | Cancel


# --- generator ---------------------------------------------------------------------------------

#: (SKU, ASIN, title, gross unit price in the buyer's currency incl. VAT)
PRODUCTS = (
    ("MUG-BLUE", "B0FAKEMUG1", "Stoneware mug, blue", Decimal("14.95")),
    ("TEE-ORG-M", "B0FAKETEE1", "Organic cotton T-shirt, M", Decimal("24.50")),
    ("LAMP-DESK", "B0FAKELMP1", "Desk lamp, brass", Decimal("79.00")),
    ("NOTE-A5", "B0FAKENTB1", "Notebook A5, dotted", Decimal("7.25")),
    ("TEAPOT-CI", "B0FAKEPOT1", "Cast-iron teapot", Decimal("34.99")),
)
#: (name, street, postal code, city, country)
BUYERS = (
    ("Lena Schmidt", "Hauptstraße 5", "50667", "Köln", "DE"),
    ("Jonas Weber", "Bergmannstraße 12", "10961", "Berlin", "DE"),
    ("Camille Dubois", "Rue de la République 7", "69002", "Lyon", "FR"),
    ("Sanne de Vries", "Oudegracht 12", "3511 AB", "Utrecht", "NL"),
    ("Marco Rossi", "Via Roma 3", "20121", "Milano", "IT"),
    ("Anna Gruber", "Mariahilfer Straße 40", "1070", "Wien", "AT"),
)
#: (company, VAT number, country)
BUSINESSES = (
    ("Schmidt Bürobedarf GmbH", "DE136695976", "DE"),
    ("Atelier Dubois SARL", "FR40303265045", "FR"),
    ("Bakker Interieur B.V.", "NL859123456B01", "NL"),
)


@dataclass
class AmazonShop(StoryShop):
    """Generates the order stories of one seller on one Amazon marketplace; `seed` repeats.

    Each story: placed (Pending), payment authorised (Unshipped) or, rarely, cancelled before
    that; then cancelled (some at the buyer's request), or shipped: AFN in one go from an FBA
    warehouse, MFN in one go or, for orders of several items, item by item (PartiallyShipped).
    """

    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    marketplace_country: str = "DE"
    first_order_number: int = 1
    afn_share: float = 0.4
    business_share: float = 0.15
    cross_border_share: float = 0.3
    deemed_share: float = 0.05
    ioss_share: float = 0.03
    sold_by_ab_share: float = 0.02

    @property
    def marketplace_id(self) -> str:
        return MARKETPLACE_IDS[self.marketplace_country]

    def order_id(self, number: int) -> str:
        """Amazon's 3-7-7 order id; the middle and last parts carry `number`."""
        return f"028-{number % 10_000_000:07d}-{(number * 7919) % 10_000_000:07d}"

    def stories(self, count: int) -> list[list[Step]]:
        return [self.order_story(self.first_order_number + n) for n in range(count)]

    def order_story(self, number: int) -> list[Step]:
        rng = self._rng
        order_id = self.order_id(number)
        placed = self.start + timedelta(minutes=5 * (number % 20_000), seconds=number % 47)
        channel = "AFN" if rng.random() < self.afn_share else "MFN"
        business = rng.random() < self.business_share
        if business:
            company, vat_id, country = rng.choice(BUSINESSES)
            name = company
        else:
            company, vat_id = "", ""
            home = [b for b in BUYERS if b[4] == self.marketplace_country]
            abroad = [b for b in BUYERS if b[4] != self.marketplace_country]
            pool = abroad if rng.random() < self.cross_border_share or not home else home
            name, _, _, _, country = rng.choice(pool)
        buyer = next((b for b in BUYERS if b[4] == country), BUYERS[0])
        address: dict[str, Any] = {
            "Name": name if not business else buyer[0],
            "AddressLine1": buyer[1],
            "City": buyer[3],
            "PostalCode": buyer[2],
            "CountryCode": country,
            "AddressType": "Commercial" if business else "Residential",
        }
        if business:
            address["CompanyName"] = company
        # Cross-border B2B with a VAT id: no VAT charged (intra-Community supply).
        reverse_charge = business and country != self.marketplace_country
        rate = Decimal(0) if reverse_charge else STANDARD_RATES.get(country, Decimal("0.19"))
        collected = self._collection(rng, business)
        picks = rng.sample(PRODUCTS, rng.randint(1, 3))
        items = []
        for index, (sku, asin, title, unit) in enumerate(picks, start=1):
            quantity = rng.randint(1, 2)
            price = unit * quantity
            promotion = Decimal("2.00") if rng.random() < 0.2 else Decimal(0)
            shipping = Decimal("4.90") if index == 1 and channel == "MFN" else Decimal(0)
            items.append(
                self._item(
                    order_id, index, sku, asin, title, quantity, price, promotion, shipping, rate
                )
            )
            items[-1].update(collected.get("item", {}))
        total = sum(
            (
                Decimal(i["ItemPrice"]["Amount"])
                - Decimal(i["PromotionDiscount"]["Amount"])
                + Decimal(i["ShippingPrice"]["Amount"])
                for i in items
            ),
            Decimal(0),
        )
        order: dict[str, Any] = {
            "AmazonOrderId": order_id,
            "SellerOrderId": order_id,
            "PurchaseDate": amazon_time(placed),
            "LastUpdateDate": amazon_time(placed),
            "OrderStatus": "Pending",
            "FulfillmentChannel": channel,
            "SalesChannel": f"Amazon.{self.marketplace_country.lower()}",
            "ShipServiceLevel": "Std DE Dom" if channel == "MFN" else "Expedited",
            "OrderTotal": _money(total),
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": sum(i["QuantityOrdered"] for i in items),
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": self.marketplace_id,
            "OrderType": "StandardOrder",
            "EarliestShipDate": amazon_time(placed + timedelta(days=1)),
            "LatestShipDate": amazon_time(placed + timedelta(days=2)),
            "IsBusinessOrder": business,
            "IsPrime": channel == "AFN",
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": "false",
            "IsSoldByAB": bool(collected.get("sold_by_ab")),
            "IsIBA": bool(collected.get("sold_by_ab")),
            "IsISPU": False,
            "IsAccessPointOrder": False,
            "BuyerInfo": self._buyer(order_id, buyer[0], company, vat_id, country),
        }
        if channel == "MFN":
            order["DefaultShipFromLocationAddress"] = {
                "Name": "Winkel Demo B.V.",
                "AddressLine1": "Keizersgracht 1",
                "City": "Amsterdam",
                "PostalCode": "1015 CJ",
                "CountryCode": "NL",
            }
        steps: list[Step] = [PlaceOrder(placed, order, tuple(items), address)]
        at = placed
        if rng.random() < self.cancel_share / 3:
            steps.append(Cancel(at + timedelta(minutes=30), order_id))
            return steps  # never authorised
        at += timedelta(minutes=rng.randint(1, 20))
        steps.append(AuthorisePayment(at, order_id))
        if rng.random() < self.cancel_share:
            buyer_requested = rng.random() < 0.5
            steps.append(Cancel(at + timedelta(hours=2), order_id, buyer_requested))
            return steps
        item_units = [(i["OrderItemId"], i["QuantityOrdered"]) for i in items]
        if channel == "MFN" and len(item_units) > 1 and rng.random() < self.split_share:
            for index, pair in enumerate(item_units, start=1):
                steps.append(Ship(at + timedelta(hours=20 * index), order_id, (pair,)))
        else:
            steps.append(
                Ship(at + timedelta(hours=rng.randint(4, 30)), order_id, tuple(item_units))
            )
        return steps

    def _collection(self, rng: random.Random, business: bool) -> dict[str, Any]:
        """Marketplace-collected VAT: only for consumers (Amazon leaves B2B to the seller)."""
        if business:
            return {}
        roll = rng.random()
        if roll < self.deemed_share:
            return {"item": {"DeemedResellerCategory": "UOSS"}}
        if roll < self.deemed_share + self.ioss_share:
            return {"item": {"DeemedResellerCategory": "IOSS", "IossNumber": "IM2760000742"}}
        if roll < self.deemed_share + self.ioss_share + self.sold_by_ab_share:
            return {"sold_by_ab": True}
        return {}

    def _buyer(
        self, order_id: str, name: str, company: str, vat_id: str, country: str
    ) -> dict[str, Any]:
        alias = uuid.uuid5(uuid.NAMESPACE_URL, order_id).hex[:12]
        buyer: dict[str, Any] = {
            "BuyerEmail": f"{alias}@marketplace.amazon.{self.marketplace_country.lower()}",
            "BuyerName": name,
        }
        if vat_id:
            # Amazon documents BuyerTaxInfo for BR, MX and IN only (docs/marketplaces.md §2.1);
            # the fake fills it for EU business buyers so the engine's VAT-id path can be
            # exercised.
            buyer["BuyerTaxInfo"] = {
                "CompanyLegalName": company,
                "TaxingRegion": country,
                "TaxClassifications": [{"Name": "VATNumber", "Value": vat_id}],
            }
        return buyer

    @staticmethod
    def _item(
        order_id: str,
        index: int,
        sku: str,
        asin: str,
        title: str,
        quantity: int,
        price: Decimal,
        promotion: Decimal,
        shipping: Decimal,
        rate: Decimal,
    ) -> dict[str, Any]:
        def tax(gross: Decimal) -> Decimal:
            return _cents(gross * rate / (1 + rate))

        digits = "".join(ch for ch in order_id if ch.isdigit())
        item: dict[str, Any] = {
            "ASIN": asin,
            "SellerSKU": sku,
            "OrderItemId": f"{digits[-12:]}{index:02d}",
            "Title": title,
            "QuantityOrdered": quantity,
            "QuantityShipped": 0,
            "ProductInfo": {"NumberOfItems": "1"},
            "ItemPrice": _money(price),
            "ItemTax": _money(tax(price)),
            "ShippingPrice": _money(shipping),
            "ShippingTax": _money(tax(shipping)),
            "ShippingDiscount": _money(Decimal(0)),
            "ShippingDiscountTax": _money(Decimal(0)),
            "PromotionDiscount": _money(promotion),
            "PromotionDiscountTax": _money(tax(promotion)),
            "ConditionId": "New",
            "IsGift": "false",
            "IsTransparency": False,
        }
        if promotion:
            item["PromotionIds"] = ["WINTER-DEAL"]
        return item


def package(
    order: dict[str, Any],
    number: int,
    at: datetime,
    units: tuple[tuple[str, int], ...],
    ship_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A merchant-fulfilled package as `packages[]` shows it once handed to the carrier."""
    ship_from = ship_from or order.get("DefaultShipFromLocationAddress") or {}
    reference = f"{order['AmazonOrderId']}-P{number}"
    return {
        "packageReferenceId": reference,
        "createdTime": amazon_time(at),
        "packageStatus": {"status": "SHIPPED", "detailedStatus": "PICKED_UP"},
        "carrier": "DHL",
        "shipTime": amazon_time(at),
        "trackingNumber": f"00340434{uuid.uuid5(uuid.NAMESPACE_URL, reference).int % 10**10:010d}",
        "shipFromAddress": {
            "name": ship_from.get("Name", ""),
            "addressLine1": ship_from.get("AddressLine1", ""),
            "city": ship_from.get("City", ""),
            "postalCode": ship_from.get("PostalCode", ""),
            "countryCode": ship_from.get("CountryCode", ""),
        },
        "packageItems": [{"orderItemId": item_id, "quantity": n} for item_id, n in units],
    }


# --- the marketplace's state -------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    at: datetime


@dataclass
class FakeAmazon:
    """Amazon's side of one seller account: orders, items, financial events, tokens, quotas."""

    client_id: str = "amzn1.application-oa2-client.fake"
    client_secret: str = "fake-lwa-secret"  # not a secret: the fake's own test credential
    refresh_token: str = "Atzr|fake-refresh-token"
    clock: Callable[[], datetime] = wall_clock
    token_lifetime_seconds: int = 3600
    #: operation -> (rate per second, burst); an empty mapping switches quotas off.
    usage_plans: Mapping[str, tuple[float, int]] = field(
        default_factory=lambda: {
            name: (plan.rate, plan.burst) for name, plan in amazon.DEFAULT_RATES.items()
        }
    )
    orders_page_size: int = 100
    items_page_size: int = 100
    notify_on_creation: bool = True
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    finances: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    #: Orders API v2026 `packages[]` of merchant-fulfilled orders, one per `Ship` step.
    packages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    token_requests: int = 0
    #: "operation path?query" of every call that passed authentication and quota.
    requests: list[str] = field(default_factory=list)
    throttled: int = 0
    _addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    # --- changes -----------------------------------------------------------------------------

    def apply(self, step: Step) -> list[dict[str, Any]]:
        """Change the state as Amazon would; the ORDER_CHANGE notifications it would queue."""
        match step:
            case PlaceOrder(at=at, order=order, items=items, address=address):
                order_id = order["AmazonOrderId"]
                self.orders[order_id] = orjson.loads(orjson.dumps(order))
                # the step's time is the purchase (a demo re-stamps steps as it plays them)
                self.orders[order_id]["PurchaseDate"] = amazon_time(at)
                self.orders[order_id]["LastUpdateDate"] = amazon_time(at)
                self.items[order_id] = [orjson.loads(orjson.dumps(i)) for i in items]
                self._addresses[order_id] = dict(address)
                return [self._notify(order_id, at)] if self.notify_on_creation else []
            case AuthorisePayment(at=at, order_id=order_id):
                order = self.orders[order_id]
                order["OrderStatus"] = "Unshipped"
                order["ShippingAddress"] = self._addresses[order_id]
                return [self._touch(order_id, at)]
            case Ship(at=at, order_id=order_id, items=units, ship_from=ship_from):
                return [self._ship(order_id, at, units, ship_from)]
            case Cancel(at=at, order_id=order_id, buyer_requested=buyer_requested):
                self.orders[order_id]["OrderStatus"] = "Canceled"
                if buyer_requested:
                    for item in self.items[order_id]:
                        item["BuyerRequestedCancel"] = {
                            "IsBuyerRequestedCancel": "true",
                            "BuyerCancelReason": "Order placed by mistake",
                        }
                return [
                    self._touch(order_id, at, "Buyer Requested Cancel" if buyer_requested else "")
                ]
        raise TypeError(f"not an Amazon step: {step!r}")

    def _touch(self, order_id: str, at: datetime, reason: str = "") -> dict[str, Any]:
        self.orders[order_id]["LastUpdateDate"] = amazon_time(at)
        return self._notify(order_id, at, reason)

    def _ship(
        self,
        order_id: str,
        at: datetime,
        units: tuple[tuple[str, int], ...],
        ship_from: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        order = self.orders[order_id]
        by_id = {item["OrderItemId"]: item for item in self.items[order_id]}
        shipment_items = []
        for item_id, quantity in units:
            item = by_id[item_id]
            item["QuantityShipped"] = min(
                item["QuantityOrdered"], item["QuantityShipped"] + quantity
            )
            shipment_items.append(self._shipment_item(order, item, quantity))
        shipped = sum(i["QuantityShipped"] for i in by_id.values())
        ordered = sum(i["QuantityOrdered"] for i in by_id.values())
        order["NumberOfItemsShipped"] = shipped
        order["NumberOfItemsUnshipped"] = ordered - shipped
        order["OrderStatus"] = "Shipped" if shipped == ordered else "PartiallyShipped"
        if order["FulfillmentChannel"] != "AFN":
            sent = self.packages.setdefault(order_id, [])
            sent.append(package(order, len(sent) + 1, at, units, ship_from))
        self.finances.setdefault(order_id, {}).setdefault("ShipmentEventList", []).append(
            {
                "AmazonOrderId": order_id,
                "SellerOrderId": order_id,
                "MarketplaceName": order["SalesChannel"],
                "PostedDate": amazon_time(at),
                "ShipmentItemList": shipment_items,
            }
        )
        return self._touch(order_id, at)

    @staticmethod
    def _shipment_item(
        order: dict[str, Any], item: dict[str, Any], quantity: int
    ) -> dict[str, Any]:
        share = Decimal(quantity) / Decimal(item["QuantityOrdered"])

        def part(key: str) -> Decimal:
            return _cents(Decimal(item[key]["Amount"]) * share)

        gross = part("ItemPrice") - part("PromotionDiscount")
        fees = [{"FeeType": "Commission", "FeeAmount": _currency(-_cents(gross * COMMISSION))}]
        if order["FulfillmentChannel"] == "AFN":
            fee = FBA_PER_UNIT * quantity
            fees.append({"FeeType": "FBAPerUnitFulfillmentFee", "FeeAmount": _currency(-fee)})
        charges = [
            {
                "ChargeType": "Principal",
                "ChargeAmount": _currency(part("ItemPrice") - part("ItemTax")),
            },
            {"ChargeType": "Tax", "ChargeAmount": _currency(part("ItemTax"))},
        ]
        if part("ShippingPrice"):
            charges.append(
                {"ChargeType": "ShippingCharge", "ChargeAmount": _currency(part("ShippingPrice"))}
            )
        shipment_item: dict[str, Any] = {
            "SellerSKU": item["SellerSKU"],
            "OrderItemId": item["OrderItemId"],
            "QuantityShipped": quantity,
            "ItemChargeList": charges,
            "ItemFeeList": fees,
        }
        if part("PromotionDiscount"):
            shipment_item["PromotionList"] = [
                {
                    "PromotionType": "PromotionMetaDataDefinitionValue",
                    "PromotionId": "WINTER-DEAL",
                    "PromotionAmount": _currency(-part("PromotionDiscount")),
                }
            ]
        return shipment_item

    def _notify(self, order_id: str, at: datetime, reason: str = "") -> dict[str, Any]:
        order = self.orders[order_id]
        items = self.items[order_id]
        return {
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": amazon_time(at),
            "Payload": {
                "OrderChangeNotification": {
                    "NotificationLevel": "OrderLevel",
                    "SellerId": SELLER_ID,
                    "AmazonOrderId": order_id,
                    "OrderChangeType": "BuyerRequestedChange" if reason else "OrderStatusChange",
                    "OrderChangeTrigger": {
                        "TimeOfOrderChange": amazon_time(at),
                        "ChangeReason": reason or "Order status changed",
                    },
                    "Summary": {
                        "MarketplaceId": order["MarketplaceId"],
                        "OrderStatus": order["OrderStatus"],
                        "PurchaseDate": order["PurchaseDate"],
                        "DestinationPostalCode": self._addresses[order_id].get("PostalCode"),
                        "FulfillmentType": order["FulfillmentChannel"],
                        "OrderType": order["OrderType"],
                        "NumberOfItemsShipped": order["NumberOfItemsShipped"],
                        "NumberOfItemsUnshipped": order["NumberOfItemsUnshipped"],
                        "EarliestShipDate": order["EarliestShipDate"],
                        "LatestShipDate": order["LatestShipDate"],
                        "OrderItems": [
                            {
                                "OrderItemId": item["OrderItemId"],
                                "SellerSKU": item["SellerSKU"],
                                "SupplySourceId": None,
                                "OrderItemStatus": "Shipped"
                                if item["QuantityShipped"] >= item["QuantityOrdered"]
                                else "Unshipped",
                                "Quantity": item["QuantityOrdered"],
                                "QuantityShipped": item["QuantityShipped"],
                            }
                            for item in items
                        ],
                    },
                }
            },
            "NotificationMetadata": {
                "ApplicationId": APPLICATION_ID,
                "SubscriptionId": "7d3b6a5e-0f7a-4c53-8b8e-fake00000001",
                "PublishTime": amazon_time(at + timedelta(seconds=1)),
                "NotificationId": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}@{amazon_time(at)}")
                ),
            },
        }

    # --- tokens and quotas -------------------------------------------------------------------

    def issue_token(self) -> tuple[str, int]:
        token = f"Atza|{secrets.token_urlsafe(24)}"
        self._tokens[token] = self.clock() + timedelta(seconds=self.token_lifetime_seconds)
        return token, self.token_lifetime_seconds

    def token_state(self, token: str) -> str:
        """`valid`, `expired` or `unknown`."""
        expires = self._tokens.get(token)
        if expires is None:
            return "unknown"
        return "valid" if self.clock() < expires else "expired"

    def spend(self, operation: str) -> tuple[float, bool] | None:
        """Take one request from the operation's bucket: (rate, allowed), None if unmetered."""
        plan = self.usage_plans.get(operation)
        if plan is None:
            return None
        rate, burst = plan
        now = self.clock()
        bucket = self._buckets.setdefault(operation, _Bucket(float(burst), now))
        elapsed = max(0.0, (now - bucket.at).total_seconds())
        bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            return rate, False
        bucket.tokens -= 1.0
        return rate, True

    # --- reads -------------------------------------------------------------------------------

    def order_list(
        self,
        marketplace_ids: set[str],
        after: datetime,
        before: datetime,
        by: str,
    ) -> list[dict[str, Any]]:
        key = "LastUpdateDate" if by == "updated" else "PurchaseDate"
        found = [
            order
            for order in self.orders.values()
            if order["MarketplaceId"] in marketplace_ids
            and after <= datetime.fromisoformat(order[key]) <= before
        ]
        return sorted(found, key=lambda o: (o[key], o["AmazonOrderId"]))

    def public_order(self, order: dict[str, Any]) -> dict[str, Any]:
        return dict(order)


# --- HTTP --------------------------------------------------------------------------------------

FAKE = web.AppKey("fake_amazon", FakeAmazon)


def _request_id() -> str:
    return str(uuid.uuid4())


def _errors(
    status: int,
    code: str,
    message: str,
    details: str = "",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The SP-API error body: `{"errors": [{"code", "message", "details"}]}`."""
    body = {"errors": [{"code": code, "message": message, "details": details}]}
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={amazon.REQUEST_ID_HEADER: _request_id(), **(headers or {})},
    )


def _payload(payload: object, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps({"payload": payload}),
        content_type="application/json",
        headers={amazon.REQUEST_ID_HEADER: _request_id(), **(headers or {})},
    )


def _body(document: object) -> web.Response:
    """An Orders API v2026 answer: the document itself, no `payload` wrapper."""
    return web.Response(
        body=orjson.dumps(document),
        content_type="application/json",
        headers={amazon.REQUEST_ID_HEADER: _request_id()},
    )


def _operation(request: web.Request) -> str | None:
    path = request.path
    if path == "/orders/2026-01-01/orders":
        return "searchOrders"
    if path.startswith("/orders/2026-01-01/orders/"):
        return "getOrder@2026-01-01"
    if path == "/orders/v0/orders":
        return "getOrders"
    if path.startswith("/orders/v0/orders/"):
        return "getOrderItems" if path.endswith("/orderItems") else "getOrder"
    if path.startswith("/finances/v0/orders/") and path.endswith("/financialEvents"):
        return "listFinancialEventsByOrderId"
    return None


@web.middleware
async def _sp_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Access token, then the operation's usage plan, as the SP-API checks them."""
    operation = _operation(request)
    if operation is None:
        return await handler(request)
    fake = request.app[FAKE]
    token = request.headers.get(amazon.ACCESS_TOKEN_HEADER, "")
    state = fake.token_state(token) if token else "missing"
    if state != "valid":
        details = {
            "missing": "Access token is missing in the request header.",
            "expired": "The access token you provided has expired.",
            "unknown": "The access token you provided is revoked, malformed or invalid.",
        }[state]
        return _errors(403, "Unauthorized", "Access to requested resource is denied.", details)
    budget = fake.spend(operation)
    limit_headers: dict[str, str] = {}
    if budget is not None:
        rate, allowed = budget
        limit_headers = {amazon.RATE_LIMIT_HEADER: f"{rate:g}"}
        if not allowed:
            fake.throttled += 1
            # The models list only x-amzn-RequestId on a 429: no rate, no Retry-After.
            return _errors(
                429, "QuotaExceeded", "You exceeded your quota for the requested resource."
            )
    fake.requests.append(f"{operation} {request.path_qs}")
    response = await handler(request)
    response.headers.update(limit_headers)
    return response


async def _token(request: web.Request) -> web.Response:
    """`POST /auth/o2/token`: the refresh-token grant, form-encoded."""
    fake = request.app[FAKE]
    fake.token_requests += 1
    form = await request.post()
    if form.get("grant_type") != "refresh_token":
        return web.json_response(
            {"error": "unsupported_grant_type", "error_description": "grant_type is invalid"},
            status=400,
        )
    if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
        return web.json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            status=401,
        )
    if form.get("refresh_token") != fake.refresh_token:
        return web.json_response(
            {
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter : refresh_token",
            },
            status=400,
        )
    token, lifetime = fake.issue_token()
    return web.json_response(
        {
            "access_token": token,
            "refresh_token": fake.refresh_token,
            "token_type": "bearer",
            "expires_in": lifetime,
        }
    )


def _time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else None


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode()


def _decode_token(raw: str) -> dict[str, Any] | None:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def _invalid(message: str) -> web.Response:
    return _errors(400, "InvalidInput", message)


async def _orders(request: web.Request) -> web.Response:
    """`getOrders`: by `LastUpdatedAfter` or `CreatedAfter`; `NextToken` carries the filters."""
    fake = request.app[FAKE]
    query = request.query
    raw_ids = query.get("MarketplaceIds", "")
    marketplace_ids = {part for part in raw_ids.split(",") if part}
    if not marketplace_ids:
        return _invalid("MarketplaceIds is required")
    if "NextToken" in query:
        state = _decode_token(query["NextToken"])
        if state is None or set(state.get("ids", [])) != marketplace_ids:
            return _invalid("Invalid NextToken")
    else:
        updated, created = query.get("LastUpdatedAfter"), query.get("CreatedAfter")
        if (updated is None) == (created is None):
            return _invalid("Exactly one of CreatedAfter and LastUpdatedAfter is required")
        after = _time(updated or created)
        if after is None:
            return _invalid("Invalid date format: use ISO 8601")
        # Amazon answers up to two minutes before now (the `…Before` it reports).
        latest = fake.clock() - amazon.MIN_LAG
        if after > latest:
            return _invalid("LastUpdatedAfter must be at least two minutes before now")
        raw_size = query.get("MaxResultsPerPage", str(fake.orders_page_size))
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= amazon.MAX_RESULTS_PER_PAGE:
            return _invalid("MaxResultsPerPage must be between 1 and 100")
        state = {
            "ids": sorted(marketplace_ids),
            "by": "updated" if updated is not None else "created",
            "after": amazon_time(after),
            "before": amazon_time(latest),
            "size": min(int(raw_size), fake.orders_page_size),
            "offset": 0,
        }
    after_time, before_time = _time(state["after"]), _time(state["before"])
    assert after_time is not None
    assert before_time is not None
    found = fake.order_list(marketplace_ids, after_time, before_time, state["by"])
    offset, size = int(state["offset"]), int(state["size"])
    page = found[offset : offset + size]
    payload: dict[str, Any] = {"Orders": [fake.public_order(o) for o in page]}
    if state["by"] == "updated":
        payload["LastUpdatedBefore"] = state["before"]
    else:
        payload["CreatedBefore"] = state["before"]
    if offset + size < len(found):
        payload["NextToken"] = _encode_token({**state, "offset": offset + size})
    return _payload(payload)


def _known_order(request: web.Request) -> tuple[str, dict[str, Any]] | web.Response:
    order_id = request.match_info["order_id"]
    order = request.app[FAKE].orders.get(order_id)
    if order is None:
        return _errors(404, "NotFound", f"Invalid AmazonOrderId: {order_id}")
    return order_id, order


async def _order(request: web.Request) -> web.Response:
    found = _known_order(request)
    if isinstance(found, web.Response):
        return found
    return _payload(request.app[FAKE].public_order(found[1]))


async def _order_items(request: web.Request) -> web.Response:
    found = _known_order(request)
    if isinstance(found, web.Response):
        return found
    fake = request.app[FAKE]
    order_id = found[0]
    items = fake.items[order_id]
    offset = 0
    if "NextToken" in request.query:
        state = _decode_token(request.query["NextToken"])
        if state is None or state.get("order") != order_id:
            return _invalid("Invalid NextToken")
        offset = int(state.get("offset", 0))
    page = items[offset : offset + fake.items_page_size]
    payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": page}
    if offset + fake.items_page_size < len(items):
        state = {"order": order_id, "offset": offset + fake.items_page_size}
        payload["NextToken"] = _encode_token(state)
    return _payload(payload)


async def _financial_events(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    order_id = request.match_info["order_id"]
    raw_size = request.query.get("MaxResultsPerPage", "100")
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
        return _invalid("MaxResultsPerPage must be between 1 and 100")
    events = fake.finances.get(order_id, {})
    # Every event list is present (empty where nothing posted), as the API answers.
    lists = {
        name: list(events.get(name, []))
        for name in (
            "ShipmentEventList",
            "RefundEventList",
            "GuaranteeClaimEventList",
            "ChargebackEventList",
        )
    }
    return _payload({"FinancialEvents": lists})


def create_app(fake: FakeAmazon | None = None) -> web.Application:
    """The fake at the root of one server: `/auth/o2/token` (LWA) and the SP-API paths."""
    app = web.Application(middlewares=[_sp_api])
    app[FAKE] = fake or FakeAmazon()
    app.router.add_post("/auth/o2/token", _token)
    app.router.add_get("/orders/v0/orders", _orders)
    app.router.add_get("/orders/v0/orders/{order_id}", _order)
    app.router.add_get("/orders/v0/orders/{order_id}/orderItems", _order_items)
    app.router.add_get("/finances/v0/orders/{order_id}/financialEvents", _financial_events)
    from engine.dev.fakes.amazon_v2026 import add_routes

    add_routes(app)  # Orders API v2026-01-01 on the same state
    return app


async def play_demo(
    fake: FakeAmazon,
    host: str,
    port: int,
    relay_url: str | None,
    relay_secret: str | None = None,
    *,
    seed: int = 1,
    steps_per_second: float = 0.1,
    first_order: int = 1,
    in_flight: int = 6,
) -> None:
    """Serve `fake` on host:port and play order stories into it in real time, forever.

    Each step happens "now" (re-stamped as it is played), so the backup poll's
    `LastUpdatedAfter` sees it; the ORDER_CHANGE notifications Amazon would queue are POSTed
    to `relay_url` with `X-Winkel-Token`, as the seller's SQS forwarder would.
    """
    shop = AmazonShop(seed=seed, start=wall_clock(), first_order_number=first_order)
    headers = {"Content-Type": "application/json"}
    if relay_secret is not None:
        headers[amazon.TOKEN_HEADER] = relay_secret

    def play(step: Step, now: datetime) -> list[tuple[bytes, Mapping[str, str]]]:
        notifications = fake.apply(dataclasses.replace(step, at=now))
        return [(orjson.dumps(notification), headers) for notification in notifications]

    await serve_and_play(
        create_app(fake),
        host,
        port,
        shop.order_story,
        play,
        relay_url,
        seed=seed,
        steps_per_second=steps_per_second,
        first_order=first_order,
        in_flight=in_flight,
    )

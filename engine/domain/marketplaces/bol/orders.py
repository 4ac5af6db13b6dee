"""An order's detail and its shipments as order events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.marketplaces.bol.wire import CURRENCY, DEFAULT_VAT_RATES, MARKETPLACE, _Doc
from engine.domain.money import ZERO
from engine.domain.tax.exceptions import TaxError
from engine.domain.tax.split import line_amount, split_line
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Customer,
    LineKind,
    LineQuantity,
    OrderDetails,
    OrderLine,
    Shipment,
)


def _person(address: _Doc | None) -> str:
    if address is None:
        return ""
    return " ".join(part for part in (address.text("firstName"), address.text("surname")) if part)


def _customer(order: _Doc, pickup_point: bool) -> Customer:
    """The buyer, from `billingDetails` (optional: bol has left it out before) or the recipient.

    At a pick-up point `shipmentDetails` is the point's address: its company and country are
    not the customer's, only the recipient's name is.
    """
    billing = order.child("billingDetails")
    shipping = order.child("shipmentDetails")
    vat_number = billing.text("vatNumber") if billing else ""
    kvk_number = billing.text("kvkNumber") if billing else ""
    company = billing.text("company") if billing else ""
    if not company and shipping is not None and not pickup_point:
        company = shipping.text("company")
    name = company or _person(billing) or _person(shipping)
    # VAT follows the goods to the customer: the delivery address, except at a pick-up point,
    # where the customer's own (billing) country is the better evidence of where they are.
    sources = (billing, shipping) if pickup_point else (shipping, billing)
    country = next(
        (s.text("countryCode").upper() for s in sources if s and s.text("countryCode")), None
    )
    email = (shipping.text("email") if shipping else "") or (
        billing.text("email") if billing else ""
    )
    return Customer(
        name=name or "Unknown customer",
        country=country,
        vat_id=vat_number or None,
        is_business=bool(vat_number or kvk_number or company),
        email=email or None,
    )


def _vat_rate(country: str | None) -> Decimal:
    rate = DEFAULT_VAT_RATES.get(country or "")
    if rate is None:
        raise NormalisationError(
            f"no VAT rate for customer country {country!r}: bol sells to NL and BE only"
        )
    return rate


def _line(item: _Doc, rate: Decimal) -> OrderLine:
    quantity = item.count("quantity")
    total = item.opt_amount("totalPrice")  # incl. VAT, after discounts (v10.22 and later)
    if total is None:
        discounts = sum((d.amount("amount") for d in item.children("discounts")), ZERO)
        try:
            total = line_amount(item.amount("unitPrice"), quantity, discounts)
        except TaxError as exc:
            raise NormalisationError(f"{item.path}: {exc}") from None
    try:
        amounts = split_line(total, rate, prices_include_vat=True)  # bol prices include VAT
    except TaxError as exc:
        raise NormalisationError(f"{item.path}: {exc}") from None
    product = item.child("product")
    offer = item.child("offer")
    ean = product.text("ean") if product else ""
    sku = (
        (offer.text("reference") if offer else "") or ean or f"bol-item-{item.ident('orderItemId')}"
    )
    return OrderLine(
        line_id=item.ident("orderItemId"),
        sku=sku,
        description=(product.text("title") if product else "") or sku,
        quantity=quantity,
        net=amounts.net,
        vat=amounts.vat,
        gross=amounts.gross,
        vat_rate=rate,
        kind=LineKind.PRODUCT,
    )


def _order_events(
    order: _Doc, store: Store, received_at: datetime, source: str
) -> list[OrderEvent]:
    order_id = order.ident("orderId")
    events = OrderEvents(MARKETPLACE, store, order_id, received_at, source)
    items = order.children("orderItems")
    if not items:
        raise NormalisationError("$.orderItems is empty or missing")
    placed_at = order.time("orderPlacedDateTime")
    changes = [t for t in (item.opt_time("latestChangedDateTime") for item in items) if t]
    as_of = max(changes, default=placed_at)
    customer = _customer(order, pickup_point=order.flag("pickupPoint"))
    rate = _vat_rate(customer.country)
    details = OrderDetails(
        name=order_id,
        currency=CURRENCY,
        customer=customer,
        lines=tuple(_line(item, rate) for item in items),
        placed_at=placed_at,
        as_of=as_of,
    )
    result = [
        events.make(f"details@{as_of.isoformat()}", as_of, DetailsReported(details)),
        # bol takes the customer's payment and releases an order to the seller once it is
        # paid for (bol carries the risk of "pay later"), so a visible order is a paid one.
        events.make("paid", placed_at, PaymentCaptured(placed_at)),
    ]
    all_cancelled = True
    shipped_any = False
    last_cancel = placed_at
    for item in items:
        quantity = item.count("quantity")
        cancelled = item.count("quantityCancelled", 0)
        shipped_any = shipped_any or item.count("quantityShipped", 0) > 0
        all_cancelled = all_cancelled and cancelled >= quantity
        if cancelled == 0:
            continue
        # bol cancels an order item as a whole (all its open units, `PUT .../cancellation` has
        # no quantity), so an item is cancelled once: its id is the cancellation's id.
        item_id = item.ident("orderItemId")
        at = item.opt_time("latestChangedDateTime") or as_of
        last_cancel = max(last_cancel, at)
        reason = "requested by customer" if item.flag("cancellationRequest") else None
        cancellation = Cancellation(item_id, at, reason, (LineQuantity(item_id, cancelled),))
        result.append(events.make(f"cancellation:{item_id}", at, OrderCancelled(cancellation)))
    if all_cancelled and not shipped_any:
        # The lifecycle only calls an order off on a whole-order cancellation.
        whole = Cancellation("order", last_cancel, "every order item was cancelled")
        result.append(events.make("cancellation:order", last_cancel, OrderCancelled(whole)))
    return result


def normalise_order(
    order_json: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """The events in an order detail (`GET /retailer/orders/{id}`): details, payment, cancels.

    Shipments are not here: the detail says how many units shipped, not in which shipment;
    they come from the shipments endpoint (`parse_shipments`).
    """
    return _order_events(_Doc.parse(order_json), store, received_at, source)


def pending_cancellation_requests(order_json: bytes) -> list[str]:
    """Order items whose customer asked to cancel and which the seller has not yet answered.

    Not an event: the seller decides (confirm with `PUT /retailer/orders/cancellation`, or ship
    anyway). Only a cancellation that happened (`quantityCancelled`) changes the order.
    """
    order = _Doc.parse(order_json)
    return [
        item.ident("orderItemId")
        for item in order.children("orderItems")
        if item.flag("cancellationRequest") and item.count("quantityCancelled", 0) == 0
    ]


def _shipment_event(shipment: _Doc, store: Store, received_at: datetime, source: str) -> OrderEvent:
    order = shipment.child("order")
    if order is None:
        raise NormalisationError(f"{shipment.path}.order is missing")
    events = OrderEvents(MARKETPLACE, store, order.ident("orderId"), received_at, source)
    shipment_id = shipment.ident("shipmentId")
    lines: dict[str, int] = {}
    methods: list[str] = []
    for item in shipment.children("shipmentItems"):
        # `quantityShipped` (v10.23) is this shipment's units; before it, `quantity` was all.
        units = item.opt_count("quantityShipped")
        if units is None:
            units = item.opt_count("quantity")
        if units is None:
            raise NormalisationError(
                f"{item.path} has no quantity: fetch GET /retailer/shipments/{shipment_id}"
            )
        item_id = item.ident("orderItemId")
        lines[item_id] = lines.get(item_id, 0) + units
        fulfilment = item.child("fulfilment")
        if fulfilment is not None and fulfilment.text("method"):
            methods.append(fulfilment.text("method"))
    if not lines:
        raise NormalisationError(f"{shipment.path}.shipmentItems is empty or missing")
    # A shipment without its time keeps the first time we saw it (the first event of an id wins).
    shipped_at = shipment.opt_time("shipmentDateTime") or received_at
    transport = shipment.child("transport")
    carrier = "" if transport is None else transport.text("transporterCode")
    track_and_trace = "" if transport is None else transport.text("trackAndTrace")
    record = Shipment(
        shipment_id=shipment_id,
        shipped_at=shipped_at,
        lines=tuple(LineQuantity(item_id, units) for item_id, units in lines.items()),
        location_id=methods[0] if methods else None,
        # bol names the carrier and track-and-trace code, never the warehouse's country
        carrier=carrier or None,
        tracking_numbers=(track_and_trace,) if track_and_trace else (),
    )
    return events.make(f"shipment:{shipment_id}", shipped_at, ShipmentSent(record))


def parse_shipments(
    body: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """ShipmentSent per shipment: a Shipment (`GET /retailer/shipments/{id}`) or a list page.

    List pages name the shipped order items but (in the documented shape) not how many units;
    such a page raises `NormalisationError`: fetch each shipment's detail instead.
    """
    document = _Doc.parse(body)
    shipments = document.children("shipments") if "shipments" in document.data else [document]
    return [_shipment_event(s, store, received_at, source) for s in shipments]

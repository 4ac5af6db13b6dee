"""What no marketplace can mean: checked on every event a normaliser makes, before VAT.

A verified delivery can still carry values that cannot be right (a country code `"-0"`, a
quantity below zero, a price of 10^30): such an order must not reach the VAT step and the
invoice triggers. `check` names the field and the value, and the normaliser's caller
dead-letters the delivery with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

import iso3166

from engine.domain.exceptions import NormalisationError
from engine.domain.money import MAX_AMOUNT
from models.events import (
    DetailsReported,
    EventPayload,
    OrderCancelled,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentSent,
)
from models.order import LineQuantity

#: ISO 3166-1 alpha-2, plus `XK` (Kosovo: user-assigned, but what Shopify and others send).
COUNTRIES = frozenset(iso3166.countries_by_alpha2) | {"XK"}
#: More units than this on one line is no retail order.
MAX_QUANTITY = 1_000_000
_CURRENCY = re.compile(r"[A-Z]{3}")


def _country(value: str | None, where: str) -> None:
    if value is not None and value not in COUNTRIES:
        raise NormalisationError(f"{where} {value[:20]!r} is not an ISO 3166 country code")


def _quantity(value: int, where: str) -> None:
    if not 0 <= value <= MAX_QUANTITY:
        raise NormalisationError(f"{where} {value} is not a quantity (0 to {MAX_QUANTITY:,})")


def _amount(value: Decimal, where: str) -> None:
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise NormalisationError(f"{where} {value} is beyond the sane bound of {MAX_AMOUNT:,}")


def _units(lines: Iterable[LineQuantity], where: str) -> None:
    for index, line in enumerate(lines):
        _quantity(line.quantity, f"{where}[{index}].quantity")


def check(payload: EventPayload) -> None:
    """`NormalisationError` naming the first value in `payload` that cannot be right."""
    if isinstance(payload, DetailsReported):
        details = payload.details
        if not _CURRENCY.fullmatch(details.currency):
            raise NormalisationError(f"currency {details.currency[:20]!r} is not an ISO 4217 code")
        _country(details.customer.country, "customer country")
        _country(details.ship_from_country, "ship-from country")
        for index, line in enumerate(details.lines):
            where = f"line {index} ({line.sku[:40]})"
            _quantity(line.quantity, f"{where} quantity")
            for name in ("net", "vat", "gross"):
                _amount(getattr(line, name), f"{where} {name}")
            if not Decimal(0) <= line.vat_rate <= Decimal(1):
                raise NormalisationError(f"{where} VAT rate {line.vat_rate} is not 0 to 100 %")
        for kind, cost in details.costs:
            _amount(cost, f"cost {kind[:40]}")
    elif isinstance(payload, ShipmentSent):
        _units(payload.shipment.lines, "shipment lines")
    elif isinstance(payload, OrderCancelled):
        _units(payload.cancellation.lines, "cancellation lines")
    elif isinstance(payload, ReturnRequested | ReturnReceived):
        returned = payload.request if isinstance(payload, ReturnRequested) else payload.received
        _units(returned.lines, "return lines")
    elif isinstance(payload, RefundIssued):
        _units(payload.refund.lines, "refund lines")
        _amount(payload.refund.amount, "refund amount")

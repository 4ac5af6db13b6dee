"""Finances API fees: what Amazon kept of an order, for the details' `costs`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces.amazon.wire import _Doc
from engine.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class Finances:
    """An order's money as Amazon's Finances API posts it, by type, summed over events.

    `fees` are what Amazon charges the seller (positive = a cost: Amazon posts them negative),
    `charges` what the buyer paid (`Principal`, `Tax`, `ShippingCharge`, ...), `withheld` the
    tax Amazon kept as marketplace facilitator. The three never mix.
    """

    currency: str | None
    fees: tuple[tuple[str, Decimal], ...]
    charges: tuple[tuple[str, Decimal], ...]
    withheld: tuple[tuple[str, Decimal], ...]
    #: The newest `PostedDate`: fees post days to weeks after the order last changed.
    last_posted: datetime | None = None

    @property
    def total_fees(self) -> Decimal:
        return sum((amount for _, amount in self.fees), ZERO)


_FEE_LISTS = ("ItemFeeList", "ItemFeeAdjustmentList")
_CHARGE_LISTS = ("ItemChargeList", "ItemChargeAdjustmentList")
_WITHHELD_LISTS = ("ItemTaxWithheldList",)
_ORDER_FEE_LISTS = ("ShipmentFeeList", "OrderFeeList", "ShipmentFeeAdjustmentList")
_EVENT_LISTS = (
    "ShipmentEventList",
    "RefundEventList",
    "GuaranteeClaimEventList",
    "ChargebackEventList",
)


def parse_finances(financial_events: Mapping[str, Any]) -> Finances:
    """Fees, charges and withheld tax of one order's `FinancialEvents`."""
    fees: dict[str, Decimal] = {}
    charges: dict[str, Decimal] = {}
    withheld: dict[str, Decimal] = {}
    currencies: set[str] = set()

    def add(target: dict[str, Decimal], kind: str, money: tuple[Decimal, str] | None) -> None:
        if money is None:
            return
        amount, currency = money
        if currency:
            currencies.add(currency)
        target[kind] = target.get(kind, ZERO) + amount

    root = _Doc(dict(financial_events), "$.FinancialEvents")
    posted: list[datetime] = []
    for list_name in _EVENT_LISTS:
        for event in root.children(list_name):
            when = event.opt_time("PostedDate")
            if when is not None:
                posted.append(when)
            for fee_list in _ORDER_FEE_LISTS:
                for fee in event.children(fee_list):
                    add(fees, fee.text("FeeType") or "Fee", fee.currency_amount("FeeAmount"))
            items = event.children("ShipmentItemList")
            items += event.children("ShipmentItemAdjustmentList")
            for item in items:
                for fee_list in _FEE_LISTS:
                    for fee in item.children(fee_list):
                        add(fees, fee.text("FeeType") or "Fee", fee.currency_amount("FeeAmount"))
                for charge_list in _CHARGE_LISTS:
                    for charge in item.children(charge_list):
                        kind = charge.text("ChargeType") or "Charge"
                        add(charges, kind, charge.currency_amount("ChargeAmount"))
                for withheld_list in _WITHHELD_LISTS:
                    for entry in item.children(withheld_list):
                        for tax in entry.children("TaxesWithheld"):
                            kind = tax.text("ChargeType") or entry.text("TaxCollectionModel")
                            add(withheld, kind, tax.currency_amount("ChargeAmount"))
    if len(currencies) > 1:
        raise NormalisationError(f"financial events in several currencies: {sorted(currencies)}")
    return Finances(
        currency=next(iter(currencies), None),
        # Amazon posts fees as negative amounts (a debit to the seller): a cost is the negation.
        fees=tuple((kind, -amount) for kind, amount in sorted(fees.items()) if amount),
        charges=tuple(sorted(charges.items())),
        withheld=tuple(sorted(withheld.items())),
        last_posted=max(posted, default=None),
    )

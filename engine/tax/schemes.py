"""Which VAT scheme a sale of goods falls under, and whose VAT applies.

`decide` is a pure function of one `Sale`. The rules, in the order they are tried (docs/vat.md
has the same table in words for the accountant):

1. The marketplace collects the VAT (Amazon as deemed supplier, IOSS, or Amazon issuing the
   invoices under VCS; decided upstream per store and order): `marketplace_collected`, no
   seller invoice. The country is the ship-to country, whose VAT the marketplace charges.
2. Ship-to outside the EU: `export`, 0%, declared in the ship-from state.
3. Ship-to equals ship-from, whoever the customer is: `domestic` at the ship-from rate.
4. A business customer with a VAT number of another member state that passes the format and
   checksum test (and that VIES did not reject, if it was asked): `reverse_charge`, 0% (an
   intra-Community supply, Art. 138), the customer's VAT number on the invoice.
5. Anything else is a distance sale to a consumer. Destination VAT (`oss`) applies when the
   company is OSS-registered, when the EUR 10,000 threshold is exceeded by this sale or was
   exceeded earlier this year or in the previous year, or when the goods do not leave from the
   company's own member state (the threshold only covers a supplier established in a single
   member state shipping from it). Otherwise home VAT: `domestic` at the ship-from rate.

The VIES check is deliberately not made here (`decide` does no I/O): the shell asks a
`VatNumberChecker` through `consult`, which never waits longer than its timeout, and passes the
answer in `Sale.vies_result`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from stdnum.eu import vat as eu_vat

from engine.config import Company
from engine.tax.exceptions import TaxError
from engine.tax.rates import RateTable, TaxCategory, country_code, is_member_state, rate_for
from engine.tax.threshold import ThresholdReached, ThresholdState, record_sale
from models.order import Customer
from models.trigger import VatScheme, VatTreatment

VIES_TIMEOUT_SECONDS = 2.0
#: The label a cross-border sale to a consumer taxed at home gets (scheme `domestic`): the
#: accountant must see it is a distance sale, counted toward the EUR 10,000 threshold.
DISTANCE_SALE_ORIGIN_RATE = "distance sale, origin rate"


class VatIdCheck(StrEnum):
    """What was established about the customer's VAT number; kept for the audit trail."""

    NOT_GIVEN = "not_given"  # no number, or the customer is not a business
    INVALID = "invalid"  # fails the format or checksum test
    NOT_EU = "not_eu"  # valid shape, but not a member state's number (e.g. XI, CHE, GB)
    SAME_COUNTRY = "same_country"  # issued by the ship-from state: no intra-Community supply
    FORMAT_VALID = "format_valid"  # passes format and checksum; VIES not consulted or no answer
    VIES_CONFIRMED = "vies_confirmed"
    VIES_REJECTED = "vies_rejected"


@dataclass(frozen=True, slots=True)
class Sale:
    """The facts one VAT decision needs; amounts and countries as the shell established them.

    `amount_eur` is the sale's value net of VAT in EUR (through `to_eur`); for VAT-inclusive
    prices the shell splits at the ship-from rate first. It only matters for the threshold.
    `threshold` is the company's state for the tax point's calendar year (or the previous
    year's, which `record_sale` rolls over).
    """

    seller: Company
    ship_from: str
    ship_to: str
    customer: Customer
    tax_point: date
    amount_eur: Decimal
    threshold: ThresholdState
    marketplace_collected: bool = False
    vies_result: bool | None = None  # from `consult`: None when not asked or no answer in time
    # The document this sale is invoiced on: a replayed sale with a counted id counts once.
    sale_id: str | None = None

    @property
    def cross_border_b2c_eur_before(self) -> Decimal:
        """The company's EU cross-border B2C sales this calendar year before this sale."""
        return self.threshold.total_eur


@dataclass(frozen=True, slots=True)
class Decision:
    """The VAT treatment of one sale.

    `country` is the member state whose VAT rules the seller applies and in whose return the
    sale is declared: the ship-from state for `domestic`, `reverse_charge` and `export` (both
    0%, exempt there), the ship-to state for `oss` and `marketplace_collected`.
    """

    scheme: VatScheme
    country: str
    destination_vat: bool
    zero_rated: bool
    customer_vat_id: str | None  # reverse charge only: the number the invoice must show
    vat_id_check: VatIdCheck
    counts_toward_threshold: bool
    threshold: ThresholdState  # the state after this sale; unchanged when it does not count
    threshold_events: tuple[ThresholdReached, ...]
    reason: str

    @property
    def running_total_eur(self) -> Decimal:
        return self.threshold.total_eur

    @property
    def treatment(self) -> VatTreatment:
        """The trigger's `vat` field."""
        return VatTreatment(self.scheme, self.country)

    def rate(self, category: TaxCategory, on: date, table: RateTable | None = None) -> Decimal:
        """The rate a line of `category` carries under this decision (a fraction)."""
        if self.zero_rated:
            return Decimal(0)
        if not is_member_state(self.country):
            # Only the marketplace-collected case gets here: VAT of a non-EU country (UK VAT
            # collected by Amazon, say) is not in the EU rate data; the marketplace's tax lines
            # are the only source for it.
            raise TaxError(
                f"{self.scheme} VAT of {self.country} is not EU VAT: use the marketplace's "
                "own tax lines"
            )
        return rate_for(self.country, category, on, table)


def decide(sale: Sale) -> Decision:
    """The scheme, VAT country and threshold effect of one sale (rules in the module doc)."""
    ship_from = country_code(sale.ship_from)
    ship_to = country_code(sale.ship_to)
    if sale.amount_eur < 0:
        raise TaxError("a sale's EUR amount cannot be negative; credit notes follow the invoice")
    if sale.threshold.company_id != sale.seller.id:
        raise TaxError(
            f"threshold state of {sale.threshold.company_id!r} passed for {sale.seller.id!r}"
        )
    check = vat_id_check(sale.customer, ship_from, sale.vies_result)

    if sale.marketplace_collected:
        return _not_counted(
            sale,
            VatScheme.MARKETPLACE_COLLECTED,
            ship_to,
            check,
            destination_vat=True,
            reason="the marketplace charges and pays the VAT; no seller invoice",
        )
    if not is_member_state(ship_from):
        raise TaxError(
            f"goods ship from {ship_from}, outside the EU: an import, which only the marketplace "
            "(IOSS) or the customs declaration can tax"
        )
    if not is_member_state(ship_to):
        return _not_counted(
            sale,
            VatScheme.EXPORT,
            ship_from,
            check,
            zero_rated=True,
            reason=f"export from {ship_from} to {ship_to}, outside the EU: 0% (Art. 146)",
        )
    if ship_to == ship_from:
        return _not_counted(
            sale,
            VatScheme.DOMESTIC,
            ship_from,
            check,
            reason=f"goods stay in {ship_from}",
        )
    if check in {VatIdCheck.FORMAT_VALID, VatIdCheck.VIES_CONFIRMED}:
        vat_id = eu_vat.compact(sale.customer.vat_id or "")
        return _not_counted(
            sale,
            VatScheme.REVERSE_CHARGE,
            ship_from,
            check,
            zero_rated=True,
            customer_vat_id=vat_id,
            reason=(
                f"intra-Community supply {ship_from} to {ship_to} to business {vat_id}: "
                "0% (Art. 138), customer accounts for the VAT"
            ),
        )
    return _distance_sale(sale, ship_from, ship_to, check)


def _distance_sale(sale: Sale, ship_from: str, ship_to: str, check: VatIdCheck) -> Decision:
    seller_country = country_code(sale.seller.country)
    # Art. 59c: the threshold exists only for a supplier established in one member state that
    # ships from that state. Sales from stock elsewhere (FBA) never had home VAT to keep.
    threshold_applies = is_member_state(seller_country) and ship_from == seller_country
    if threshold_applies:
        state, events = record_sale(sale.threshold, sale.amount_eur, sale.tax_point, sale.sale_id)
    else:
        state, events = sale.threshold, ()
    if sale.seller.oss_registered:
        why = "company is OSS-registered"
    elif not threshold_applies:
        why = f"goods leave from {ship_from}, not from the company's state {seller_country}"
    elif state.exceeded_previous_year:
        why = f"EU distance sales exceeded EUR 10,000 in {state.year - 1}"
    elif state.exceeded_this_year:
        why = f"EU distance sales exceeded EUR 10,000 in {state.year} (EUR {state.total_eur})"
    else:
        why = ""
    destination = bool(why)
    # A buyer without a valid VAT number of another member state is a consumer for VAT: the
    # Art. 138 exemption needs the customer's valid number (Art. 138(1)(b) as amended by
    # Directive 2018/1910), and a distance sale is a supply to such a buyer (Art. 14(4)).
    customer = "consumer" if check is VatIdCheck.NOT_GIVEN else f"consumer (VAT number {check})"
    return Decision(
        scheme=VatScheme.OSS if destination else VatScheme.DOMESTIC,
        country=ship_to if destination else ship_from,
        destination_vat=destination,
        zero_rated=False,
        customer_vat_id=None,
        vat_id_check=check,
        counts_toward_threshold=threshold_applies,
        threshold=state,
        threshold_events=events,
        reason=(
            f"distance sale {ship_from} to {ship_to} to a {customer}: {ship_to} VAT, {why}"
            if destination
            else f"{DISTANCE_SALE_ORIGIN_RATE} ({ship_from} to {ship_to} to a {customer}): "
            f"{ship_from} VAT, under the EUR 10,000 threshold of Art. 59c and not "
            "OSS-registered"
        ),
    )


def _not_counted(
    sale: Sale,
    scheme: VatScheme,
    country: str,
    check: VatIdCheck,
    *,
    reason: str,
    destination_vat: bool = False,
    zero_rated: bool = False,
    customer_vat_id: str | None = None,
) -> Decision:
    return Decision(
        scheme=scheme,
        country=country,
        destination_vat=destination_vat,
        zero_rated=zero_rated,
        customer_vat_id=customer_vat_id,
        vat_id_check=check,
        counts_toward_threshold=False,
        threshold=sale.threshold,
        threshold_events=(),
        reason=reason,
    )


def vat_id_check(customer: Customer, ship_from: str, vies_result: bool | None = None) -> VatIdCheck:
    """How far the customer's VAT number supports a 0% intra-Community supply from `ship_from`."""
    if not customer.is_business or not customer.vat_id or not customer.vat_id.strip():
        return VatIdCheck.NOT_GIVEN
    if not eu_vat.is_valid(customer.vat_id):
        return VatIdCheck.INVALID
    prefix = eu_vat.compact(customer.vat_id)[:2]
    # stdnum accepts "XI" (Northern Ireland); this core does not model it as a member state.
    if not prefix.isalpha() or not is_member_state(prefix):
        return VatIdCheck.NOT_EU
    if country_code(prefix) == country_code(ship_from):
        return VatIdCheck.SAME_COUNTRY
    if vies_result is True:
        return VatIdCheck.VIES_CONFIRMED
    if vies_result is False:
        return VatIdCheck.VIES_REJECTED
    return VatIdCheck.FORMAT_VALID


class VatNumberChecker(Protocol):
    """Asks an authority (VIES) whether a VAT number is registered.

    Answers True (registered), False (not registered) or None (no answer: not asked, service
    down, member state's register unavailable). Implementations do network I/O; call them only
    through `consult`, which bounds the wait, so an order is never held up by VIES.
    """

    async def check(self, vat_id: str) -> bool | None: ...


class FormatOnlyChecker:
    """The default checker: no VIES request at all.

    It says False for numbers that fail the format and checksum test, and None (not known) for
    the rest: a checksum cannot prove a number is registered, so it never says True.
    """

    async def check(self, vat_id: str) -> bool | None:
        return False if not eu_vat.is_valid(vat_id) else None


async def consult(
    checker: VatNumberChecker, vat_id: str, timeout_seconds: float = VIES_TIMEOUT_SECONDS
) -> bool | None:
    """The checker's answer, or None when it takes longer than `timeout_seconds` or fails.

    VIES is often slow or down for one member state; the order then proceeds on the format and
    checksum test alone, and the decision records `format_valid` rather than a VIES answer.
    """
    try:
        return await asyncio.wait_for(checker.check(vat_id), timeout_seconds)
    except TimeoutError:
        return None
    except Exception:
        # Whatever the checker's client library raises, the order must not stop on it; the
        # shell logs the missing answer through the decision's `vat_id_check`.
        return None

"""Splitting prices into net, VAT and gross, one line at a time, to the cent.

The one rounding rule (docs/vat.md explains it with examples):

- Every amount is rounded once, half up (away from zero on a tie), to the cent.
- A line is taxed on its line total: unit price x quantity minus the line's own discount,
  rounded to the cent. Never per unit, so quantity does not multiply rounding differences.
- VAT-inclusive prices (bol always, Shopify `taxes_included`, WooCommerce
  `prices_include_tax`): the line total is the gross;
  `vat = round(gross x rate / (1 + rate))`, `net = gross - vat`.
- VAT-exclusive prices: the line total is the net; `vat = round(net x rate)`,
  `gross = net + vat`.
- So net + VAT = gross holds on every line by construction, and the order's totals are the sums
  of its lines (never recomputed from a total, which could differ by a cent).

Shipping charged to the customer is part of the taxable amount of the goods (Art. 78(b)) and,
as an ancillary supply, follows their VAT (CJEU C-349/96 Card Protection Plan). For an order
mixing rates, delivery charges, fees and order-level discounts are apportioned over the goods'
rates in proportion to the value of the goods at each rate (`apportion`), as Germany and
Belgium expect. Every apportioning in this module uses one rounding rule, the largest remainder
(`allocate`): the parts are whole cents and add up exactly to the amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from engine.tax.exceptions import TaxError
from models.order import LineKind

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_ONE = Decimal(1)


def round_half_up(amount: Decimal) -> Decimal:
    """To the cent, a tie (x.xx5) away from zero: 0.125 -> 0.13, -0.125 -> -0.13."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Amounts:
    net: Decimal
    vat: Decimal
    gross: Decimal

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.net + other.net, self.vat + other.vat, self.gross + other.gross)


NO_AMOUNTS = Amounts(ZERO, ZERO, ZERO)


def total(amounts: Iterable[Amounts]) -> Amounts:
    """The sum of lines, column by column."""
    result = NO_AMOUNTS
    for line in amounts:
        result += line
    return result


def line_amount(unit_price: Decimal, quantity: int, discount: Decimal = ZERO) -> Decimal:
    """A line total: unit price x quantity minus the line's own discount, rounded to the cent."""
    if quantity < 0:
        raise TaxError(f"quantity cannot be negative: {quantity}")
    return round_half_up(unit_price * quantity - discount)


def split_line(amount: Decimal, rate: Decimal, prices_include_vat: bool) -> Amounts:
    """Net, VAT and gross of one line total stated including or excluding VAT.

    `amount` must be in cents already (see `line_amount`); negative amounts (credits) split to
    exactly the negatives of the positive split.
    """
    _check_cents(amount, "line amount")
    _check_rate(rate)
    # More digits than any order needs, so the only rounding is the one to the cent below.
    with localcontext() as context:
        context.prec = 50
        if prices_include_vat:
            vat = round_half_up(amount * rate / (_ONE + rate))
            return Amounts(net=amount - vat, vat=vat, gross=amount)
        vat = round_half_up(amount * rate)
        return Amounts(net=amount, vat=vat, gross=amount + vat)


def shipping_rate(goods_rates: Iterable[Decimal]) -> Decimal:
    """The highest rate among the goods: a charge's rate where the goods have no value to
    apportion it by (all goods free, say); `apportion` otherwise."""
    rates = list(goods_rates)
    if not rates:
        raise TaxError("shipping follows the goods' VAT rate, and the order has no goods lines")
    for rate in rates:
        _check_rate(rate)
    return max(rates)


def allocate(total_amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Share `total_amount` over `weights` in proportion, in cents, summing exactly to the total.

    The largest remainder rule: every share first gets its exact portion cut down to the cent
    (towards zero); the cents still missing then go, one each, to the shares that lost the most
    in that cut; equal losses go to the earlier share. Deterministic, every share within a
    cent of its exact portion and of the total's sign, and the shares add up to the total.
    """
    _check_cents(total_amount, "amount to allocate")
    if not weights:
        raise TaxError("nothing to allocate over: no weights")
    if any(weight < 0 for weight in weights):
        raise TaxError("allocation weights cannot be negative")
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        raise TaxError("allocation weights sum to zero")
    sign = -1 if total_amount < 0 else 1
    magnitude = abs(total_amount)
    with localcontext() as context:
        context.prec = 50
        exact = [magnitude * weight / weight_sum for weight in weights]
        floors = [portion.quantize(CENT, rounding=ROUND_DOWN) for portion in exact]
        missing = int((magnitude - sum(floors, ZERO)) / CENT)
        by_loss = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
        for index in by_loss[:missing]:
            floors[index] += CENT
    return [ZERO if share == 0 else share * sign for share in floors]  # never a "-0.00"


def apportion(
    charge: Decimal, goods: Sequence[tuple[Decimal, Decimal]]
) -> list[tuple[Decimal, Decimal]]:
    """A charge (delivery, a fee, an order-level discount) split over the goods' VAT rates.

    `goods` are (rate, value) pairs of the goods lines the charge goes with, in the price basis
    of the order. The value at each rate is the weight; the parts, one per rate from the lowest
    rate up, are `allocate`d and add up to the charge. Goods of one rate give one part: the
    whole charge at that rate. Goods without value give the charge to the highest rate.
    """
    if not goods:
        raise TaxError("a charge follows the goods' VAT rates, and there are no goods lines")
    by_rate: dict[Decimal, Decimal] = {}
    for rate, value in goods:
        _check_rate(rate)
        if value < 0:
            raise TaxError("cannot apportion a charge over negative goods values")
        by_rate[rate] = by_rate.get(rate, ZERO) + value
    if sum(by_rate.values(), ZERO) == 0:
        return [(max(by_rate), charge)]
    rates = sorted(rate for rate, value in by_rate.items() if value > 0)  # no empty shares
    if len(rates) == 1:
        return [(rates[0], charge)]
    shares = allocate(charge, [by_rate[rate] for rate in rates])
    return list(zip(rates, shares, strict=True))


@dataclass(frozen=True, slots=True)
class PricedLine:
    """One order line as the marketplace prices it.

    `amount` is the line total after the line's own discounts, including or excluding VAT as
    the whole order states its prices. Goods lines carry their rate; shipping lines leave
    `rate` as None, because they take the goods' rate.
    """

    line_id: str
    amount: Decimal
    rate: Decimal | None = None
    kind: LineKind = LineKind.PRODUCT


@dataclass(frozen=True, slots=True)
class SplitLine:
    line_id: str
    kind: LineKind
    rate: Decimal
    order_discount: Decimal  # this line's share of an order-level discount, already deducted
    amounts: Amounts


@dataclass(frozen=True, slots=True)
class SplitOrder:
    lines: tuple[SplitLine, ...]
    totals: Amounts


def split_order(
    lines: Sequence[PricedLine], prices_include_vat: bool, order_discount: Decimal = ZERO
) -> SplitOrder:
    """Every line split by the rounding rule, with an order-level discount spread first.

    The order-level discount (a coupon on the whole basket) is a price reduction of the goods
    (Art. 79(b)): it is allocated over the goods lines in proportion to their amounts (the
    gross for VAT-inclusive prices, the net for exclusive ones: the same basis the discount is
    stated in), then each line is split. Shipping takes no part of it; a discount on shipping
    is a line discount of the shipping line. Shipping and other charges are then apportioned
    over the goods' rates by the goods' value after the discount (`apportion`): a charge over
    goods of several rates gives one `SplitLine` per rate, all with the charge's `line_id`.
    """
    _check_cents(order_discount, "order discount")
    goods = [line for line in lines if line.kind is LineKind.PRODUCT]
    goods_rates: list[Decimal] = []
    for line in goods:
        if line.rate is None:
            raise TaxError(f"goods line {line.line_id!r} has no VAT rate")
        goods_rates.append(line.rate)
    if any(line.kind is not LineKind.PRODUCT and line.rate is not None for line in lines):
        raise TaxError("shipping lines take the goods' rate; leave their rate empty")
    discounts = _order_discount_shares(goods, order_discount)
    goods_values = [
        (rate, line.amount - share)
        for rate, line, share in zip(goods_rates, goods, discounts, strict=True)
    ]
    shares = iter(discounts)

    result: list[SplitLine] = []
    for line in lines:
        if line.kind is LineKind.PRODUCT:
            rate, discount = line.rate, next(shares)
            if rate is None:  # unreachable: goods rates are checked above
                raise TaxError(f"line {line.line_id!r} has no VAT rate")
            amounts = split_line(line.amount - discount, rate, prices_include_vat)
            result.append(SplitLine(line.line_id, line.kind, rate, discount, amounts))
            continue
        for rate, part in apportion(line.amount, goods_values):
            amounts = split_line(part, rate, prices_include_vat)
            result.append(SplitLine(line.line_id, line.kind, rate, ZERO, amounts))
    return SplitOrder(lines=tuple(result), totals=total(line.amounts for line in result))


def _order_discount_shares(goods: Sequence[PricedLine], discount: Decimal) -> list[Decimal]:
    """Each goods line's share of the order discount, in the goods lines' order."""
    if discount == 0:
        return [ZERO] * len(goods)
    if discount < 0:
        raise TaxError("an order discount is a positive amount taken off the goods")
    if not goods:
        raise TaxError("an order discount needs goods lines to reduce")
    if any(line.amount < 0 for line in goods):
        raise TaxError("cannot spread an order discount over negative goods lines")
    if discount > sum((line.amount for line in goods), ZERO):
        raise TaxError("the order discount is larger than the goods it reduces")
    return allocate(discount, [line.amount for line in goods])


def _check_cents(amount: Decimal, what: str) -> None:
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise TaxError(f"{what} must be a whole number of cents: {amount}")


def _check_rate(rate: Decimal) -> None:
    if not rate.is_finite() or not Decimal(0) <= rate < _ONE:
        raise TaxError(f"a VAT rate is a fraction from 0 up to 1: {rate}")

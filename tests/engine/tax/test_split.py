"""Price splitting: the rounding rule by example, and its properties for any amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.tax import (
    Amounts,
    PricedLine,
    TaxError,
    allocate,
    apportion,
    line_amount,
    round_half_up,
    shipping_rate,
    split_line,
    split_order,
)
from models.order import LineKind

D = Decimal
CENT = D("0.01")
SHIPPING = LineKind.SHIPPING

# Every rate in the shipped data, plus 0%.
RATES = [
    D(r)
    for r in (
        "0", "0.021", "0.055", "0.06", "0.07", "0.09", "0.10", "0.11", "0.12", "0.135", "0.14",
        "0.17", "0.18", "0.19", "0.20", "0.21", "0.22", "0.23", "0.24", "0.25", "0.255", "0.27",
    )
]  # fmt: skip

cents = st.integers(min_value=-10_000_000, max_value=10_000_000).map(lambda n: D(n) / 100)
positive_cents = st.integers(min_value=0, max_value=10_000_000).map(lambda n: D(n) / 100)
rates = st.sampled_from(RATES)


# --- the rule by example (worked on paper) ----------------------------------------------------


def test_ties_round_half_up_away_from_zero() -> None:
    assert round_half_up(D("0.125")) == D("0.13")
    assert round_half_up(D("0.124999")) == D("0.12")
    assert round_half_up(D("-0.125")) == D("-0.13")


def test_inclusive_price_vat_is_rounded_and_net_is_the_rest() -> None:
    # 9.99 x 0.21 / 1.21 = 1.73380.. -> 1.73; net 8.26
    assert split_line(D("9.99"), D("0.21"), True) == Amounts(D("8.26"), D("1.73"), D("9.99"))


def test_exclusive_price_vat_is_rounded_and_gross_is_the_sum() -> None:
    # 8.25 x 0.21 = 1.7325 -> 1.73; gross 9.98
    assert split_line(D("8.25"), D("0.21"), False) == Amounts(D("8.25"), D("1.73"), D("9.98"))


def test_a_line_is_taxed_on_its_total_not_per_unit() -> None:
    # 3 x 0.99 = 2.97 incl 21%: VAT 2.97 x 0.21 / 1.21 = 0.51545.. -> 0.52. Per unit it
    # would have been 3 x round(0.17181..) = 0.51.
    amount = line_amount(D("0.99"), 3)
    assert split_line(amount, D("0.21"), True) == Amounts(D("2.45"), D("0.52"), D("2.97"))


def test_line_amount_takes_the_line_discount_off_before_vat() -> None:
    assert line_amount(D("19.95"), 2, discount=D("5.00")) == D("34.90")
    # unit prices with more than two decimals are rounded once, on the line total
    assert line_amount(D("0.3333"), 3) == D("1.00")
    with pytest.raises(TaxError):
        line_amount(D("1.00"), -1)


def test_amounts_must_be_whole_cents_and_rates_fractions() -> None:
    with pytest.raises(TaxError, match="whole number of cents"):
        split_line(D("1.005"), D("0.21"), True)
    with pytest.raises(TaxError, match="fraction"):
        split_line(D("1.00"), D("21"), True)
    with pytest.raises(TaxError, match="fraction"):
        split_line(D("1.00"), D("-0.01"), True)


def test_shipping_takes_the_highest_goods_rate() -> None:
    assert shipping_rate([D("0.09"), D("0.21"), D("0.09")]) == D("0.21")
    with pytest.raises(TaxError, match="no goods"):
        shipping_rate([])


def test_an_order_with_mixed_rates_shipping_and_a_coupon() -> None:
    # Dutch webshop, prices incl. VAT: a book 20.00 at 9%, a lamp 60.00 at 21%, shipping 4.95.
    # Coupon 10.00 over the goods pro rata to their gross: book 10 x 20/80 = 2.50, lamp 7.50.
    # book 17.50 x 0.09/1.09 = 1.44495.. -> 1.44; lamp 52.50 x 0.21/1.21 = 9.11157.. -> 9.11;
    # Shipping apportioned by the goods' value after the coupon, 17.50 : 52.50 = 1 : 3:
    # exact 1.2375 and 3.7125, cut to 1.23 and 3.71; the missing cent goes to the larger
    # remainder (0.0075, the book's): 1.24 at 9% and 3.71 at 21%.
    # 1.24 x 0.09/1.09 = 0.10238.. -> 0.10; 3.71 x 0.21/1.21 = 0.64388.. -> 0.64.
    order = split_order(
        [
            PricedLine("book", D("20.00"), D("0.09")),
            PricedLine("lamp", D("60.00"), D("0.21")),
            PricedLine("ship", D("4.95"), kind=SHIPPING),
        ],
        prices_include_vat=True,
        order_discount=D("10.00"),
    )
    book, lamp, ship_9, ship_21 = order.lines
    assert (book.order_discount, lamp.order_discount, ship_9.order_discount) == (
        D("2.50"),
        D("7.50"),
        D("0.00"),
    )
    assert book.amounts == Amounts(D("16.06"), D("1.44"), D("17.50"))
    assert lamp.amounts == Amounts(D("43.39"), D("9.11"), D("52.50"))
    assert ship_9.line_id == ship_21.line_id == "ship"
    assert (ship_9.rate, ship_9.amounts) == (D("0.09"), Amounts(D("1.14"), D("0.10"), D("1.24")))
    assert (ship_21.rate, ship_21.amounts) == (
        D("0.21"),
        Amounts(D("3.07"), D("0.64"), D("3.71")),
    )
    assert order.totals == Amounts(D("63.66"), D("11.29"), D("74.95"))


def test_an_exclusive_order_splits_the_coupon_over_net_amounts() -> None:
    # 30.00 + 10.00 net, coupon 4.00: 3.00 and 1.00. 27.00 x 0.19 = 5.13; 9.00 x 0.07 = 0.63.
    order = split_order(
        [PricedLine("a", D("30.00"), D("0.19")), PricedLine("b", D("10.00"), D("0.07"))],
        prices_include_vat=False,
        order_discount=D("4.00"),
    )
    assert [line.amounts for line in order.lines] == [
        Amounts(D("27.00"), D("5.13"), D("32.13")),
        Amounts(D("9.00"), D("0.63"), D("9.63")),
    ]


@pytest.mark.parametrize(
    ("lines", "discount", "message"),
    [
        ([PricedLine("ship", D("4.95"), kind=SHIPPING)], D("0.00"), "no goods"),
        ([PricedLine("a", D("1.00"))], D("0.00"), "no VAT rate"),
        (
            [PricedLine("a", D("1.00"), D("0.21")), PricedLine("s", D("1"), D("0.21"), SHIPPING)],
            D("0.00"),
            "leave their rate empty",
        ),
        ([PricedLine("a", D("1.00"), D("0.21"))], D("1.01"), "larger than the goods"),
        ([PricedLine("a", D("1.00"), D("0.21"))], D("-1.00"), "positive amount"),
    ],
)
def test_orders_that_cannot_be_split_are_refused(
    lines: list[PricedLine], discount: Decimal, message: str
) -> None:
    with pytest.raises(TaxError, match=message):
        split_order(lines, prices_include_vat=True, order_discount=discount)


def test_allocate_by_example() -> None:
    # 10.00 over 1:1:1 -> 3.33 each cut down, 9.99; one cent missing, equal remainders:
    # the earliest share takes it -> 3.34, 3.33, 3.33
    assert allocate(D("10.00"), [D(1), D(1), D(1)]) == [D("3.34"), D("3.33"), D("3.33")]
    # 0.05 over 1:1:1:0.001 -> 0.0166.. three times and 0.0000166..: 0.01, 0.01, 0.01, 0.00;
    # two cents missing go to the two earliest of the largest remainders
    assert allocate(D("0.05"), [D(1), D(1), D(1), D("0.001")]) == [
        D("0.02"),
        D("0.02"),
        D("0.01"),
        D("0.00"),
    ]
    # 5.00 over 1:2 -> 1.666.. and 3.333..: 1.66 + 3.33 = 4.99; 1.66 lost more -> 1.67, 3.33
    assert allocate(D("5.00"), [D(1), D(2)]) == [D("1.67"), D("3.33")]
    assert allocate(D("-5.00"), [D(1), D(2)]) == [D("-1.67"), D("-3.33")]
    assert allocate(D("7.00"), [D(5)]) == [D("7.00")]


@pytest.mark.parametrize(
    ("weights", "message"),
    [([], "no weights"), ([D(0), D(0)], "sum to zero"), ([D(1), D(-1)], "negative")],
)
def test_allocate_refuses_weights_it_cannot_use(weights: list[Decimal], message: str) -> None:
    with pytest.raises(TaxError, match=message):
        allocate(D("1.00"), weights)


# --- properties ---------------------------------------------------------------------------------


@given(amount=cents, rate=rates, inclusive=st.booleans())
def test_every_line_satisfies_net_plus_vat_equals_gross(
    amount: Decimal, rate: Decimal, inclusive: bool
) -> None:
    split = split_line(amount, rate, inclusive)
    assert split.net + split.vat == split.gross
    assert all(value == value.quantize(CENT) for value in (split.net, split.vat, split.gross))
    assert (split.gross if inclusive else split.net) == amount
    exact = amount * rate / (1 + rate) if inclusive else amount * rate
    assert abs(split.vat - exact) <= D("0.005")


@given(amount=cents, rate=rates, inclusive=st.booleans())
def test_a_credit_splits_to_the_exact_negative(
    amount: Decimal, rate: Decimal, inclusive: bool
) -> None:
    positive, negative = split_line(amount, rate, inclusive), split_line(-amount, rate, inclusive)
    assert (negative.net, negative.vat, negative.gross) == (
        -positive.net,
        -positive.vat,
        -positive.gross,
    )


goods_lines = st.lists(st.tuples(positive_cents, rates), min_size=1, max_size=12)


@given(
    goods=goods_lines,
    shipping=st.lists(positive_cents, max_size=2),
    inclusive=st.booleans(),
    discount_percent=st.integers(min_value=0, max_value=100),
)
def test_order_totals_are_the_sums_of_its_lines(
    goods: list[tuple[Decimal, Decimal]],
    shipping: list[Decimal],
    inclusive: bool,
    discount_percent: int,
) -> None:
    goods_sum = sum((amount for amount, _ in goods), D(0))
    discount = min(round_half_up(goods_sum * discount_percent / 100), goods_sum)
    lines = [PricedLine(f"g{i}", amount, rate) for i, (amount, rate) in enumerate(goods)]
    lines += [PricedLine(f"s{i}", amount, kind=SHIPPING) for i, amount in enumerate(shipping)]
    order = split_order(lines, inclusive, order_discount=discount)

    for line in order.lines:
        assert line.amounts.net + line.amounts.vat == line.amounts.gross
    assert order.totals.net == sum((line.amounts.net for line in order.lines), D(0))
    assert order.totals.vat == sum((line.amounts.vat for line in order.lines), D(0))
    assert order.totals.gross == sum((line.amounts.gross for line in order.lines), D(0))
    assert sum((line.order_discount for line in order.lines), D(0)) == discount
    stated = order.totals.gross if inclusive else order.totals.net
    assert stated == goods_sum + sum(shipping, D(0)) - discount
    goods_rates = {rate for _, rate in goods}
    for index, amount in enumerate(shipping):
        parts = [line for line in order.lines if line.line_id == f"s{index}"]
        # the parts of a charge add up to it, one per goods rate at most, at goods rates only
        assert sum(((p.amounts.gross if inclusive else p.amounts.net) for p in parts), D(0)) == (
            amount
        )
        assert {p.rate for p in parts} <= goods_rates
        assert len({p.rate for p in parts}) == len(parts)
        if len(goods_rates) == 1:
            assert [p.rate for p in parts] == [goods[0][1]]


def test_apportion_by_example() -> None:
    # 4.95 over goods of 20.00 at 9% and 60.00 at 21% -> 1.2375 / 3.7125 -> 1.24 / 3.71
    assert apportion(D("4.95"), [(D("0.21"), D("60.00")), (D("0.09"), D("20.00"))]) == [
        (D("0.09"), D("1.24")),
        (D("0.21"), D("3.71")),
    ]
    # one rate: the whole charge at it; goods of no value: the highest rate
    assert apportion(D("4.95"), [(D("0.21"), D("1")), (D("0.21"), D("2"))]) == [
        (D("0.21"), D("4.95"))
    ]
    assert apportion(D("4.95"), [(D("0.09"), D("0")), (D("0.21"), D("0"))]) == [
        (D("0.21"), D("4.95"))
    ]
    with pytest.raises(TaxError, match="no goods"):
        apportion(D("4.95"), [])
    # goods of no value at a rate take no share of it: no empty "share at 21%" line
    assert apportion(D("4.95"), [(D("0.09"), D("20.00")), (D("0.21"), D("0"))]) == [
        (D("0.09"), D("4.95"))
    ]


def test_a_negative_amount_never_gives_a_negative_zero_share() -> None:
    shares = allocate(D("-0.01"), [D(1), D(0)])
    assert shares == [D("-0.01"), D("0.00")]
    assert str(shares[1]) == "0.00"  # not "-0.00", which a trigger would show


@given(
    total_amount=cents,
    weights=st.lists(
        st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False), min_size=1
    ).filter(lambda ws: sum(ws) > 0),
)
def test_allocate_always_sums_exactly_to_the_total(
    total_amount: Decimal, weights: list[Decimal]
) -> None:
    shares = allocate(total_amount, weights)
    assert sum(shares, D(0)) == total_amount
    assert len(shares) == len(weights)
    weight_sum = sum(weights, D(0))
    for share, weight in zip(shares, weights, strict=True):
        assert share == share.quantize(CENT)
        assert abs(share - total_amount * weight / weight_sum) < CENT
        assert share * total_amount >= 0  # never the opposite sign of the total

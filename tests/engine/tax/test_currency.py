"""EUR conversion with ECB reference rates in the ECB's own CSV shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from engine.domain.tax import EcbRateTable, TaxError, default_ecb_rates, load_ecb_csv, to_eur

D = Decimal

# The ECB's eurofxref-hist.csv shape: newest first, trailing commas, N/A for no rate.
ECB_SAMPLE = """Date,USD,JPY,GBP,SEK,
2026-11-27,1.1500,170.12,0.8700,11.0000,
2026-11-26,1.1600,N/A,0.8800,N/A,
2026-11-25,1.2000,171.00,0.9000,10.0000,
"""


@pytest.fixture
def table() -> EcbRateTable:
    return load_ecb_csv(ECB_SAMPLE)


def test_euro_stays_euro() -> None:
    assert to_eur(D("12.34"), "EUR", date(1999, 1, 4)) == D("12.34")
    assert to_eur(D("12.34"), "eur", date(2026, 11, 27)) == D("12.34")


def test_conversion_divides_by_the_rate_of_that_day_and_rounds_to_the_cent(
    table: EcbRateTable,
) -> None:
    # 100 USD / 1.16 USD per EUR = 86.2068.. -> 86.21 EUR
    assert to_eur(D("100.00"), "USD", date(2026, 11, 26), table) == D("86.21")
    # 50 GBP / 0.87 = 57.4712.. -> 57.47
    assert to_eur(D("50.00"), "GBP", date(2026, 11, 27), table) == D("57.47")


def test_a_day_without_publication_takes_the_latest_earlier_rate(table: EcbRateTable) -> None:
    # Saturday 2026-11-28: Friday's 1.15. 115 / 1.15 = 100.00
    assert to_eur(D("115.00"), "USD", date(2026, 11, 28), table) == D("100.00")
    # SEK is N/A on the 26th: the 25th's 10.0000 applies
    assert to_eur(D("100.00"), "SEK", date(2026, 11, 26), table) == D("10.00")
    rate = table.rate_on("JPY", date(2026, 11, 26))
    assert (rate.day, rate.per_eur) == (date(2026, 11, 25), D("171.00"))


def test_no_rate_on_or_before_the_day_is_an_error(table: EcbRateTable) -> None:
    with pytest.raises(TaxError, match="on or before 2026-11-24"):
        to_eur(D("1.00"), "USD", date(2026, 11, 24), table)


def test_an_unknown_currency_is_an_error(table: EcbRateTable) -> None:
    with pytest.raises(TaxError, match="no ECB reference rate for CHF"):
        to_eur(D("1.00"), "CHF", date(2026, 11, 27), table)
    with pytest.raises(TaxError, match="ISO 4217"):
        to_eur(D("1.00"), "US$", date(2026, 11, 27), table)


def test_a_datetime_is_not_a_conversion_date(table: EcbRateTable) -> None:
    with pytest.raises(TaxError, match="not a datetime"):
        table.rate_on("USD", datetime(2026, 11, 27, tzinfo=UTC))


def test_the_table_knows_its_newest_day(table: EcbRateTable) -> None:
    assert table.latest_day == date(2026, 11, 27)
    assert table.currencies == {"USD", "JPY", "GBP", "SEK"}


def test_the_shipped_ecb_rates_cover_the_currencies_sellers_meet() -> None:
    shipped = default_ecb_rates()
    assert {"GBP", "USD", "SEK", "PLN", "DKK", "CZK", "HUF", "RON", "CHF"} <= shipped.currencies
    assert shipped.latest_day is not None
    # The ECB's published rate for 2026-10-30: 4.4038 PLN per EUR; 1000 / 4.4038 = 227.077..
    assert to_eur(D("1000.00"), "PLN", date(2026, 10, 30), shipped) == D("227.08")
    # Bulgaria adopted the euro on 2026-01-01: its last lev rate is from 2025
    assert shipped.rate_on("BGN", date(2026, 6, 1)).day.year == 2025


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header"),
        ("Day,USD\n2026-11-27,1.1\n", "header"),
        ("Date,USD\n27/11/2026,1.1\n", "not a date"),
        ("Date,USD\n2026-11-27,one\n", "not a number"),
        ("Date,USD\n2026-11-27,0\n", "must be positive"),
        ("Date,USD\n2026-11-27,1.1\n2026-11-27,1.2\n", "appears twice"),
    ],
)
def test_a_broken_table_is_refused(text: str, message: str) -> None:
    with pytest.raises(TaxError, match=message):
        load_ecb_csv(text)


def test_comment_lines_and_any_row_order_are_fine() -> None:
    table = load_ecb_csv("# sample\nDate,USD\n2026-01-02,1.10\n2026-01-05,1.20\n")
    assert table.rate_on("USD", date(2026, 1, 4)).per_eur == D("1.10")

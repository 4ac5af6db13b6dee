"""Converting order amounts to EUR with the ECB's euro reference rates.

The table is the ECB's `eurofxref-hist.csv` shape (`Date,USD,JPY,...` then one row per
publication day, "N/A" for a missing rate); the shipped `ecb_rates.csv` holds the ECB's
published rates since 2024, and a job can drop the ECB's current file in its place. A
conversion uses the latest rate published on or before the tax point: the ECB publishes on
TARGET working days only, so weekends and holidays take the previous working day's rate.

Only the threshold tracking needs EUR; triggers keep the order currency.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from engine.domain.tax.exceptions import TaxError
from engine.domain.tax.split import round_half_up

ECB_RATES_FILE = "ecb_rates.csv"
EUR = "EUR"
_MISSING = "N/A"


@dataclass(frozen=True, slots=True)
class ReferenceRate:
    """Units of `currency` per 1 EUR, as published by the ECB for `day`."""

    currency: str
    day: date
    per_eur: Decimal


@dataclass(frozen=True, slots=True)
class EcbRateTable:
    # Per currency, publication days ascending with the rate of each.
    series: Mapping[str, tuple[ReferenceRate, ...]]

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self.series)

    @property
    def latest_day(self) -> date | None:
        """The newest publication day in the table: a health check can tell a stale file."""
        days = [rates[-1].day for rates in self.series.values() if rates]
        return max(days, default=None)

    def rate_on(self, currency: str, on: date) -> ReferenceRate:
        """The latest published rate for `currency` on or before `on`."""
        code = _currency_code(currency)
        if isinstance(on, datetime):
            raise TaxError("a conversion date is a date, not a datetime")
        rates = self.series.get(code)
        if not rates:
            raise TaxError(f"no ECB reference rate for {code}")
        position = bisect_right([rate.day for rate in rates], on)
        if position == 0:
            raise TaxError(
                f"no ECB reference rate for {code} on or before {on.isoformat()}: "
                f"the table starts on {rates[0].day.isoformat()}"
            )
        return rates[position - 1]

    def to_eur(self, amount: Decimal, currency: str, on: date) -> Decimal:
        """`amount` of `currency` in EUR, rounded half up to the cent; EUR stays as it is."""
        if _currency_code(currency) == EUR:
            return amount
        rate = self.rate_on(currency, on)
        return round_half_up(amount / rate.per_eur)


def to_eur(amount: Decimal, currency: str, on: date, table: EcbRateTable | None = None) -> Decimal:
    """`amount` in EUR at the ECB rate of the latest day on or before `on` (the shipped table
    unless one is given). Raises `TaxError` when the table has no such rate."""
    return (table or default_ecb_rates()).to_eur(amount, currency, on)


@cache
def default_ecb_rates() -> EcbRateTable:
    """The shipped table, read once on first use."""
    text = resources.files("engine.domain.tax").joinpath(ECB_RATES_FILE).read_text(encoding="utf-8")
    return load_ecb_csv(text)


def load_ecb_csv(text: str) -> EcbRateTable:
    """Parse the ECB's CSV (any row order; `#` comment lines and empty columns ignored)."""
    content = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(content))))
    if not rows or not rows[0] or rows[0][0].strip() != "Date":
        raise TaxError("ECB rates: the first row must be the header `Date,USD,...`")
    # The ECB's file ends every line with a comma, which reads as one more, empty column.
    columns = [name.strip() for name in rows[0][1:]]
    found: dict[str, dict[date, Decimal]] = {name: {} for name in columns if name}
    for row in rows[1:]:
        day = _day(row[0])
        for name, raw in zip(columns, row[1:], strict=False):
            value = raw.strip()
            if not name or not value or value == _MISSING:
                continue
            if day in found[name]:
                raise TaxError(f"ECB rates: {day.isoformat()} appears twice")
            found[name][day] = _rate(value, name, day)
    series: dict[str, tuple[ReferenceRate, ...]] = {}
    for name, by_day in found.items():
        code = _currency_code(name)
        series[code] = tuple(ReferenceRate(code, day, rate) for day, rate in sorted(by_day.items()))
    return EcbRateTable(series=series)


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise TaxError(f"ECB rates: {raw!r} is not a date (YYYY-MM-DD)") from None


def _rate(raw: str, currency: str, day: date) -> Decimal:
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise TaxError(
            f"ECB rates: {currency} on {day.isoformat()} is not a number: {raw!r}"
        ) from None
    if not rate.is_finite() or rate <= 0:
        raise TaxError(f"ECB rates: {currency} on {day.isoformat()} must be positive: {raw!r}")
    return rate


def _currency_code(currency: str) -> str:
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise TaxError(f"not an ISO 4217 currency code: {currency!r}")
    return code

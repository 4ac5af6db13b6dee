"""EU VAT rates by member state, product category and tax point date.

Rates are fractions (`Decimal("0.21")` for 21%), the form `OrderLine.vat_rate` uses. They come
from `eu_vat_rates.toml`, which names its source and lists each state's rates with the day they
took effect. The rate is chosen by the tax point (for goods: the shipment date), never by the
day the engine happens to process the order.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from engine.domain.tax.exceptions import TaxError
from models.trigger import TaxCategory as TaxCategory  # the drafts carry it (models.codec)

RATES_FILE = "eu_vat_rates.toml"

EU_MEMBER_STATES: frozenset[str] = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)

# Greece is "GR" in ISO 3166 but "EL" in VAT numbers and some EU tables; both reach this code.
_COUNTRY_ALIASES = {"EL": "GR"}
_HUNDRED = Decimal(100)


def country_code(code: str) -> str:
    """An ISO 3166 alpha-2 code in upper case, with Greece's "EL" read as "GR"."""
    cleaned = code.strip().upper()
    if len(cleaned) != 2 or not cleaned.isascii() or not cleaned.isalpha():
        raise TaxError(f"not a two-letter country code: {code!r}")
    return _COUNTRY_ALIASES.get(cleaned, cleaned)


def is_member_state(code: str) -> bool:
    """Whether the country is one of the EU-27 (for goods: Northern Ireland is not modelled)."""
    return country_code(code) in EU_MEMBER_STATES


@dataclass(frozen=True, slots=True)
class CountryRates:
    """The rates one member state applies from `effective_from` until its next change."""

    country: str
    effective_from: date
    standard: Decimal
    reduced: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class RateTable:
    """Every member state's rate history, oldest period first."""

    source: str
    history: Mapping[str, tuple[CountryRates, ...]]

    def rates_on(self, country: str, on: date) -> CountryRates:
        """The rates in force in `country` on the tax point `on`."""
        code = country_code(country)
        periods = self.history.get(code)
        if periods is None:
            raise TaxError(f"no VAT rates for {code}: not an EU member state")
        day = _tax_point(on)
        in_force = [period for period in periods if period.effective_from <= day]
        if not in_force:
            raise TaxError(
                f"no VAT rates for {code} on {day.isoformat()}: the rate data starts on "
                f"{periods[0].effective_from.isoformat()}"
            )
        return in_force[-1]

    def rate_for(self, country: str, category: TaxCategory, on: date) -> Decimal:
        """The rate as a fraction; `reduced` is the state's main (first-listed) reduced rate."""
        chosen = _category(category)
        rates = self.rates_on(country, on)
        if chosen is TaxCategory.STANDARD:
            return rates.standard
        if chosen is TaxCategory.ZERO:
            return Decimal(0)
        if not rates.reduced:
            raise TaxError(
                f"no reduced VAT rate on file for {rates.country} on {_tax_point(on).isoformat()}:"
                f" the rate data lists none for the period from {rates.effective_from.isoformat()}"
            )
        return rates.reduced[0]


def rate_for(
    country: str, category: TaxCategory, on: date, table: RateTable | None = None
) -> Decimal:
    """The VAT rate (a fraction) for a product category in a member state on the tax point date.

    Raises `TaxError` for a country outside the EU, a date before the data starts, an unknown
    category, or a reduced rate the data does not list.
    """
    return (table or default_rate_table()).rate_for(country, category, on)


def rates_on(country: str, on: date, table: RateTable | None = None) -> CountryRates:
    """All rates of a member state on a date: the standard rate and every reduced rate."""
    return (table or default_rate_table()).rates_on(country, on)


@cache
def default_rate_table() -> RateTable:
    """The shipped rate data, read once on first use."""
    text = resources.files("engine.domain.tax").joinpath(RATES_FILE).read_text(encoding="utf-8")
    return load_rate_table(text)


def load_rate_table(text: str) -> RateTable:
    """Parse and check a rates file; every EU state must be present with ordered periods."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxError(f"rate data is not valid TOML: {exc}") from None
    meta = document.get("meta", {})
    source = meta.get("source") if isinstance(meta, dict) else None
    if not isinstance(source, str) or not source:
        raise TaxError("rate data must name its source in [meta] source")
    countries = document.get("rates")
    if not isinstance(countries, dict):
        raise TaxError("rate data has no [rates] table")
    history: dict[str, tuple[CountryRates, ...]] = {}
    for raw_code, raw_periods in countries.items():
        code = country_code(raw_code)
        if code != raw_code or code not in EU_MEMBER_STATES:
            raise TaxError(f"rate data: {raw_code!r} is not an EU member state code")
        if not isinstance(raw_periods, list) or not raw_periods:
            raise TaxError(f"rate data: {code} needs at least one period")
        periods = tuple(_period(code, raw) for raw in raw_periods)
        starts = [period.effective_from for period in periods]
        if starts != sorted(set(starts)):
            raise TaxError(f"rate data: {code} periods must be in date order without repeats")
        history[code] = periods
    missing = EU_MEMBER_STATES - history.keys()
    if missing:
        raise TaxError(f"rate data lacks member states {sorted(missing)}")
    return RateTable(source=source, history=history)


def _period(code: str, raw: Any) -> CountryRates:
    if not isinstance(raw, dict):
        raise TaxError(f"rate data: {code} periods must be tables")
    effective_from = raw.get("from")
    # tomllib gives a datetime for a value with a time; a period starts on a whole day.
    if not isinstance(effective_from, date) or isinstance(effective_from, datetime):
        raise TaxError(f"rate data: {code} period needs `from` as a date (YYYY-MM-DD)")
    where = f"{code} from {effective_from.isoformat()}"
    standard = _percent(raw.get("standard"), where)
    reduced_raw = raw.get("reduced", [])
    if not isinstance(reduced_raw, list):
        raise TaxError(f"rate data: {where}: `reduced` must be a list")
    reduced = tuple(_percent(value, where) for value in reduced_raw)
    if any(rate >= standard for rate in reduced):
        raise TaxError(f"rate data: {where}: a reduced rate is not below the standard rate")
    return CountryRates(code, effective_from, standard, reduced)


def _percent(raw: object, where: str) -> Decimal:
    # Strings only: a TOML float would have passed through binary floating point already.
    if not isinstance(raw, str):
        raise TaxError(f'rate data: {where}: rates are percent strings such as "21"')
    try:
        percent = Decimal(raw)
    except InvalidOperation:
        raise TaxError(f"rate data: {where}: {raw!r} is not a number") from None
    if not percent.is_finite() or not Decimal(0) <= percent < _HUNDRED:
        raise TaxError(f"rate data: {where}: {raw!r} is not a percentage below 100")
    return percent / _HUNDRED


def _category(category: TaxCategory | str) -> TaxCategory:
    try:
        return TaxCategory(category)
    except ValueError:
        raise TaxError(f"unknown tax category {category!r}") from None


def _tax_point(on: date) -> date:
    # A datetime is a date subclass but compares unequal to dates; which day it falls on depends
    # on a time zone, so that choice belongs to `tax_point_date`, not here.
    if isinstance(on, datetime):
        raise TaxError("a tax point is a date; convert datetimes with tax_point_date()")
    return on


def tax_point_date(shipped_at: datetime) -> date:
    """The tax point of a goods sale: the UTC calendar day of the shipment.

    Refuses naive datetimes: without a time zone the day itself is unknown.
    """
    if shipped_at.utcoffset() is None:
        raise TaxError("shipment time has no time zone; the tax point day would be a guess")
    return shipped_at.astimezone(UTC).date()

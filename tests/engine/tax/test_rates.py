"""Rates by member state, category and tax point date; the shipped data file and its checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.domain.exceptions import WinkelError
from engine.domain.tax import (
    EU_MEMBER_STATES,
    TaxCategory,
    TaxError,
    country_code,
    default_rate_table,
    is_member_state,
    load_rate_table,
    rate_for,
    rates_on,
    tax_point_date,
)

D = Decimal
STANDARD, REDUCED, ZERO = TaxCategory.STANDARD, TaxCategory.REDUCED, TaxCategory.ZERO

# The 2026 standard rates of docs/marketplaces.md §5.2, as fractions.
STANDARD_2026 = {
    "AT": "0.20", "BE": "0.21", "BG": "0.20", "HR": "0.25", "CY": "0.19", "CZ": "0.21",
    "DK": "0.25", "EE": "0.24", "FI": "0.255", "FR": "0.20", "DE": "0.19", "GR": "0.24",
    "HU": "0.27", "IE": "0.23", "IT": "0.22", "LV": "0.21", "LT": "0.21", "LU": "0.17",
    "MT": "0.18", "NL": "0.21", "PL": "0.23", "PT": "0.23", "RO": "0.21", "SK": "0.23",
    "SI": "0.22", "ES": "0.21", "SE": "0.25",
}  # fmt: skip


def test_the_member_states_are_the_eu_27_with_greece_as_gr() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert "GR" in EU_MEMBER_STATES
    assert "EL" not in EU_MEMBER_STATES
    assert set(STANDARD_2026) == EU_MEMBER_STATES


@pytest.mark.parametrize(("country", "rate"), sorted(STANDARD_2026.items()))
def test_standard_rates_in_2026_match_the_domain_notes(country: str, rate: str) -> None:
    assert rate_for(country, STANDARD, date(2026, 11, 27)) == D(rate)


@pytest.mark.parametrize(
    ("country", "day", "rate"),
    [
        ("EE", date(2024, 1, 1), "0.22"),
        ("EE", date(2025, 6, 30), "0.22"),
        ("EE", date(2025, 7, 1), "0.24"),
        ("FI", date(2024, 8, 31), "0.24"),
        ("FI", date(2024, 9, 1), "0.255"),
        ("RO", date(2025, 7, 31), "0.19"),
        ("RO", date(2025, 8, 1), "0.21"),
        ("SK", date(2024, 12, 31), "0.20"),
        ("SK", date(2025, 1, 1), "0.23"),
        ("LU", date(2024, 1, 1), "0.17"),
    ],
)
def test_standard_rate_changes_take_effect_on_their_day(country: str, day: date, rate: str) -> None:
    assert rate_for(country, STANDARD, day) == D(rate)


@pytest.mark.parametrize(
    ("country", "day", "rate"),
    [
        ("NL", date(2026, 1, 1), "0.09"),
        ("BE", date(2026, 3, 1), "0.06"),
        ("DE", date(2026, 1, 1), "0.07"),
        ("FR", date(2026, 1, 1), "0.055"),
        ("FI", date(2025, 12, 31), "0.14"),
        ("FI", date(2026, 1, 1), "0.135"),
        ("RO", date(2025, 8, 1), "0.11"),
        ("SK", date(2025, 1, 1), "0.19"),
    ],
)
def test_reduced_means_the_main_reduced_rate(country: str, day: date, rate: str) -> None:
    assert rate_for(country, REDUCED, day) == D(rate)


def test_every_reduced_rate_is_listed_main_one_first() -> None:
    assert rates_on("FR", date(2026, 1, 1)).reduced == (D("0.055"), D("0.10"), D("0.021"))
    assert rates_on("BE", date(2026, 1, 1)).reduced == (D("0.06"), D("0.12"))
    assert rates_on("FI", date(2026, 1, 1)).effective_from == date(2026, 1, 1)


def test_a_reduced_rate_the_notes_do_not_give_is_an_error_not_a_guess() -> None:
    with pytest.raises(TaxError, match="no reduced VAT rate on file for AT"):
        rate_for("AT", REDUCED, date(2026, 1, 1))
    with pytest.raises(TaxError, match="RO"):
        rate_for("RO", REDUCED, date(2025, 7, 31))


def test_zero_category_is_zero_in_any_member_state() -> None:
    assert rate_for("SE", ZERO, date(2026, 1, 1)) == 0
    with pytest.raises(TaxError):
        rate_for("CH", ZERO, date(2026, 1, 1))


def test_categories_from_config_strings_are_accepted_and_unknown_ones_refused() -> None:
    assert rate_for("NL", TaxCategory("reduced"), date(2026, 1, 1)) == D("0.09")
    with pytest.raises(TaxError, match="unknown tax category 'luxury'"):
        rate_for("NL", "luxury", date(2026, 1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("country", ["CH", "GB", "US", "XI", "NO"])
def test_countries_outside_the_eu_have_no_rates(country: str) -> None:
    with pytest.raises(TaxError, match="not an EU member state"):
        rate_for(country, STANDARD, date(2026, 1, 1))


@pytest.mark.parametrize("code", ["", "N", "NLD", "Netherlands", "1A", "ÄB"])
def test_malformed_country_codes_are_refused(code: str) -> None:
    with pytest.raises(TaxError, match="not a two-letter country code"):
        rate_for(code, STANDARD, date(2026, 1, 1))


def test_greece_answers_to_el_and_lower_case() -> None:
    assert country_code(" el ") == "GR"
    assert rate_for("EL", STANDARD, date(2026, 1, 1)) == D("0.24")
    assert rate_for("nl", STANDARD, date(2026, 1, 1)) == D("0.21")
    assert is_member_state("el")
    assert not is_member_state("CH")


def test_dates_before_the_data_starts_are_refused() -> None:
    with pytest.raises(TaxError, match="starts on 2024-01-01"):
        rate_for("NL", STANDARD, date(2023, 12, 31))


def test_tax_errors_are_winkel_errors() -> None:
    assert issubclass(TaxError, WinkelError)


def test_a_datetime_is_not_taken_for_a_tax_point() -> None:
    with pytest.raises(TaxError, match="tax_point_date"):
        rate_for("NL", STANDARD, datetime(2026, 1, 1, tzinfo=UTC))


def test_the_tax_point_is_the_utc_day_of_the_shipment() -> None:
    tallinn_evening = datetime(2025, 7, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert tax_point_date(tallinn_evening) == date(2025, 6, 30)
    assert tax_point_date(datetime(2025, 7, 1, 0, 0, tzinfo=UTC)) == date(2025, 7, 1)
    with pytest.raises(TaxError, match="no time zone"):
        tax_point_date(datetime(2025, 7, 1, 12, 0))


def test_the_shipped_file_names_its_source_and_covers_all_27() -> None:
    table = default_rate_table()
    assert "TEDB" in table.source
    assert set(table.history) == EU_MEMBER_STATES
    for periods in table.history.values():
        assert periods[0].effective_from == date(2024, 1, 1)
        assert [p.effective_from for p in periods] == sorted(p.effective_from for p in periods)


GOOD = """
[meta]
source = "test"
"""


def _all_states(extra: str = "", skip: str = "") -> str:
    blocks = [
        f'[[rates.{code}]]\nfrom = 2024-01-01\nstandard = "20"\nreduced = []\n'
        for code in sorted(EU_MEMBER_STATES)
        if code != skip
    ]
    return GOOD + "\n".join(blocks) + extra


def test_a_complete_file_loads() -> None:
    table = load_rate_table(_all_states())
    assert table.rate_for("MT", STANDARD, date(2030, 1, 1)) == D("0.20")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_all_states(skip="SE"), r"lacks member states \['SE'\]"),
        (_all_states('[[rates.CH]]\nfrom = 2024-01-01\nstandard = "8.1"\n'), "'CH'"),
        (_all_states('[[rates.NL]]\nfrom = 2023-01-01\nstandard = "21"\n'), "date order"),
        (_all_states('[[rates.NL]]\nfrom = 2024-01-01\nstandard = "21"\n'), "date order"),
        (
            _all_states(skip="NL") + "[[rates.NL]]\nfrom = 2024-01-01\nstandard = 21.0\n",
            "percent strings",
        ),
        (
            _all_states(skip="NL") + '[[rates.NL]]\nfrom = 2024-01-01\nstandard = "121"\n',
            "below 100",
        ),
        (
            _all_states(skip="NL")
            + '[[rates.NL]]\nfrom = 2024-01-01\nstandard = "21"\nreduced = ["21"]\n',
            "not below the standard",
        ),
        (
            _all_states(skip="NL") + '[[rates.NL]]\nfrom = 2024-01-01T00:00:00\nstandard = "21"\n',
            "as a date",
        ),
        (_all_states().replace('source = "test"', ""), "name its source"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(TaxError, match=message):
        load_rate_table(text)

"""The EUR 10,000 distance-sales threshold per company and calendar year."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.tax import (
    OSS_THRESHOLD_EUR,
    TaxError,
    ThresholdLevel,
    ThresholdReached,
    ThresholdState,
    record_sale,
)

D = Decimal
DAY = date(2026, 5, 4)
P80, P100 = ThresholdLevel.PERCENT_80, ThresholdLevel.PERCENT_100


def test_levels_are_eight_and_ten_thousand_euro() -> None:
    assert D("10000") == OSS_THRESHOLD_EUR
    assert (P80.amount_eur, P100.amount_eur) == (D("8000"), D("10000"))


def test_each_level_is_announced_once_when_first_reached() -> None:
    state = ThresholdState("nl", 2026)
    state, events = record_sale(state, D("7999.99"), DAY)
    assert events == ()
    state, events = record_sale(state, D("0.01"), DAY)
    assert events == (ThresholdReached("nl", 2026, P80, D("8000.00")),)
    state, events = record_sale(state, D("1000.00"), DAY)
    assert events == ()
    state, events = record_sale(state, D("1000.00"), DAY)
    assert events == (ThresholdReached("nl", 2026, P100, D("10000.00")),)
    state, events = record_sale(state, D("500.00"), DAY)
    assert events == ()
    assert (state.total_eur, state.reached_80, state.reached_100) == (D("10500.00"), True, True)


def test_one_big_sale_reaches_both_levels_in_order() -> None:
    _, events = record_sale(ThresholdState("nl", 2026), D("12000.00"), DAY)
    assert [event.level for event in events] == [P80, P100]


def test_reaching_ten_thousand_is_not_exceeding_it() -> None:
    state, events = record_sale(ThresholdState("nl", 2026), D("10000.00"), DAY)
    assert [event.level for event in events] == [P80, P100]
    assert not state.destination_vat_required
    state, _ = record_sale(state, D("0.01"), DAY)
    assert state.exceeded_this_year
    assert state.destination_vat_required


def test_a_credit_note_does_not_reopen_levels_or_the_switch() -> None:
    state, _ = record_sale(ThresholdState("nl", 2026), D("10100.00"), DAY)
    state, events = record_sale(state, D("-3000.00"), DAY)
    assert events == ()
    assert state.total_eur == D("7100.00")
    assert state.destination_vat_required  # the switch holds for the rest of the year
    state, events = record_sale(state, D("5000.00"), DAY)
    assert events == ()


def test_a_new_calendar_year_starts_from_zero_remembering_last_year() -> None:
    december, _ = record_sale(ThresholdState("nl", 2025), D("10000.01"), date(2025, 12, 31))
    january, events = record_sale(december, D("100.00"), date(2026, 1, 1))
    assert (january.year, january.total_eur, events) == (2026, D("100.00"), ())
    assert (january.reached_80, january.reached_100, january.exceeded_this_year) == (
        False,
        False,
        False,
    )
    assert january.exceeded_previous_year
    assert january.destination_vat_required
    # two years on, the old excess no longer counts
    later, _ = record_sale(january, D("1.00"), date(2028, 3, 1))
    assert not later.exceeded_previous_year


def test_a_year_under_the_threshold_leaves_the_next_year_free() -> None:
    state = ThresholdState.start("nl", 2026, ThresholdState("nl", 2025, D("10000.00")))
    assert not state.exceeded_previous_year
    assert state.total_eur == 0


def test_a_sale_from_an_earlier_year_needs_that_years_state() -> None:
    with pytest.raises(TaxError, match="belongs to 2025"):
        record_sale(ThresholdState("nl", 2026), D("1.00"), date(2025, 12, 31))


def test_another_companys_state_cannot_open_a_year() -> None:
    with pytest.raises(TaxError, match="'be'"):
        ThresholdState.start("nl", 2026, ThresholdState("be", 2025))


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-300_000, max_value=900_000).map(lambda n: D(n) / 100),
            st.sampled_from([2025, 2026]),
        ),
        max_size=60,
    )
)
def test_levels_are_announced_at_most_once_per_company_and_year(
    sales: list[tuple[Decimal, int]],
) -> None:
    state = ThresholdState("nl", 2025)
    announced: list[tuple[int, ThresholdLevel]] = []
    for amount, year in sorted(sales, key=lambda sale: sale[1]):
        state, events = record_sale(state, amount, date(year, 6, 1))
        announced += [(event.year, event.level) for event in events]
        for event in events:
            assert event.total_eur >= event.level.amount_eur
    assert len(announced) == len(set(announced))


def test_a_sale_counted_under_its_id_is_counted_once() -> None:
    state, events = record_sale(ThresholdState("nl", 2026), D("8500.00"), DAY, "invoice-1")
    assert (state.total_eur, state.sales_counted, state.recent) == (D("8500.00"), 1, ("invoice-1",))
    assert [event.level for event in events] == [P80]
    again, events = record_sale(state, D("8500.00"), DAY, "invoice-1")
    assert (again, events) == (state, ())
    later, _ = record_sale(state, D("100.00"), DAY, "invoice-2")
    assert (later.total_eur, later.sales_counted) == (D("8600.00"), 2)
    unnamed, _ = record_sale(later, D("1.00"), DAY)
    assert (unnamed.sales_counted, unnamed.recent) == (3, ("invoice-1", "invoice-2"))


def test_the_memory_of_counted_ids_is_bounded() -> None:
    from engine.domain.tax.threshold import RECENT_SALES_MEMORY

    state = ThresholdState("nl", 2026)
    for n in range(RECENT_SALES_MEMORY + 5):
        state, _ = record_sale(state, D("1.00"), DAY, f"s{n}")
    assert len(state.recent) == RECENT_SALES_MEMORY
    assert state.recent[-1] == f"s{RECENT_SALES_MEMORY + 4}"
    assert state.sales_counted == RECENT_SALES_MEMORY + 5

"""The read-model row of an order: which companies it shows, and what it totals."""

from __future__ import annotations

from datetime import timedelta

from engine.domain.summary import summarise
from tests.engine.test_lifecycle import LINES, ORDER_GROSS, PER_ORDER, T0, details
from tests.engine.test_lifecycle_companies import (
    BE_SITE,
    DE_SITE,
    SPLIT_ORDER,
    UNMAPPED,
    run,
    shipped_from,
)

HOUR = timedelta(hours=1)


def test_an_order_not_yet_shipped_shows_the_store_s_company() -> None:
    state, _ = run([details(T0)], SPLIT_ORDER)
    summary = summarise(state, SPLIT_ORDER)
    assert summary is not None
    assert (summary.company_id, summary.companies) == ("acme-nl", ("acme-nl",))
    assert summary.total_gross == ORDER_GROSS
    assert [line.sku for line in summary.lines] == [line.sku for line in LINES]


def test_a_split_order_shows_every_company_in_the_order_they_shipped() -> None:
    state, _ = run(
        [
            details(T0),
            shipped_from(DE_SITE, "s1", T0 + HOUR, ("a", 1)),
            shipped_from(BE_SITE, "s2", T0 + 2 * HOUR, ("a", 1)),
            shipped_from(UNMAPPED, "s3", T0 + 3 * HOUR, ("b", 1)),
        ],
        SPLIT_ORDER,
    )
    summary = summarise(state, SPLIT_ORDER)
    assert summary is not None
    assert summary.company_id == "acme-nl"  # the store's own
    assert summary.companies == ("winkel-de", "winkel-be", "acme-nl")


def test_a_store_without_locations_has_one_company() -> None:
    state, _ = run([details(T0), shipped_from(BE_SITE, "s1", T0, ("a", 2), ("b", 1))], PER_ORDER)
    summary = summarise(state, PER_ORDER)
    assert summary is not None
    assert summary.companies == ("acme-nl",)

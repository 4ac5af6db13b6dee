"""The EUR 10,000 EU-wide threshold for intra-EU distance sales (VAT Directive Art. 59c).

A supplier established in one member state, shipping from it, may charge its home VAT on
cross-border sales to consumers until the year's total of those sales (net of VAT, in EUR)
exceeds EUR 10,000. The sale that makes the total exceed it, and every such sale after it in
that year and the whole next year, take the destination country's VAT.

The state is one small value per company and calendar year (the agent keeps it in a
changelog-backed table); `record_sale` is the only way it changes, and it reports each level
(80% and 100% of the threshold) at most once per company and year.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from engine.domain.tax.exceptions import TaxError

OSS_THRESHOLD_EUR = Decimal("10000.00")


class ThresholdLevel(StrEnum):
    """How much of the threshold a company's distance sales have used up."""

    PERCENT_80 = "80_percent"
    PERCENT_100 = "100_percent"

    @property
    def amount_eur(self) -> Decimal:
        if self is ThresholdLevel.PERCENT_80:
            return OSS_THRESHOLD_EUR * Decimal("0.8")
        return OSS_THRESHOLD_EUR


@dataclass(frozen=True, slots=True)
class ThresholdReached:
    """A company's distance sales in `year` reached `level`; `total_eur` is the total just after.

    "Reached" means the total is at least the level. At exactly EUR 10,000 the 100% event is
    out while home VAT still applies: destination VAT starts when the total exceeds it.
    """

    company_id: str
    year: int
    level: ThresholdLevel
    total_eur: Decimal


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """A company's EU cross-border B2C distance sales in one calendar year, in EUR net of VAT."""

    company_id: str
    year: int
    total_eur: Decimal = Decimal("0.00")
    reached_80: bool = False
    reached_100: bool = False
    # Sticky: once a sale has taken the total past EUR 10,000, the switch to destination VAT
    # holds for the rest of the year even if a later credit note brings the total back under.
    exceeded_this_year: bool = False
    # Art. 59c(1)(c): home VAT needs the threshold unexceeded in the preceding year as well.
    exceeded_previous_year: bool = False
    # How many sales and credit notes this state has counted: a stored decision names the
    # count it reached, so a shell that lost the state's last write can tell and restore it.
    sales_counted: int = 0
    # The ids of the latest counted sales (bounded, newest last): a sale replayed after a crash
    # is recognised here and never counted twice, even if its decision record was lost.
    recent: tuple[str, ...] = ()

    @classmethod
    def start(
        cls, company_id: str, year: int, previous: ThresholdState | None = None
    ) -> ThresholdState:
        """A year's opening state: from zero, remembering whether the year before exceeded."""
        if previous is not None and previous.company_id != company_id:
            raise TaxError(
                f"threshold of {previous.company_id!r} cannot open a year for {company_id!r}"
            )
        exceeded_before = (
            previous is not None and previous.year == year - 1 and previous.exceeded_this_year
        )
        return cls(company_id=company_id, year=year, exceeded_previous_year=exceeded_before)

    @property
    def destination_vat_required(self) -> bool:
        """Whether distance sales must now carry the destination country's VAT."""
        return self.exceeded_this_year or self.exceeded_previous_year


#: How many counted sale ids a state remembers (see `ThresholdState.recent`).
RECENT_SALES_MEMORY = 64


def record_sale(
    state: ThresholdState, amount_eur: Decimal, on: date, sale_id: str | None = None
) -> tuple[ThresholdState, tuple[ThresholdReached, ...]]:
    """Add one distance sale (net of VAT, in EUR; negative for a credit note) on tax point `on`.

    A sale in a later calendar year than the state opens that year from zero first. Returns the
    new state and the levels this sale reached for the first time in its year. A `sale_id` the
    state already counted (a replay) changes nothing and reports nothing.
    """
    if sale_id is not None and on.year == state.year and sale_id in state.recent:
        return state, ()
    if on.year < state.year:
        raise TaxError(
            f"sale of {on.isoformat()} belongs to {on.year}; pass that year's threshold state"
        )
    current = (
        state if on.year == state.year else ThresholdState.start(state.company_id, on.year, state)
    )
    total = current.total_eur + amount_eur
    events: list[ThresholdReached] = []
    reached_80, reached_100 = current.reached_80, current.reached_100
    # Flags, not the total, decide: a credit note may take the total back under a level, and
    # the level must not be announced again when later sales pass it a second time.
    if not reached_80 and total >= ThresholdLevel.PERCENT_80.amount_eur:
        reached_80 = True
        events.append(
            ThresholdReached(current.company_id, on.year, ThresholdLevel.PERCENT_80, total)
        )
    if not reached_100 and total >= ThresholdLevel.PERCENT_100.amount_eur:
        reached_100 = True
        events.append(
            ThresholdReached(current.company_id, on.year, ThresholdLevel.PERCENT_100, total)
        )
    new_state = replace(
        current,
        total_eur=total,
        reached_80=reached_80,
        reached_100=reached_100,
        exceeded_this_year=current.exceeded_this_year or total > OSS_THRESHOLD_EUR,
        sales_counted=current.sales_counted + 1,
        recent=current.recent
        if sale_id is None
        else (*current.recent, sale_id)[-RECENT_SALES_MEMORY:],
    )
    return new_state, tuple(events)

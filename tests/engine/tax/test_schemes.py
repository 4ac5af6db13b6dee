"""The scheme decision beyond the case table: VAT number checks, VIES, threshold facts, errors."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from engine.config import Company
from engine.tax import (
    FormatOnlyChecker,
    Sale,
    TaxCategory,
    TaxError,
    ThresholdLevel,
    ThresholdState,
    VatIdCheck,
    VatNumberChecker,
    consult,
    decide,
    vat_id_check,
)
from models.order import Customer
from models.trigger import VatScheme, VatTreatment

D = Decimal
DAY = date(2026, 6, 1)
NOTHING_YET = Decimal("0.00")
HUNDRED_EUR = Decimal("100.00")
NL_SELLER = Company("nl", "Klein Winkeltje BV", "NL", "NL004495445B01", oss_registered=False)


def _business(vat_id: str | None) -> Customer:
    return Customer(name="Firma", country="DE", vat_id=vat_id, is_business=True)


def _sale(
    ship_to: str = "DE",
    *,
    customer: Customer | None = None,
    before: Decimal = NOTHING_YET,
    amount: Decimal = HUNDRED_EUR,
    ship_from: str = "NL",
    seller: Company = NL_SELLER,
    marketplace_collected: bool = False,
) -> Sale:
    return Sale(
        seller=seller,
        ship_from=ship_from,
        ship_to=ship_to,
        customer=customer or Customer(name="Consument", country=ship_to),
        tax_point=DAY,
        amount_eur=amount,
        threshold=ThresholdState(
            seller.id,
            DAY.year,
            before,
            reached_80=before >= 8000,
            reached_100=before >= 10000,
            exceeded_this_year=before > 10000,
        ),
        marketplace_collected=marketplace_collected,
    )


@pytest.mark.parametrize(
    ("customer", "vies", "expected"),
    [
        (Customer("Consument", "DE"), None, VatIdCheck.NOT_GIVEN),
        (Customer("Consument", "DE", vat_id="DE136695976"), None, VatIdCheck.NOT_GIVEN),
        (_business(None), None, VatIdCheck.NOT_GIVEN),
        (_business("  "), None, VatIdCheck.NOT_GIVEN),
        (_business("DE136695977"), None, VatIdCheck.INVALID),
        (_business("DE 136 695 976"), None, VatIdCheck.FORMAT_VALID),
        (_business("de136695976"), None, VatIdCheck.FORMAT_VALID),
        (_business("XI123456782"), None, VatIdCheck.NOT_EU),
        (_business("NL004495445B01"), None, VatIdCheck.SAME_COUNTRY),
        (_business("DE136695976"), True, VatIdCheck.VIES_CONFIRMED),
        (_business("DE136695976"), False, VatIdCheck.VIES_REJECTED),
        (_business("DE136695977"), True, VatIdCheck.INVALID),
    ],
)
def test_what_a_vat_number_supports(
    customer: Customer, vies: bool | None, expected: VatIdCheck
) -> None:
    assert vat_id_check(customer, "NL", vies) is expected


def test_reverse_charge_prints_the_number_in_its_compact_form() -> None:
    decision = decide(_sale(customer=_business("de 136.695.976")))
    assert decision.scheme is VatScheme.REVERSE_CHARGE
    assert decision.customer_vat_id == "DE136695976"
    assert decision.vat_id_check is VatIdCheck.FORMAT_VALID
    assert decision.treatment == VatTreatment(VatScheme.REVERSE_CHARGE, "NL")
    assert decision.rate(TaxCategory.STANDARD, DAY) == 0
    assert not decision.counts_toward_threshold


def test_an_unusable_number_is_recorded_on_the_consumer_decision() -> None:
    decision = decide(_sale(customer=_business("DE136695977")))
    assert (decision.scheme, decision.vat_id_check) == (VatScheme.DOMESTIC, VatIdCheck.INVALID)
    assert decision.reason == (
        "distance sale, origin rate (NL to DE to a consumer (VAT number invalid)): NL VAT, "
        "under the EUR 10,000 threshold of Art. 59c and not OSS-registered"
    )


def test_a_consumer_abroad_under_the_threshold_is_labelled_distance_sale_origin_rate() -> None:
    decision = decide(_sale("BE", customer=Customer("Lukas Peeters", "BE")))
    assert (decision.scheme, decision.country) == (VatScheme.DOMESTIC, "NL")
    assert decision.reason.startswith("distance sale, origin rate (NL to BE to a consumer)")
    assert decision.counts_toward_threshold


def test_a_consumer_abroad_over_the_threshold_is_no_origin_rate_sale() -> None:
    decision = decide(_sale("BE", customer=Customer("Lukas Peeters", "BE"), before=D("9990.00")))
    assert decision.scheme is VatScheme.OSS
    assert "origin rate" not in decision.reason


def test_the_crossing_sale_reports_the_threshold_facts() -> None:
    sale = _sale(before=D("7950.00"), amount=D("2100.00"))
    decision = decide(sale)
    assert decision.scheme is VatScheme.OSS
    assert sale.cross_border_b2c_eur_before == D("7950.00")
    assert decision.running_total_eur == D("10050.00")
    assert [(e.company_id, e.year, e.level) for e in decision.threshold_events] == [
        ("nl", 2026, ThresholdLevel.PERCENT_80),
        ("nl", 2026, ThresholdLevel.PERCENT_100),
    ]
    assert decision.threshold.exceeded_this_year
    assert "exceeded EUR 10,000 in 2026" in decision.reason


def test_sales_that_are_not_distance_sales_leave_the_threshold_alone() -> None:
    for sale in (
        _sale("NL"),
        _sale("CH"),
        _sale(customer=_business("DE136695976")),
        _sale(marketplace_collected=True),
        _sale(ship_from="DE", ship_to="FR"),  # FBA stock abroad: outside the threshold
    ):
        decision = decide(sale)
        assert not decision.counts_toward_threshold
        assert decision.threshold == sale.threshold
        assert decision.threshold_events == ()


def test_an_oss_registered_company_still_tracks_its_total() -> None:
    seller = Company("nl_oss", "Groot BV", "NL", None, oss_registered=True)
    decision = decide(_sale(seller=seller, before=D("7999.00"), amount=D("1.00")))
    assert decision.scheme is VatScheme.OSS
    assert decision.running_total_eur == D("8000.00")
    assert [event.level for event in decision.threshold_events] == [ThresholdLevel.PERCENT_80]
    assert "OSS-registered" in decision.reason


def test_a_sale_in_a_new_year_starts_the_count_again() -> None:
    december = ThresholdState("nl", 2025, D("9000.00"), reached_80=True)
    sale = Sale(NL_SELLER, "NL", "BE", Customer("C", "BE"), DAY, D("2000.00"), december)
    decision = decide(sale)
    assert decision.scheme is VatScheme.DOMESTIC
    assert (decision.threshold.year, decision.running_total_eur) == (2026, D("2000.00"))
    assert sale.cross_border_b2c_eur_before == D("9000.00")


def test_a_company_outside_the_eu_never_has_the_threshold() -> None:
    seller = Company("us", "Widgets Inc", "US", None, oss_registered=False)
    decision = decide(_sale(seller=seller, ship_from="NL", ship_to="BE"))
    assert (decision.scheme, decision.country) == (VatScheme.OSS, "BE")


def test_marketplace_collected_outside_the_eu_has_no_eu_rate() -> None:
    decision = decide(_sale("GB", marketplace_collected=True))
    assert decision.treatment == VatTreatment(VatScheme.MARKETPLACE_COLLECTED, "GB")
    with pytest.raises(TaxError, match="marketplace's own tax lines"):
        decision.rate(TaxCategory.STANDARD, DAY)


@pytest.mark.parametrize(
    ("sale", "message"),
    [
        (_sale(ship_from="CN", ship_to="FR"), "outside the EU: an import"),
        (_sale(amount=D("-1.00")), "cannot be negative"),
        (_sale(ship_to="ZZZ"), "two-letter"),
    ],
)
def test_sales_the_core_cannot_decide_are_refused(sale: Sale, message: str) -> None:
    with pytest.raises(TaxError, match=message):
        decide(sale)


def test_another_companys_threshold_is_refused() -> None:
    sale = Sale(
        NL_SELLER, "NL", "BE", Customer("C", "BE"), DAY, D("1.00"), ThresholdState("be", 2026)
    )
    with pytest.raises(TaxError, match="threshold state of 'be'"):
        decide(sale)


# --- the VIES interface -------------------------------------------------------------------------


class _Vies:
    def __init__(self, answer: bool | None = True, delay: float = 0.0, fail: bool = False):
        self.answer, self.delay, self.fail = answer, delay, fail

    async def check(self, vat_id: str) -> bool | None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("VIES: MS_UNAVAILABLE")
        return self.answer


async def test_the_default_checker_never_claims_a_number_is_registered() -> None:
    checker: VatNumberChecker = FormatOnlyChecker()
    assert await checker.check("DE136695976") is None
    assert await checker.check("DE136695977") is False


async def test_consult_passes_on_a_prompt_answer() -> None:
    assert await consult(_Vies(True), "DE136695976") is True
    assert await consult(_Vies(False), "DE136695976") is False


async def test_consult_never_waits_longer_than_its_timeout() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await consult(_Vies(True, delay=5.0), "DE136695976", timeout_seconds=0.05) is None
    assert loop.time() - started < 1.0


async def test_a_failing_checker_gives_no_answer_rather_than_an_error() -> None:
    assert await consult(_Vies(fail=True), "DE136695976") is None

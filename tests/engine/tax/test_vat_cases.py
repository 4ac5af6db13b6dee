"""The VAT case table: one sale line per row, expectations worked out by hand.

Each row gives the sale (seller, ship-from, ship-to, customer, date, price) and what an
accountant expects: scheme, VAT country, rate and net/VAT/gross to the cent. The arithmetic in
the comments is the rounding rule of docs/vat.md done on paper:
inclusive: VAT = round(gross x r / (1 + r)), net = gross - VAT;
exclusive: VAT = round(net x r), gross = net + VAT; round = half up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from engine.domain.config import Company
from engine.domain.tax import (
    Amounts,
    Sale,
    TaxCategory,
    ThresholdLevel,
    ThresholdState,
    decide,
    split_line,
)
from models.order import Customer
from models.trigger import VatScheme

D = Decimal
STANDARD, REDUCED = TaxCategory.STANDARD, TaxCategory.REDUCED
DOMESTIC, OSS, RC = VatScheme.DOMESTIC, VatScheme.OSS, VatScheme.REVERSE_CHARGE
EXPORT, MARKETPLACE = VatScheme.EXPORT, VatScheme.MARKETPLACE_COLLECTED

COMPANIES = {
    "nl": Company("nl", "Klein Winkeltje BV", "NL", "NL004495445B01", oss_registered=False),
    "nl_oss": Company("nl_oss", "Groot Warenhuis BV", "NL", "NL004495445B01", oss_registered=True),
    "be": Company("be", "Petit Magasin SRL", "BE", "BE0428759497", oss_registered=False),
    "be_oss": Company("be_oss", "Grand Magasin SA", "BE", "BE0428759497", oss_registered=True),
    "ee": Company("ee", "Väike Pood OÜ", "EE", "EE100247019", oss_registered=False),
}

# Business VAT numbers checked with stdnum.eu.vat.is_valid: True for these ...
NL_VAT, BE_VAT, DE_VAT, FR_VAT = "NL004495445B01", "BE0428759497", "DE136695976", "FR40303265045"
IT_VAT, ES_VAT, PL_VAT, SE_VAT = "IT00743110157", "ESA28015865", "PL5260250995", "SE556703748501"
FI_VAT, SK_VAT, GR_VAT = "FI20774740", "SK2020317068", "EL094014201"
# ... and False for these (last digit changed, so the checksum fails).
BAD_BE_VAT, BAD_DE_VAT, BAD_FR_VAT = "BE0428759498", "DE136695977", "FR40303265046"

SPRING_2026 = date(2026, 3, 10)
NOTHING_YET = Decimal("0.00")
HUNDRED_EUR = Decimal("100.00")


@dataclass(frozen=True)
class Case:
    id: str
    seller: str
    ship_from: str
    ship_to: str
    amount: Decimal  # the line total as the marketplace states it
    inclusive: bool  # prices include VAT
    scheme: VatScheme
    country: str
    rate: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal
    vat_id: str | None = None  # a business customer's VAT number; None for a consumer
    on: date = SPRING_2026
    category: TaxCategory = STANDARD
    before_eur: Decimal = NOTHING_YET  # the company's distance sales this year before the sale
    amount_eur: Decimal = HUNDRED_EUR  # this sale's EUR value net of VAT, for the threshold
    exceeded_last_year: bool = False
    marketplace_collected: bool = False
    vies: bool | None = None
    total_after: Decimal | None = None  # the running total expected after the sale


# A table reads row by row: keep each case on its lines rather than one argument per line.
# fmt: off
CASES = [
    # --- domestic: the goods stay in the ship-from country -------------------------------------
    # 121.00 x 0.21 / 1.21 = 21.00
    Case("nl-nl b2c incl", "nl", "NL", "NL", D("121.00"), True,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00")),
    # 100.00 x 0.21 = 21.00
    Case("nl-nl b2c excl", "nl", "NL", "NL", D("100.00"), False,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00")),
    # a Dutch business buying from Dutch stock pays Dutch VAT: 60.50 x 0.21 / 1.21 = 10.50
    Case("nl-nl b2b same country", "nl", "NL", "NL", D("60.50"), True,
         DOMESTIC, "NL", D("0.21"), D("50.00"), D("10.50"), D("60.50"), vat_id=NL_VAT),
    # 19.99 x 0.21 / 1.21 = 3.46933.. -> 3.47
    Case("be-be b2c incl odd cents", "be", "BE", "BE", D("19.99"), True,
         DOMESTIC, "BE", D("0.21"), D("16.52"), D("3.47"), D("19.99")),
    # 10.60 x 0.06 / 1.06 = 0.60
    Case("be-be reduced 6%", "be", "BE", "BE", D("10.60"), True,
         DOMESTIC, "BE", D("0.06"), D("10.00"), D("0.60"), D("10.60"), category=REDUCED),
    # 24.95 x 0.09 = 2.2455 -> 2.25
    Case("nl-nl reduced 9% excl", "nl", "NL", "NL", D("24.95"), False,
         DOMESTIC, "NL", D("0.09"), D("24.95"), D("2.25"), D("27.20"), category=REDUCED),
    # FBA stock in Germany to a German consumer: German VAT. 59.50 x 0.19 / 1.19 = 9.50
    Case("fba de-de for nl seller", "nl", "DE", "DE", D("59.50"), True,
         DOMESTIC, "DE", D("0.19"), D("50.00"), D("9.50"), D("59.50")),
    # 10.55 x 0.055 / 1.055 = 0.55
    Case("fba fr-fr reduced 5.5%", "nl", "FR", "FR", D("10.55"), True,
         DOMESTIC, "FR", D("0.055"), D("10.00"), D("0.55"), D("10.55"), category=REDUCED),
    # Estonia 22% until 2025-06-30: 10.00 x 0.22 = 2.20
    Case("ee-ee day before 24%", "ee", "EE", "EE", D("10.00"), False,
         DOMESTIC, "EE", D("0.22"), D("10.00"), D("2.20"), D("12.20"), on=date(2025, 6, 30)),
    # 24% from 2025-07-01: 10.00 x 0.24 = 2.40
    Case("ee-ee first day of 24%", "ee", "EE", "EE", D("10.00"), False,
         DOMESTIC, "EE", D("0.24"), D("10.00"), D("2.40"), D("12.40"), on=date(2025, 7, 1)),
    # --- reverse charge: business with another member state's valid VAT number -----------------
    Case("nl-de b2b excl", "nl", "NL", "DE", D("250.00"), False,
         RC, "NL", D("0"), D("250.00"), D("0.00"), D("250.00"), vat_id=DE_VAT),
    # a VAT-inclusive marketplace price at 0%: everything is net
    Case("nl-de b2b incl price", "nl", "NL", "DE", D("119.00"), True,
         RC, "NL", D("0"), D("119.00"), D("0.00"), D("119.00"), vat_id=DE_VAT),
    Case("nl-be b2b", "nl", "NL", "BE", D("80.00"), False,
         RC, "NL", D("0"), D("80.00"), D("0.00"), D("80.00"), vat_id=BE_VAT),
    Case("be-fr b2b", "be", "BE", "FR", D("80.00"), False,
         RC, "BE", D("0"), D("80.00"), D("0.00"), D("80.00"), vat_id=FR_VAT),
    Case("be-nl b2b", "be", "BE", "NL", D("12.34"), False,
         RC, "BE", D("0"), D("12.34"), D("0.00"), D("12.34"), vat_id=NL_VAT),
    Case("nl-it b2b", "nl", "NL", "IT", D("99.99"), False,
         RC, "NL", D("0"), D("99.99"), D("0.00"), D("99.99"), vat_id=IT_VAT),
    Case("nl-es b2b", "nl", "NL", "ES", D("45.00"), False,
         RC, "NL", D("0"), D("45.00"), D("0.00"), D("45.00"), vat_id=ES_VAT),
    Case("nl-pl b2b", "nl", "NL", "PL", D("310.00"), False,
         RC, "NL", D("0"), D("310.00"), D("0.00"), D("310.00"), vat_id=PL_VAT),
    Case("nl-se b2b", "nl", "NL", "SE", D("17.50"), False,
         RC, "NL", D("0"), D("17.50"), D("0.00"), D("17.50"), vat_id=SE_VAT),
    Case("ee-fi b2b", "ee", "EE", "FI", D("500.00"), False,
         RC, "EE", D("0"), D("500.00"), D("0.00"), D("500.00"), vat_id=FI_VAT),
    Case("nl-sk b2b", "nl_oss", "NL", "SK", D("64.00"), False,
         RC, "NL", D("0"), D("64.00"), D("0.00"), D("64.00"), vat_id=SK_VAT),
    # Greek numbers carry the prefix EL; the ship-to may be given as EL too
    Case("nl-gr b2b EL prefix", "nl", "NL", "EL", D("70.00"), False,
         RC, "NL", D("0"), D("70.00"), D("0.00"), D("70.00"), vat_id=GR_VAT),
    # FBA: German stock to a Dutch business is an intra-Community supply from Germany
    Case("fba de-nl b2b", "nl", "DE", "NL", D("200.00"), False,
         RC, "DE", D("0"), D("200.00"), D("0.00"), D("200.00"), vat_id=NL_VAT),
    # --- business customers whose VAT number does not qualify: treated as consumers -----------
    # checksum fails; small NL seller under the threshold: NL 21%. 121.00 x 0.21 / 1.21 = 21.00
    Case("nl-be invalid vat id", "nl", "NL", "BE", D("121.00"), True,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), vat_id=BAD_BE_VAT,
         total_after=D("100.00")),
    # checksum fails; OSS seller: German VAT. 119.00 x 0.19 / 1.19 = 19.00
    Case("nl-de invalid vat id oss", "nl_oss", "NL", "DE", D("119.00"), True,
         OSS, "DE", D("0.19"), D("100.00"), D("19.00"), D("119.00"), vat_id=BAD_DE_VAT),
    # 50.00 x 0.20 = 10.00
    Case("be-fr invalid vat id oss", "be_oss", "BE", "FR", D("50.00"), False,
         OSS, "FR", D("0.20"), D("50.00"), D("10.00"), D("60.00"), vat_id=BAD_FR_VAT),
    # a Dutch number for goods leaving the Netherlands is no intra-Community supply: 50 x 0.21
    Case("nl-be with nl vat id", "nl", "NL", "BE", D("50.00"), False,
         DOMESTIC, "NL", D("0.21"), D("50.00"), D("10.50"), D("60.50"), vat_id=NL_VAT),
    # VIES says the (well-formed) number is not registered: consumer, NL 21%
    Case("nl-de vies rejected", "nl", "NL", "DE", D("100.00"), False,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), vat_id=DE_VAT,
         vies=False),
    Case("nl-de vies confirmed", "nl", "NL", "DE", D("100.00"), False,
         RC, "NL", D("0"), D("100.00"), D("0.00"), D("100.00"), vat_id=DE_VAT, vies=True),
    # --- consumers abroad under the threshold: home VAT ----------------------------------------
    # 121.00 x 0.21 / 1.21 = 21.00
    Case("nl-be b2c under threshold", "nl", "NL", "BE", D("121.00"), True,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), before_eur=D("2000.00"),
         total_after=D("2100.00")),
    Case("nl-de b2c under threshold excl", "nl", "NL", "DE", D("100.00"), False,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), before_eur=D("5000.00"),
         total_after=D("5100.00")),
    # 36.30 x 0.21 / 1.21 = 6.30
    Case("be-fr b2c under threshold", "be", "BE", "FR", D("36.30"), True,
         DOMESTIC, "BE", D("0.21"), D("30.00"), D("6.30"), D("36.30"), amount_eur=D("30.00")),
    # home reduced rate: 10.90 x 0.09 / 1.09 = 0.90
    Case("nl-fr b2c reduced under threshold", "nl", "NL", "FR", D("10.90"), True,
         DOMESTIC, "NL", D("0.09"), D("10.00"), D("0.90"), D("10.90"), category=REDUCED,
         amount_eur=D("10.00")),
    # --- the threshold: exceeding it, not reaching it, switches to destination VAT -------------
    # 9899.99 + 100.00 = 9999.99: still home VAT
    Case("nl-it one cent under", "nl", "NL", "IT", D("121.00"), True,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), before_eur=D("9899.99"),
         total_after=D("9999.99")),
    # 9900.00 + 100.00 = 10000.00: reached, not exceeded, still home VAT
    Case("nl-de exactly at threshold", "nl", "NL", "DE", D("121.00"), True,
         DOMESTIC, "NL", D("0.21"), D("100.00"), D("21.00"), D("121.00"), before_eur=D("9900.00"),
         total_after=D("10000.00")),
    # 9950.00 + 100.00 = 10050.00 > 10000: this crossing sale takes German VAT, 119 x 0.19/1.19
    Case("nl-de crossing sale", "nl", "NL", "DE", D("119.00"), True,
         OSS, "DE", D("0.19"), D("100.00"), D("19.00"), D("119.00"), before_eur=D("9950.00"),
         total_after=D("10050.00")),
    # 9999.99 + 20.00 crosses: Dutch VAT for a Belgian seller, 24.20 x 0.21 / 1.21 = 4.20
    Case("be-nl crossing sale", "be", "BE", "NL", D("24.20"), True,
         OSS, "NL", D("0.21"), D("20.00"), D("4.20"), D("24.20"), before_eur=D("9999.99"),
         amount_eur=D("20.00"), total_after=D("10019.99")),
    # after the crossing: French VAT, 50.00 x 0.20 = 10.00
    Case("nl-fr after crossing", "nl", "NL", "FR", D("50.00"), False,
         OSS, "FR", D("0.20"), D("50.00"), D("10.00"), D("60.00"), before_eur=D("12000.00"),
         amount_eur=D("50.00"), total_after=D("12050.00")),
    # exceeded last year: destination VAT from the first sale of this year, 100 x 0.21
    Case("nl-be exceeded last year", "nl", "NL", "BE", D("100.00"), False,
         OSS, "BE", D("0.21"), D("100.00"), D("21.00"), D("121.00"), exceeded_last_year=True,
         total_after=D("100.00")),
    # --- OSS-registered sellers: destination VAT from the first euro ---------------------------
    # 122.00 x 0.22 / 1.22 = 22.00
    Case("nl oss-it", "nl_oss", "NL", "IT", D("122.00"), True,
         OSS, "IT", D("0.22"), D("100.00"), D("22.00"), D("122.00")),
    # 33.33 x 0.21 = 6.9993 -> 7.00
    Case("nl oss-es excl", "nl_oss", "NL", "ES", D("33.33"), False,
         OSS, "ES", D("0.21"), D("33.33"), D("7.00"), D("40.33")),
    # 49.99 x 0.23 / 1.23 = 9.34772.. -> 9.35
    Case("nl oss-pl", "nl_oss", "NL", "PL", D("49.99"), True,
         OSS, "PL", D("0.23"), D("40.64"), D("9.35"), D("49.99")),
    # 199.00 x 0.25 / 1.25 = 39.80
    Case("nl oss-se", "nl_oss", "NL", "SE", D("199.00"), True,
         OSS, "SE", D("0.25"), D("159.20"), D("39.80"), D("199.00")),
    # 21.40 x 0.07 / 1.07 = 1.40
    Case("be oss-de reduced 7%", "be_oss", "BE", "DE", D("21.40"), True,
         OSS, "DE", D("0.07"), D("20.00"), D("1.40"), D("21.40"), category=REDUCED),
    # 18.99 x 0.055 = 1.04445 -> 1.04
    Case("nl oss-fr reduced 5.5% excl", "nl_oss", "NL", "FR", D("18.99"), False,
         OSS, "FR", D("0.055"), D("18.99"), D("1.04"), D("20.03"), category=REDUCED),
    # 36.30 x 0.21 / 1.21 = 6.30
    Case("be oss-nl", "be_oss", "BE", "NL", D("36.30"), True,
         OSS, "NL", D("0.21"), D("30.00"), D("6.30"), D("36.30")),
    # --- destination rates on both sides of their change dates ---------------------------------
    # Estonia 22%: 122.00 x 0.22 / 1.22 = 22.00
    Case("oss ee day before", "nl_oss", "NL", "EE", D("122.00"), True,
         OSS, "EE", D("0.22"), D("100.00"), D("22.00"), D("122.00"), on=date(2025, 6, 30)),
    # Estonia 24%: 122.00 x 0.24 / 1.24 = 23.6129.. -> 23.61
    Case("oss ee change day", "nl_oss", "NL", "EE", D("122.00"), True,
         OSS, "EE", D("0.24"), D("98.39"), D("23.61"), D("122.00"), on=date(2025, 7, 1)),
    # Finland 24%: 100.00 x 0.24 = 24.00
    Case("oss fi day before", "nl_oss", "NL", "FI", D("100.00"), False,
         OSS, "FI", D("0.24"), D("100.00"), D("24.00"), D("124.00"), on=date(2024, 8, 31)),
    # Finland 25.5%: 100.00 x 0.255 = 25.50
    Case("oss fi change day", "nl_oss", "NL", "FI", D("100.00"), False,
         OSS, "FI", D("0.255"), D("100.00"), D("25.50"), D("125.50"), on=date(2024, 9, 1)),
    # Finland 25.5% inclusive: 9.99 x 0.255 / 1.255 = 2.02984.. -> 2.03
    Case("oss fi incl odd cents", "nl_oss", "NL", "FI", D("9.99"), True,
         OSS, "FI", D("0.255"), D("7.96"), D("2.03"), D("9.99")),
    # Romania 19%: 59.90 x 0.19 / 1.19 = 9.56386.. -> 9.56
    Case("oss ro day before", "nl_oss", "NL", "RO", D("59.90"), True,
         OSS, "RO", D("0.19"), D("50.34"), D("9.56"), D("59.90"), on=date(2025, 7, 31)),
    # Romania 21%: 59.90 x 0.21 / 1.21 = 10.39586.. -> 10.40
    Case("oss ro change day", "nl_oss", "NL", "RO", D("59.90"), True,
         OSS, "RO", D("0.21"), D("49.50"), D("10.40"), D("59.90"), on=date(2025, 8, 1)),
    # Romania reduced 11% after the reform: 11.10 x 0.11 / 1.11 = 1.10
    Case("oss ro reduced 11%", "nl_oss", "NL", "RO", D("11.10"), True,
         OSS, "RO", D("0.11"), D("10.00"), D("1.10"), D("11.10"), on=date(2025, 8, 1),
         category=REDUCED),
    # Slovakia 20%: 45.45 x 0.20 = 9.09
    Case("oss sk day before", "nl_oss", "NL", "SK", D("45.45"), False,
         OSS, "SK", D("0.20"), D("45.45"), D("9.09"), D("54.54"), on=date(2024, 12, 31)),
    # Slovakia 23%: 45.45 x 0.23 = 10.4535 -> 10.45
    Case("oss sk change day", "nl_oss", "NL", "SK", D("45.45"), False,
         OSS, "SK", D("0.23"), D("45.45"), D("10.45"), D("55.90"), on=date(2025, 1, 1)),
    # Finland's main reduced rate 14% until 2025, 13.5% from 2026: 100.00 x 0.14 / x 0.135
    Case("oss fi reduced 2025", "nl_oss", "NL", "FI", D("100.00"), False,
         OSS, "FI", D("0.14"), D("100.00"), D("14.00"), D("114.00"), on=date(2025, 12, 31),
         category=REDUCED),
    Case("oss fi reduced 2026", "nl_oss", "NL", "FI", D("100.00"), False,
         OSS, "FI", D("0.135"), D("100.00"), D("13.50"), D("113.50"), on=date(2026, 1, 1),
         category=REDUCED),
    # --- FBA stock abroad: the warehouse is the origin, no threshold for it --------------------
    # NL seller under the threshold, but German stock to France: French VAT, 120 x 0.2/1.2
    Case("fba de-fr b2c", "nl", "DE", "FR", D("120.00"), True,
         OSS, "FR", D("0.20"), D("100.00"), D("20.00"), D("120.00"), total_after=D("0.00")),
    # 23.80 x 0.19 / 1.19 = 3.80
    Case("fba pl-de b2c", "nl", "PL", "DE", D("23.80"), True,
         OSS, "DE", D("0.19"), D("20.00"), D("3.80"), D("23.80")),
    # German stock to a Dutch consumer of a Dutch seller: a distance sale into NL, 12.10 at 21%
    Case("fba de-nl b2c", "nl", "DE", "NL", D("12.10"), True,
         OSS, "NL", D("0.21"), D("10.00"), D("2.10"), D("12.10")),
    # --- export outside the EU: 0% in the ship-from state --------------------------------------
    Case("nl-ch export", "nl", "NL", "CH", D("150.00"), True,
         EXPORT, "NL", D("0"), D("150.00"), D("0.00"), D("150.00")),
    # a GB number is no EU VAT number; export either way
    Case("nl-gb export b2b", "nl", "NL", "GB", D("80.00"), False,
         EXPORT, "NL", D("0"), D("80.00"), D("0.00"), D("80.00"), vat_id="GB980780684"),
    Case("fba de-us export", "nl", "DE", "US", D("42.00"), False,
         EXPORT, "DE", D("0"), D("42.00"), D("0.00"), D("42.00")),
    Case("oss seller be-ch export", "be_oss", "BE", "CH", D("99.95"), True,
         EXPORT, "BE", D("0"), D("99.95"), D("0.00"), D("99.95")),
    # --- the marketplace collects the VAT: the destination's rate, no seller invoice -----------
    # 119.00 x 0.19 / 1.19 = 19.00
    Case("amazon deemed supplier de-de", "nl", "DE", "DE", D("119.00"), True,
         MARKETPLACE, "DE", D("0.19"), D("100.00"), D("19.00"), D("119.00"),
         marketplace_collected=True),
    # IOSS import from outside the EU: 24.00 x 0.20 / 1.20 = 4.00
    Case("amazon ioss cn-fr", "nl", "CN", "FR", D("24.00"), True,
         MARKETPLACE, "FR", D("0.20"), D("20.00"), D("4.00"), D("24.00"),
         marketplace_collected=True),
    # even past the threshold and to a business, the marketplace's collection decides
    Case("amazon collected nl-be", "nl", "NL", "BE", D("60.50"), True,
         MARKETPLACE, "BE", D("0.21"), D("50.00"), D("10.50"), D("60.50"),
         marketplace_collected=True, before_eur=D("20000.00"), total_after=D("20000.00")),
]
# fmt: on


def _sale(case: Case) -> Sale:
    company = COMPANIES[case.seller]
    before = case.before_eur
    state = ThresholdState(
        company_id=company.id,
        year=case.on.year,
        total_eur=before,
        reached_80=before >= ThresholdLevel.PERCENT_80.amount_eur,
        reached_100=before >= ThresholdLevel.PERCENT_100.amount_eur,
        exceeded_this_year=before > D("10000"),
        exceeded_previous_year=case.exceeded_last_year,
    )
    customer = Customer(
        name="Klant",
        country=case.ship_to,
        vat_id=case.vat_id,
        is_business=case.vat_id is not None,
    )
    return Sale(
        seller=company,
        ship_from=case.ship_from,
        ship_to=case.ship_to,
        customer=customer,
        tax_point=case.on,
        amount_eur=case.amount_eur,
        threshold=state,
        marketplace_collected=case.marketplace_collected,
        vies_result=case.vies,
    )


def test_the_table_has_at_least_forty_cases_with_unique_names() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_vat_case(case: Case) -> None:
    decision = decide(_sale(case))
    rate = decision.rate(case.category, case.on)
    amounts = split_line(case.amount, rate, case.inclusive)

    assert (decision.scheme, decision.country, rate) == (case.scheme, case.country, case.rate)
    assert amounts == Amounts(case.net, case.vat, case.gross)
    assert decision.destination_vat == (case.scheme in {OSS, MARKETPLACE})
    if case.scheme is RC:
        assert decision.customer_vat_id == case.vat_id
    else:
        assert decision.customer_vat_id is None
    if case.total_after is not None:
        assert decision.running_total_eur == case.total_after

"""VAT treatment of an order.

Interim rules until the full VAT module (dated rates, OSS threshold, ship-from) lands: the
amounts come from the marketplace's own tax lines; only the scheme and its country are decided
here, from the seller's country, its OSS registration and the ship-to country.
"""

from __future__ import annotations

from engine.config import Company
from engine.tax import EU_MEMBER_STATES
from models.order import Customer, OrderLine
from models.trigger import VatScheme, VatTreatment


def treatment(company: Company, customer: Customer, lines: tuple[OrderLine, ...]) -> VatTreatment:
    destination = (customer.country or company.country).upper()
    if destination not in EU_MEMBER_STATES:
        return VatTreatment(VatScheme.EXPORT, destination)
    charged_no_vat = all(line.vat == 0 for line in lines)
    if destination != company.country:
        if customer.is_business and customer.vat_id and charged_no_vat:
            return VatTreatment(VatScheme.REVERSE_CHARGE, destination)
        if company.oss_registered:
            return VatTreatment(VatScheme.OSS, destination)
    return VatTreatment(VatScheme.DOMESTIC, company.country)

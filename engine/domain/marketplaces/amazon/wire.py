"""Amazon's names: endpoints, headers, topics, statuses and channels; the JSON reader."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._document import ApiDocument
from engine.domain.money import ZERO, parse_amount
from models.order import Marketplace

MARKETPLACE = Marketplace.AMAZON
#: The EU region's endpoint (docs/marketplaces.md §2.5); the store's `api_base_url` overrides it
#: (the fake).
API_BASE_URL = "https://sellingpartnerapi-eu.amazon.com"
TOKEN_URL = "https://api.amazon.com/auth/o2/token"
ACCESS_TOKEN_HEADER = "x-amz-access-token"
#: The relay's shared secret (docs/design.md "HTTP").
TOKEN_HEADER = "X-Winkel-Token"
KEPT_HEADERS = ("Content-Type", "User-Agent")
NOTIFICATION_TYPE = "ORDER_CHANGE"
#: Topic of a fetched order (order + items + financial events) on `winkel.raw.amazon`.
ORDER_DOCUMENT_TOPIC = "orders/v0/order"
ORDER_DOCUMENT_SCHEMA = "winkel.amazon-order/1"
#: Refresh the LWA token this long before it expires (it lasts an hour; docs/marketplaces.md §2.5).
TOKEN_MARGIN = timedelta(seconds=60)
#: getOrders returns at most 100 orders a page; Finances at most 100 events.
MAX_RESULTS_PER_PAGE = 100
#: getOrders wants `LastUpdatedAfter` at least two minutes in the past.
MIN_LAG = timedelta(minutes=2)

#: Every v0 `OrderStatus` (docs/marketplaces.md §2.1), and what each one means for the engine.
PENDING_STATUSES = frozenset({"Pending", "PendingAvailability"})  # payment not authorised
OPEN_STATUSES = frozenset({"Unshipped", "PartiallyShipped"})
#: Every item has shipped (`InvoiceUnconfirmed`: and the seller has not confirmed the invoice).
SHIPPED_STATUSES = frozenset({"Shipped", "InvoiceUnconfirmed"})
#: The whole order is called off (`Unfulfillable`: FBA multi-channel orders only).
CALLED_OFF_STATUSES = frozenset({"Canceled", "Unfulfillable"})
ORDER_STATUSES = PENDING_STATUSES | OPEN_STATUSES | SHIPPED_STATUSES | CALLED_OFF_STATUSES

#: Currencies of the European marketplaces, by marketplace id (Amazon's marketplace ids table).
MARKETPLACE_CURRENCIES: Mapping[str, str] = {
    "A1PA6795UKMFR9": "EUR",  # amazon.de
    "A13V1IB3VIYZZH": "EUR",  # amazon.fr
    "APJ6JRA9NG5V4": "EUR",  # amazon.it
    "A1RKKUPIHCS9HS": "EUR",  # amazon.es
    "A1805IZSGTT6HS": "EUR",  # amazon.nl
    "AMEN7PMS3EDWL": "EUR",  # amazon.com.be
    "A28R8C7NBKEWEA": "EUR",  # amazon.ie
    "A1C3SOZRARQ6R3": "PLN",  # amazon.pl
    "A2NODRKZP88ZB9": "SEK",  # amazon.se
    "A1F83G8C2ARO7P": "GBP",  # amazon.co.uk
}
FULFILMENT_CHANNELS = frozenset({"AFN", "MFN"})  # AFN: Fulfilled by Amazon (FBA)
#: Other spellings seen in Amazon's own v0 sandbox examples (not in the model's enum).
CHANNEL_ALIASES: Mapping[str, str] = {"SellerFulfilled": "MFN", "AmazonFulfilled": "AFN"}
FACILITATOR_MODEL = "MarketplaceFacilitator"
DEEMED_RESELLER_CATEGORIES = frozenset({"IOSS", "UOSS"})
VCS_REASON = "Amazon issues the invoice (VAT Calculation Service, store setting)"


class _Doc(ApiDocument):
    """Typed reads from SP-API JSON; every failure names the field."""

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return value.strip()

    def flag(self, key: str) -> bool:
        """v0 sends some booleans as text (`IsGift`, `IsBuyerRequestedCancel`: "true")."""
        value = self.data.get(key)
        return value is True or (isinstance(value, str) and value.strip().lower() == "true")

    def money(self, key: str) -> tuple[Decimal, str] | None:
        """Orders API `Money`: `{"CurrencyCode": "EUR", "Amount": "12.30"}` (Amount is text)."""
        value = self.child(key)
        if value is None:
            return None
        amount = parse_amount(value.get("Amount"), f"{value.path}.Amount")
        return amount, value.text("CurrencyCode")

    def amount(self, key: str) -> Decimal:
        found = self.money(key)
        return ZERO if found is None else found[0]

    def currency_amount(self, key: str) -> tuple[Decimal, str] | None:
        """Finances API `Currency`: `{"CurrencyCode": "EUR", "CurrencyAmount": -1.5}` (a number)."""
        value = self.child(key)
        if value is None:
            return None
        amount = parse_amount(value.get("CurrencyAmount"), f"{value.path}.CurrencyAmount")
        return amount, value.text("CurrencyCode")


def amazon_time(moment: datetime) -> str:
    """SP-API times: ISO 8601 in UTC with a `Z` (`2026-11-02T10:15:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

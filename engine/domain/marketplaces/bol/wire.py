"""bol's names: endpoints, media type, topics, handling results; the JSON reader."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._document import ApiDocument
from engine.domain.money import parse_amount
from models.order import (
    Marketplace,
)

MARKETPLACE = Marketplace.BOL
API_BASE_URL = "https://api.bol.com"
TOKEN_URL = "https://login.bol.com/token"
#: v10 media type; bol versions each resource separately and answers 406 to an unknown one.
MEDIA_TYPE = "application/vnd.retailer.v10+json"
#: `Signature: keyId=0, algorithm="rsa-sha256", signature=<base64>` (third-party descriptions;
#: not confirmed on a bol page, so the parser tolerates quoting and spacing either way).
SIGNATURE_HEADER = "Signature"
SIGNATURE_ALGORITHM = "rsa-sha256"
#: bol's list endpoints (orders, shipments, returns) return 50 items per page.
PAGE_SIZE = 50
#: bol sells in euros only; the order carries no currency.
CURRENCY = "EUR"
#: Refresh the access token this long before bol says it expires (see `TokenCache`).
TOKEN_MARGIN = timedelta(seconds=30)
#: How long to wait after a 429 that names no wait at all.
DEFAULT_BACKOFF_SECONDS = 60.0

#: INTERIM until the VAT module decides rates per product: bol orders carry no VAT rate or
#: amount, and bol sells to the Netherlands and Belgium only, so the standard rate of the
#: customer's country is used. Reduced-rate goods (books, food: NL 9%, BE 6%) come out wrong
#: here and must be re-split by the VAT module from the gross amounts, which are exact.
DEFAULT_VAT_RATES: Mapping[str, Decimal] = {"NL": Decimal("0.21"), "BE": Decimal("0.21")}

FulfilmentFilter = Literal["FBR", "FBB", "ALL"]
StatusFilter = Literal["OPEN", "SHIPPED", "ALL"]

#: Handling results after which the units are back and the customer gets their money: a credit.
#: `STILL_APPROVED` is a return that failed the conditions but was approved anyway.
CREDITED_HANDLING_RESULTS = frozenset({"RETURN_RECEIVED", "STILL_APPROVED"})
#: The other documented handling results: no credit (the product is exchanged, repaired, kept
#: against payment, or the return was refused). The request stays open in the order's state.
UNCREDITED_HANDLING_RESULTS = frozenset(
    {
        "EXCHANGE_PRODUCT",
        "RETURN_DOES_NOT_MEET_CONDITIONS",
        "REPAIR_PRODUCT",
        "CUSTOMER_KEEPS_PRODUCT_PAID",
    }
)
#: A processing result bol refused is not a receipt, whatever the handling result asked for.
REFUSED_PROCESSING_RESULTS = frozenset({"REJECTED", "CANCELLED"})

#: Topics of raw deliveries on `winkel.raw.bol`: pushes keep `<resource>:<type>`; documents the
#: poller fetched are written under these, so the normalise agent treats both alike.
ORDER_DOCUMENT_TOPIC = "retailer/order"
SHIPMENT_DOCUMENT_TOPIC = "retailer/shipment"
#: `{"return": <bol Return>, "orders": [<bol Order>, ...]}`: a return needs its orders' items.
RETURN_DOCUMENT_TOPIC = "retailer/return"


class _Doc(ApiDocument):
    """Typed reads from a bol JSON object; every failure names the field."""

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return str(value)

    def opt_ident(self, key: str) -> str | None:
        return None if self.data.get(key) in (None, "") else self.ident(key)

    def flag(self, key: str) -> bool:
        return self.data.get(key) is True

    def amount(self, key: str) -> Decimal:
        return parse_amount(self.data.get(key), f"{self.path}.{key}")

    def opt_amount(self, key: str) -> Decimal | None:
        return None if self.data.get(key) is None else self.amount(key)

    def opt_count(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.count(key)

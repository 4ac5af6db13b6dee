"""Amazon Selling Partner API: ORDER_CHANGE notifications as signals, fetched orders as truth.

Facts in docs/marketplaces.md §2, §5 and §8. Pure: this package builds requests and parses
responses; the HTTP calls, the token store and the fetch queue live in the shell. Its modules,
one concern each (the package re-exports their names):

- `wire`: endpoints, headers, topics, statuses, channels; the JSON reader;
- `door`: the relay's shared-secret check and the ORDER_CHANGE notification;
- `api`: Login with Amazon and the SP-API requests and answers;
- `fees`: Finances API fees; `rates`: usage plans and Retry-After;
- `orders`: the Orders API v0 document and its events; `v2026`: the same for v2026-01-01;
- `normalise`: one `winkel.raw.amazon` record to events, whichever version wrote it.

Which Orders API: `orders` reads **v0** (`/orders/v0/orders`, `getOrders` by
`LastUpdatedAfter` with `NextToken` paging, `getOrder`, `getOrderItems`) and holds what both
versions share (notifications, LWA, Finances, usage plans, ids). **v2026-01-01**, the default
for a store (`orders_api_version`), is `v2026`; v0 must be left
by 2027-03-27 (docs/amazon.md). Two v0 gaps, which v2026 closes:

- v0 gives no EU buyer VAT id (`BuyerTaxInfo` is only filled in BR, MX and IN; §2.1).
  A business order is marked `is_business`; a VAT id is read from
  `BuyerInfo.BuyerTaxInfo.TaxClassifications` where one is named VAT, and otherwise stays
  unknown (the VCS report or v2026 `tax.taxRegistrations` would have it).
- v0 names no shipments: an item's `QuantityShipped` only grows. An item becomes one shipment
  (`item:<OrderItemId>`) once it has nothing left to ship, so every fact has a stable id
  however often and in whatever order the order is fetched. Items that ship in several parts
  are invoiced together when their last unit ships.

How an order reaches the engine:

- `POST /webhooks/amazon/{store_id}` takes an `ORDER_CHANGE` notification relayed from the
  seller's SQS queue (or EventBridge, whose envelope puts it under `detail`), authenticated by
  the store's shared secret in `X-Winkel-Token` (`verify`). It carries no prices: its order id
  (`parse_notification`) goes on the store's fetch queue; `NotificationId` is the dedupe key.
- The fetcher reads the order, its items and its financial events and writes them as one raw
  document (`order_document`, topic `ORDER_DOCUMENT_TOPIC`) to `winkel.raw.amazon`; a backup
  poll of `getOrders` by `LastUpdatedAfter` (`orders_request`) catches missed notifications.
- `normalise_order` turns that document into events whose ids come from Amazon's order id and
  `LastUpdateDate`, never from the delivery that carried them. Facts (payment, shipments,
  cancellations) keep one id whatever the snapshot; the details are per snapshot, whose time
  is `LastUpdateDate` or, when fees posted later (they lag by days or weeks), the newest
  `PostedDate`: a re-fetch that finds new fees replaces older details, an older one never does.

Statuses (v0 `OrderStatus`): `Pending`/`PendingAvailability` give details only (payment not
authorised, no address); `Unshipped` adds the payment (at `PurchaseDate`); `PartiallyShipped`
ships the items that are complete; `Shipped`/`InvoiceUnconfirmed` ship every item and cancel
what an item shipped short; `Canceled`/`Unfulfillable` call the whole order off. AFN/MFN is
the shipments' `location_id` (a store's `locations` can route FBA stock to a company); the
ship-from country is the MFN `DefaultShipFromLocationAddress` (v0 names no FBA warehouse).
Prices are VAT-inclusive (`ItemPrice` less `PromotionDiscount`, VAT `ItemTax` less
`PromotionDiscountTax`; shipping likewise, one shipping line per order); the rate is the
destination state's rate that gives exactly Amazon's VAT, else Amazon's ratio. Fees from the
Finances API become the details' `costs`, apart from what the customer paid.

Marketplace-collected VAT: where Amazon invoices the buyer (store flag
`amazon_issues_invoices`, VCS option 1), is the deemed supplier (`DeemedResellerCategory`
IOSS/UOSS, an `IossNumber`), collects as `MarketplaceFacilitator`, or Amazon Business EU SARL
is the seller of record (`IsSoldByAB`/`IsIBA`), the order's details say so
(`invoiced_by_marketplace`) and the lifecycle emits no seller invoice for it (§8.7).
"""

from __future__ import annotations

from engine.domain.marketplaces.amazon.api import (
    ApiError,
    ApiRequest,
    FinancialEventsPage,
    ItemsPage,
    OrdersPage,
    OrderSummary,
    TokenCache,
    TokenError,
    TokenRequest,
    authorised,
    financial_events_request,
    merge_financial_events,
    next_cursor,
    order_fetches,
    order_items_request,
    order_request,
    orders_request,
    parse_errors,
    parse_financial_events_page,
    parse_order,
    parse_order_items_page,
    parse_orders_page,
    parse_token_error,
    token_request,
)
from engine.domain.marketplaces.amazon.door import (
    OrderChange,
    delivery_id,
    external_order_id,
    notification_identity,
    parse_notification,
    verify,
)
from engine.domain.marketplaces.amazon.fees import (
    Finances,
    parse_finances,
)
from engine.domain.marketplaces.amazon.normalise import normalise
from engine.domain.marketplaces.amazon.orders import (
    ItemProgress,
    Stage,
    document_delivery_id,
    document_order_id,
    marketplace_invoicing,
    normalise_order,
    order_document,
    order_facts,
    prices_include_vat,
)
from engine.domain.marketplaces.amazon.rates import (
    DEFAULT_RATES,
    MAX_BACKOFF_SECONDS,
    RATE_LIMIT_HEADER,
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
    RETRYABLE_STATUSES,
    Bucket,
    UsagePlan,
    reported_rate,
    retry_after,
)
from engine.domain.marketplaces.amazon.wire import (
    ACCESS_TOKEN_HEADER,
    API_BASE_URL,
    CALLED_OFF_STATUSES,
    CHANNEL_ALIASES,
    DEEMED_RESELLER_CATEGORIES,
    FACILITATOR_MODEL,
    FULFILMENT_CHANNELS,
    KEPT_HEADERS,
    MARKETPLACE,
    MARKETPLACE_CURRENCIES,
    MAX_RESULTS_PER_PAGE,
    MIN_LAG,
    NOTIFICATION_TYPE,
    OPEN_STATUSES,
    ORDER_DOCUMENT_SCHEMA,
    ORDER_DOCUMENT_TOPIC,
    ORDER_STATUSES,
    PENDING_STATUSES,
    SHIPPED_STATUSES,
    TOKEN_HEADER,
    TOKEN_MARGIN,
    TOKEN_URL,
    VCS_REASON,
    amazon_time,
)

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "API_BASE_URL",
    "CALLED_OFF_STATUSES",
    "CHANNEL_ALIASES",
    "DEEMED_RESELLER_CATEGORIES",
    "DEFAULT_RATES",
    "FACILITATOR_MODEL",
    "FULFILMENT_CHANNELS",
    "KEPT_HEADERS",
    "MARKETPLACE",
    "MARKETPLACE_CURRENCIES",
    "MAX_BACKOFF_SECONDS",
    "MAX_RESULTS_PER_PAGE",
    "MIN_LAG",
    "NOTIFICATION_TYPE",
    "OPEN_STATUSES",
    "ORDER_DOCUMENT_SCHEMA",
    "ORDER_DOCUMENT_TOPIC",
    "ORDER_STATUSES",
    "PENDING_STATUSES",
    "RATE_LIMIT_HEADER",
    "REQUEST_ID_HEADER",
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_HEADER",
    "SHIPPED_STATUSES",
    "TOKEN_HEADER",
    "TOKEN_MARGIN",
    "TOKEN_URL",
    "VCS_REASON",
    "ApiError",
    "ApiRequest",
    "Bucket",
    "Finances",
    "FinancialEventsPage",
    "ItemProgress",
    "ItemsPage",
    "OrderChange",
    "OrderSummary",
    "OrdersPage",
    "Stage",
    "TokenCache",
    "TokenError",
    "TokenRequest",
    "UsagePlan",
    "amazon_time",
    "authorised",
    "delivery_id",
    "document_delivery_id",
    "document_order_id",
    "external_order_id",
    "financial_events_request",
    "marketplace_invoicing",
    "merge_financial_events",
    "next_cursor",
    "normalise",
    "normalise_order",
    "notification_identity",
    "order_document",
    "order_facts",
    "order_fetches",
    "order_items_request",
    "order_request",
    "orders_request",
    "parse_errors",
    "parse_finances",
    "parse_financial_events_page",
    "parse_notification",
    "parse_order",
    "parse_order_items_page",
    "parse_orders_page",
    "parse_token_error",
    "prices_include_vat",
    "reported_rate",
    "retry_after",
    "token_request",
    "verify",
]

"""bol.com Retailer API v10: push notifications as signals, polled orders as the truth.

Facts in docs/marketplaces.md §1 and §8. Pure: this package builds requests and
parses responses; the HTTP calls, the token store and the poll cursors live in the shell. Its
modules, one concern each (the package re-exports their names):

- `wire`: endpoints, media type, topics, handling results; the JSON reader;
- `door`: the push's RSA signature, bol's public keys, the notification;
- `api`: OAuth2 client credentials, the Retailer API requests, the list pages;
- `orders`: an order's detail and its shipments as events; `returns`: returns as events;
- `normalise`: one `winkel.raw.bol` record to events; `rates`: rate limits and Retry-After.

How an order reaches the engine:

- A push notification (`POST /webhooks/bol/{store_id}`, RSA-SHA256 signed) carries no order
  data, only `{resource, resourceId, type}`. It is a signal to fetch: `notification_fetches`.
- The poller reads `GET /retailer/orders` (FBR and FBB, `status=ALL`,
  `change-interval-minute`) and fetches an order's detail once per `latestChangedDateTime`
  (the detail endpoint allows ~8 calls a minute). `normalise_order` turns the detail into
  events. Handled orders leave that list after 48 hours, so polling must not pause longer.
- Shipments come from `GET /retailer/shipments/{id}` (`parse_shipments`): one order item may
  ship in several shipments, which is where partial shipments come from.
- Returns come from `GET /retailer/returns` (`parse_returns`); bol names the returned product by
  EAN, so placing a return on an order line needs the order's items (`order_items`).

Every event id is derived from bol's own ids and change times (never from the delivery that
carried it), so a push-triggered fetch and a poll of the same change are one event.

Pick-up points (PUDO): `pickupPoint: true` means `shipmentDetails` holds the pick-up point's
address (and `pickupPointName`), not the customer's. So the customer's name, company and
country are never taken from the pick-up point: they come from `billingDetails` (the
customer's own address), falling back to the recipient's name in `shipmentDetails`. The VAT
destination stays the customer's country. Nothing else changes: lines, prices, shipments and
returns are the same as for a home delivery. `models.order` has no field yet that says
"delivered to a pick-up point", so the flag itself is not carried into the events.

FBB vs FBR: the fulfilment method ("FBR": the seller ships; "FBB": bol ships from its own
warehouse) becomes the shipment's `location_id`, so a store's `locations` can route an FBB
shipment to the company that owns the stock held by bol.
"""

from __future__ import annotations

from engine.domain.marketplaces.bol.api import (
    ApiRequest,
    OrderItemSummary,
    OrderSummaryRef,
    ShipmentSummaryRef,
    TokenCache,
    TokenRequest,
    authorised,
    change_interval_for,
    next_page,
    notification_fetches,
    order_request,
    orders_request,
    parse_orders_page,
    parse_shipments_page,
    return_request,
    returns_request,
    shipment_request,
    shipments_request,
    token_request,
)
from engine.domain.marketplaces.bol.door import (
    FETCHED_RESOURCES,
    PATH_ID,
    Notification,
    SignatureHeader,
    check_notification,
    delivery_id,
    external_order_id,
    load_public_key,
    notification_order_ids,
    parse_notification,
    parse_public_keys,
    parse_signature_header,
    parse_signature_keys,
    path_id,
    topic,
    verify,
)
from engine.domain.marketplaces.bol.normalise import normalise
from engine.domain.marketplaces.bol.orders import (
    normalise_order,
    parse_shipments,
    pending_cancellation_requests,
)
from engine.domain.marketplaces.bol.rates import (
    RATE_LIMIT_HEADER,
    RATE_REMAINING_HEADER,
    RATE_RESET_HEADER,
    RETRY_AFTER_HEADER,
    RateLimit,
    retry_after,
)
from engine.domain.marketplaces.bol.returns import (
    OrderItemRef,
    ParsedReturns,
    UnplacedReturnItem,
    order_items,
    parse_returns,
    return_order_ids,
)
from engine.domain.marketplaces.bol.wire import (
    API_BASE_URL,
    CREDITED_HANDLING_RESULTS,
    CURRENCY,
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_VAT_RATES,
    MARKETPLACE,
    MEDIA_TYPE,
    ORDER_DOCUMENT_TOPIC,
    PAGE_SIZE,
    REFUSED_PROCESSING_RESULTS,
    RETURN_DOCUMENT_TOPIC,
    SHIPMENT_DOCUMENT_TOPIC,
    SIGNATURE_ALGORITHM,
    SIGNATURE_HEADER,
    TOKEN_MARGIN,
    TOKEN_URL,
    UNCREDITED_HANDLING_RESULTS,
    FulfilmentFilter,
    StatusFilter,
)

__all__ = [
    "API_BASE_URL",
    "CREDITED_HANDLING_RESULTS",
    "CURRENCY",
    "DEFAULT_BACKOFF_SECONDS",
    "DEFAULT_VAT_RATES",
    "FETCHED_RESOURCES",
    "MARKETPLACE",
    "MEDIA_TYPE",
    "ORDER_DOCUMENT_TOPIC",
    "PAGE_SIZE",
    "PATH_ID",
    "RATE_LIMIT_HEADER",
    "RATE_REMAINING_HEADER",
    "RATE_RESET_HEADER",
    "REFUSED_PROCESSING_RESULTS",
    "RETRY_AFTER_HEADER",
    "RETURN_DOCUMENT_TOPIC",
    "SHIPMENT_DOCUMENT_TOPIC",
    "SIGNATURE_ALGORITHM",
    "SIGNATURE_HEADER",
    "TOKEN_MARGIN",
    "TOKEN_URL",
    "UNCREDITED_HANDLING_RESULTS",
    "ApiRequest",
    "FulfilmentFilter",
    "Notification",
    "OrderItemRef",
    "OrderItemSummary",
    "OrderSummaryRef",
    "ParsedReturns",
    "RateLimit",
    "ShipmentSummaryRef",
    "SignatureHeader",
    "StatusFilter",
    "TokenCache",
    "TokenRequest",
    "UnplacedReturnItem",
    "authorised",
    "change_interval_for",
    "check_notification",
    "delivery_id",
    "external_order_id",
    "load_public_key",
    "next_page",
    "normalise",
    "normalise_order",
    "notification_fetches",
    "notification_order_ids",
    "order_items",
    "order_request",
    "orders_request",
    "parse_notification",
    "parse_orders_page",
    "parse_public_keys",
    "parse_returns",
    "parse_shipments",
    "parse_shipments_page",
    "parse_signature_header",
    "parse_signature_keys",
    "path_id",
    "pending_cancellation_requests",
    "retry_after",
    "return_order_ids",
    "return_request",
    "returns_request",
    "shipment_request",
    "shipments_request",
    "token_request",
    "topic",
    "verify",
]

"""The fake SP-API's Orders API v2026-01-01: the same seller state as the v0 fake, seen through
`searchOrders` and `getOrder` as the v2026 model describes them.

- `GET /orders/2026-01-01/orders` (`searchOrders`): exactly one of `createdAfter` and
  `lastUpdatedAfter`; optional `marketplaceIds`, `maxResultsPerPage` (1-100), `includedData`;
  answers `{"orders", "pagination": {"nextToken"}?, "lastUpdatedBefore" | "createdBefore"}`. A
  next page repeats the filters and adds `paginationToken`; other filters are a 400. Usage plan
  0.0056 requests/s, burst 20.
- `GET /orders/2026-01-01/orders/{orderId}` (`getOrder`): `{"order"}`, the items always,
  other datasets as `includedData` asks (BUYER, RECIPIENT, PROCEEDS, PROMOTION, CANCELLATION,
  FULFILLMENT, PACKAGES, TAX, ...). 0.5 requests/s, burst 30.
- Errors as `{"errors": [{"code", "message", "details"}]}`; a 429 carries only
  `x-amzn-RequestId`, as the model lists (the shared middleware in engine.fakes.amazon).

Money follows the official examples: ITEM and SHIPPING before tax, TAX on top with
`detailedBreakdowns` (ITEM, SHIPPING, DISCOUNT), DISCOUNT negative, `proceedsTotal` the sum.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from engine.fakes.amazon import (
    FAKE,
    FakeAmazon,
    _body,
    _cents,
    _decode_token,
    _encode_token,
    _errors,
    _invalid,
    _time,
    amazon_time,
)
from engine.marketplaces import amazon

INCLUDED_DATA = frozenset(
    {
        "BUYER",
        "RECIPIENT",
        "PROCEEDS",
        "EXPENSE",
        "PROMOTION",
        "CANCELLATION",
        "FULFILLMENT",
        "PACKAGES",
        "TAX",
        "PAYMENT",
        "FULFILLMENT_ORDERS",
    }
)
STATUSES = {
    "Pending": "PENDING",
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "InvoiceUnconfirmed": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
}
ADDRESS_TYPES = {"Residential": "RESIDENTIAL", "Commercial": "COMMERCIAL"}
MARKETPLACE_NAMES = {
    "A1PA6795UKMFR9": "Amazon.de",
    "A13V1IB3VIYZZH": "Amazon.fr",
    "A1805IZSGTT6HS": "Amazon.nl",
}


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(_cents(amount)), "currencyCode": currency}


def _amount(item: dict[str, Any], key: str) -> Decimal:
    value = item.get(key)
    return Decimal(value["Amount"]) if isinstance(value, dict) else Decimal(0)


def _item_proceeds(item: dict[str, Any], currency: str) -> dict[str, Any]:
    item_tax = _amount(item, "ItemTax")
    shipping_tax = _amount(item, "ShippingTax")
    discount_tax = _amount(item, "PromotionDiscountTax") + _amount(item, "ShippingDiscountTax")
    net_item = _amount(item, "ItemPrice") - item_tax
    net_shipping = _amount(item, "ShippingPrice") - shipping_tax
    net_discount = _amount(item, "PromotionDiscount") - _amount(item, "PromotionDiscountTax")
    net_shipping_discount = _amount(item, "ShippingDiscount") - _amount(item, "ShippingDiscountTax")
    breakdowns: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": _money(net_item, currency)}]
    if net_shipping:
        breakdowns.append({"type": "SHIPPING", "subtotal": _money(net_shipping, currency)})
    if net_discount or net_shipping_discount:
        details = []
        if net_discount:
            details.append({"subtype": "ITEM", "value": _money(-net_discount, currency)})
        if net_shipping_discount:
            details.append(
                {"subtype": "SHIPPING", "value": _money(-net_shipping_discount, currency)}
            )
        breakdowns.append(
            {
                "type": "DISCOUNT",
                "subtotal": _money(-(net_discount + net_shipping_discount), currency),
                "detailedBreakdowns": details,
            }
        )
    tax = item_tax + shipping_tax - discount_tax
    if item_tax or shipping_tax or discount_tax:
        details = [{"subtype": "ITEM", "value": _money(item_tax, currency)}]
        if shipping_tax:
            details.append({"subtype": "SHIPPING", "value": _money(shipping_tax, currency)})
        if discount_tax:
            details.append({"subtype": "DISCOUNT", "value": _money(-discount_tax, currency)})
        breakdowns.append(
            {"type": "TAX", "subtotal": _money(tax, currency), "detailedBreakdowns": details}
        )
    total = sum((Decimal(b["subtotal"]["amount"]) for b in breakdowns), Decimal(0))
    return {"proceedsTotal": _money(total, currency), "breakdowns": breakdowns}


def _currency(order: dict[str, Any], items: list[dict[str, Any]]) -> str:
    total = order.get("OrderTotal")
    if isinstance(total, dict) and total.get("CurrencyCode"):
        return str(total["CurrencyCode"])
    return next((i["ItemPrice"]["CurrencyCode"] for i in items if "ItemPrice" in i), "EUR")


def _item(item: dict[str, Any], currency: str, wanted: frozenset[str]) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "orderItemId": item["OrderItemId"],
        "quantityOrdered": item["QuantityOrdered"],
        "product": {
            "asin": item.get("ASIN"),
            "title": item.get("Title"),
            "sellerSku": item.get("SellerSKU"),
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            "price": {
                "unitPrice": _money(
                    _amount(item, "ItemPrice") / max(1, item["QuantityOrdered"]), currency
                )
            },
        },
    }
    if "PROCEEDS" in wanted:
        rendered["proceeds"] = _item_proceeds(item, currency)
    if "PROMOTION" in wanted and item.get("PromotionIds"):
        rendered["promotion"] = {"breakdowns": [{"promotionId": p} for p in item["PromotionIds"]]}
    cancel = item.get("BuyerRequestedCancel")
    if "CANCELLATION" in wanted and isinstance(cancel, dict):
        rendered["cancellation"] = {
            "cancellationRequest": {
                "requester": "BUYER",
                "cancelReason": cancel.get("BuyerCancelReason", ""),
            }
        }
    if "FULFILLMENT" in wanted:
        fulfillment: dict[str, Any] = {
            "quantityFulfilled": item["QuantityShipped"],
            "quantityUnfulfilled": item["QuantityOrdered"] - item["QuantityShipped"],
        }
        if item.get("IossNumber"):
            fulfillment["shipping"] = {"internationalShipping": {"iossNumber": item["IossNumber"]}}
        rendered["fulfillment"] = fulfillment
    if "TAX" in wanted:
        tax: dict[str, Any] = {}
        if item.get("DeemedResellerCategory"):
            tax["taxCalculationBreakdowns"] = [{"reportingScheme": item["DeemedResellerCategory"]}]
        collection = item.get("TaxCollection")
        if isinstance(collection, dict) and collection.get("Model") == "MarketplaceFacilitator":
            tax["taxCollections"] = [
                {
                    "model": "MARKETPLACE_FACILITATOR",
                    "responsibleParty": collection.get("ResponsibleParty", "Amazon Services, Inc."),
                }
            ]
        if tax:
            rendered["tax"] = tax
    return rendered


def _address(address: dict[str, Any], pickup: bool) -> dict[str, Any]:
    rendered = {
        "name": address.get("Name", ""),
        "addressLine1": address.get("AddressLine1", ""),
        "city": address.get("City", ""),
        "postalCode": address.get("PostalCode", ""),
        "countryCode": address.get("CountryCode", ""),
        "addressType": "PICKUP_POINT"
        if pickup
        else ADDRESS_TYPES.get(str(address.get("AddressType")), "RESIDENTIAL"),
    }
    if address.get("CompanyName"):
        rendered["companyName"] = address["CompanyName"]
    return rendered


def render_order(
    fake: FakeAmazon, order_id: str, wanted: frozenset[str] = INCLUDED_DATA
) -> dict[str, Any]:
    """The v0 state of one order as a v2026 `Order` with the datasets `wanted`."""
    order = fake.orders[order_id]
    items = fake.items[order_id]
    currency = _currency(order, items)
    programs = []
    if order.get("IsPrime"):
        programs.append("PRIME")
    if order.get("IsBusinessOrder"):
        programs.append("AMAZON_BUSINESS")
    if order.get("IsSoldByAB") or order.get("IsIBA"):
        programs.append("INVOICE_BY_AMAZON")
    marketplace_id = order["MarketplaceId"]
    rendered: dict[str, Any] = {
        "orderId": order_id,
        "orderAliases": [{"aliasId": order["SellerOrderId"], "aliasType": "SELLER_ORDER_ID"}],
        "createdTime": order["PurchaseDate"],
        "lastUpdatedTime": order["LastUpdateDate"],
        "programs": programs,
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": marketplace_id,
            "marketplaceName": MARKETPLACE_NAMES.get(marketplace_id, order.get("SalesChannel")),
        },
        "orderItems": [_item(item, currency, wanted) for item in items],
    }
    buyer_info = order.get("BuyerInfo") or {}
    tax_info = buyer_info.get("BuyerTaxInfo") or {}
    if "BUYER" in wanted:
        buyer = {"buyerName": buyer_info.get("BuyerName", "")}
        if order.get("FulfillmentChannel") == "MFN" and buyer_info.get("BuyerEmail"):
            buyer["buyerEmail"] = buyer_info["BuyerEmail"]  # FBM only, as documented
        if tax_info.get("CompanyLegalName"):
            buyer["buyerCompanyName"] = tax_info["CompanyLegalName"]
        rendered["buyer"] = buyer
    address = order.get("ShippingAddress")
    if "RECIPIENT" in wanted and isinstance(address, dict):
        pickup = bool(order.get("IsAccessPointOrder"))
        rendered["recipient"] = {"deliveryAddress": _address(address, pickup)}
    if "PROCEEDS" in wanted:
        totals: dict[str, Decimal] = {}
        for item in rendered["orderItems"]:
            for part in item["proceeds"]["breakdowns"]:
                amount = Decimal(part["subtotal"]["amount"])
                totals[part["type"]] = totals.get(part["type"], Decimal(0)) + amount
        rendered["proceeds"] = {
            "grandTotal": _money(sum(totals.values(), Decimal(0)), currency),
            "breakdowns": [
                {"type": kind, "subtotal": _money(amount, currency)}
                for kind, amount in totals.items()
            ],
        }
    if "TAX" in wanted:
        registrations = [
            {
                "entityType": "BUYER",
                "taxRegistrationType": "VAT",
                "taxRegistrationNumber": c["Value"],
                "legalName": tax_info.get("CompanyLegalName", ""),
            }
            for c in tax_info.get("TaxClassifications", [])
            if "VAT" in str(c.get("Name", "")).upper() and c.get("Value")
        ]
        if registrations:
            rendered["tax"] = {"taxRegistrations": registrations}
    if "FULFILLMENT" in wanted:
        rendered["fulfillment"] = {
            "fulfillmentStatus": STATUSES[order["OrderStatus"]],
            "fulfilledBy": "AMAZON" if order.get("FulfillmentChannel") == "AFN" else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
        }
    if "PACKAGES" in wanted and order.get("FulfillmentChannel") != "AFN":
        rendered["packages"] = [dict(p) for p in fake.packages.get(order_id, [])]
    return rendered


# --- HTTP --------------------------------------------------------------------------------------


def _included(request: web.Request) -> frozenset[str] | web.Response:
    raw = request.query.get("includedData", "")
    wanted = frozenset(part for part in raw.split(",") if part)
    unknown = sorted(wanted - INCLUDED_DATA)
    if unknown:
        return _invalid(f"Invalid includedData value(s): {', '.join(unknown)}")
    return wanted


_SEARCH_FILTERS = ("marketplaceIds", "lastUpdatedAfter", "createdAfter", "includedData")


async def search_orders(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    query = request.query
    wanted = _included(request)
    if isinstance(wanted, web.Response):
        return wanted
    filters = {key: query.get(key, "") for key in _SEARCH_FILTERS}
    if "paginationToken" in query:
        state = _decode_token(query["paginationToken"])
        if state is None or state.get("filters") != filters:
            return _invalid(
                "Invalid paginationToken: other parameters must repeat the first request's"
            )
    else:
        updated, created = query.get("lastUpdatedAfter"), query.get("createdAfter")
        if (updated is None) == (created is None):
            return _invalid("Exactly one of createdAfter and lastUpdatedAfter is required")
        after = _time(updated or created)
        if after is None:
            return _invalid("Invalid date format: use ISO 8601")
        latest = fake.clock() - amazon.MIN_LAG
        raw_size = query.get("maxResultsPerPage", str(fake.orders_page_size))
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= amazon.MAX_RESULTS_PER_PAGE:
            return _invalid("maxResultsPerPage must be between 1 and 100")
        state = {
            "filters": filters,
            "by": "updated" if updated is not None else "created",
            "after": amazon_time(after),
            "before": amazon_time(max(after, latest)),
            "size": min(int(raw_size), fake.orders_page_size),
            "offset": 0,
        }
    ids = {part for part in filters["marketplaceIds"].split(",") if part}
    ids = ids or {order["MarketplaceId"] for order in fake.orders.values()}
    after_time, before_time = _time(state["after"]), _time(state["before"])
    assert after_time is not None
    assert before_time is not None
    found = fake.order_list(ids, after_time, before_time, state["by"])
    offset, size = int(state["offset"]), int(state["size"])
    page = found[offset : offset + size]
    answer: dict[str, Any] = {
        "orders": [render_order(fake, o["AmazonOrderId"], wanted) for o in page]
    }
    if offset + size < len(found):
        answer["pagination"] = {"nextToken": _encode_token({**state, "offset": offset + size})}
    answer["lastUpdatedBefore" if state["by"] == "updated" else "createdBefore"] = state["before"]
    return _body(answer)


async def get_order(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    order_id = request.match_info["order_id"]
    if order_id not in fake.orders:
        return _errors(404, "NotFound", f"Invalid orderId: {order_id}")
    wanted = _included(request)
    if isinstance(wanted, web.Response):
        return wanted
    return _body({"order": render_order(fake, order_id, wanted)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/orders/2026-01-01/orders", search_orders)
    app.router.add_get("/orders/2026-01-01/orders/{order_id}", get_order)

"""Hand-written Amazon SP-API payloads in the documented v0 shapes (docs/marketplaces.md §2).

Orders API v0 `Order` / `OrderItem` (`Money` amounts are strings), Finances API v0
`FinancialEvents` (`Currency` amounts are numbers, fees negative), an `ORDER_CHANGE`
notification (schema `OrderChangeNotification.json`), a `getOrders` page, LWA's token answer
and the SP-API error body.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from engine.domain.marketplaces import amazon

MARKETPLACE_DE = "A1PA6795UKMFR9"  # amazon.de
ORDER_ID = "028-1234567-7654321"
SHARED_SECRET = "relay-shared-secret"
PURCHASE_DATE = "2026-11-02T08:15:00Z"


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": amount}


def currency(amount: float, code: str = "EUR") -> dict[str, Any]:
    return {"CurrencyCode": code, "CurrencyAmount": amount}


SHIPPING_ADDRESS = {
    "Name": "Lena Schmidt",
    "AddressLine1": "Hauptstraße 5",
    "City": "Köln",
    "PostalCode": "50667",
    "CountryCode": "DE",
    "AddressType": "Residential",
}


def order(status: str = "Unshipped", **overrides: Any) -> dict[str, Any]:
    """A v0 `Order` as `getOrder` returns it in `payload` (MFN, B2C, amazon.de)."""
    document: dict[str, Any] = {
        "AmazonOrderId": ORDER_ID,
        "SellerOrderId": ORDER_ID,
        "PurchaseDate": PURCHASE_DATE,
        "LastUpdateDate": "2026-11-02T09:00:00Z",
        "OrderStatus": status,
        "FulfillmentChannel": "MFN",
        "SalesChannel": "Amazon.de",
        "ShipServiceLevel": "Std DE Dom",
        "OrderTotal": money("57.75"),
        "NumberOfItemsShipped": 0,
        "NumberOfItemsUnshipped": 3,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": MARKETPLACE_DE,
        "OrderType": "StandardOrder",
        "EarliestShipDate": "2026-11-03T00:00:00Z",
        "LatestShipDate": "2026-11-04T23:59:59Z",
        "IsBusinessOrder": False,
        "IsPrime": False,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": "false",
        "IsSoldByAB": False,
        "IsIBA": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "BuyerInfo": {"BuyerEmail": "x9k2p1@marketplace.amazon.de", "BuyerName": "Lena Schmidt"},
        "DefaultShipFromLocationAddress": {
            "Name": "Acme Webwinkel",
            "AddressLine1": "Keizersgracht 1",
            "City": "Amsterdam",
            "PostalCode": "1015 CJ",
            "CountryCode": "NL",
        },
        "ShippingAddress": SHIPPING_ADDRESS,
    }
    if status in {"Pending", "PendingAvailability"}:
        # Amazon returns no address (and often no total) before the payment is authorised.
        document.pop("ShippingAddress")
        document.pop("OrderTotal")
    if status == "Shipped":
        document.update(NumberOfItemsShipped=3, NumberOfItemsUnshipped=0)
    document.update(overrides)
    return document


def items(shipped: tuple[int, int] = (0, 0), **overrides: Any) -> list[dict[str, Any]]:
    """Two v0 `OrderItem`s: 2 mugs (with a promotion) and a teapot; DE 19% VAT included.

    Mugs: ItemPrice 2 x 14.95 = 29.90 incl. 4.77 VAT, promotion -2.00 incl. 0.32 VAT.
    Teapot: 24.95 incl. 3.98 VAT. Shipping 4.90 incl. 0.78 VAT on the first item.
    """
    mugs: dict[str, Any] = {
        "ASIN": "B0TESTMUG1",
        "SellerSKU": "MUG-BLUE",
        "OrderItemId": "11111111111111",
        "Title": "Stoneware mug, blue",
        "QuantityOrdered": 2,
        "QuantityShipped": shipped[0],
        "ProductInfo": {"NumberOfItems": "1"},
        "ItemPrice": money("29.90"),
        "ItemTax": money("4.77"),
        "ShippingPrice": money("4.90"),
        "ShippingTax": money("0.78"),
        "ShippingDiscount": money("0.00"),
        "ShippingDiscountTax": money("0.00"),
        "PromotionDiscount": money("2.00"),
        "PromotionDiscountTax": money("0.32"),
        "PromotionIds": ["PROMO-NOV"],
        "ConditionId": "New",
        "IsGift": "false",
        "IsTransparency": False,
    }
    teapot: dict[str, Any] = {
        "ASIN": "B0TESTPOT1",
        "SellerSKU": "TEAPOT-1L",
        "OrderItemId": "22222222222222",
        "Title": "Teapot 1 l",
        "QuantityOrdered": 1,
        "QuantityShipped": shipped[1],
        "ItemPrice": money("24.95"),
        "ItemTax": money("3.98"),
        "ShippingPrice": money("0.00"),
        "ShippingTax": money("0.00"),
        "PromotionDiscount": money("0.00"),
        "PromotionDiscountTax": money("0.00"),
        "ConditionId": "New",
        "IsGift": "false",
    }
    for item in (mugs, teapot):
        item.update(overrides)
    return [mugs, teapot]


FINANCIAL_EVENTS: dict[str, Any] = {
    "ShipmentEventList": [
        {
            "AmazonOrderId": ORDER_ID,
            "SellerOrderId": ORDER_ID,
            "MarketplaceName": "Amazon.de",
            "PostedDate": "2026-11-03T10:00:00Z",
            "ShipmentItemList": [
                {
                    "SellerSKU": "MUG-BLUE",
                    "OrderItemId": "11111111111111",
                    "QuantityShipped": 2,
                    "ItemChargeList": [
                        {"ChargeType": "Principal", "ChargeAmount": currency(25.13)},
                        {"ChargeType": "Tax", "ChargeAmount": currency(4.77)},
                        {"ChargeType": "ShippingCharge", "ChargeAmount": currency(4.12)},
                        {"ChargeType": "ShippingTax", "ChargeAmount": currency(0.78)},
                    ],
                    "ItemFeeList": [
                        {"FeeType": "FBAPerUnitFulfillmentFee", "FeeAmount": currency(-5.2)},
                        {"FeeType": "Commission", "FeeAmount": currency(-4.26)},
                        {"FeeType": "FixedClosingFee", "FeeAmount": currency(0.0)},
                    ],
                    "ItemTaxWithheldList": [],
                    "PromotionList": [
                        {
                            "PromotionType": "PromotionMetaDataDefinitionValue",
                            "PromotionId": "PROMO-NOV",
                            "PromotionAmount": currency(-2.0),
                        }
                    ],
                },
                {
                    "SellerSKU": "TEAPOT-1L",
                    "OrderItemId": "22222222222222",
                    "QuantityShipped": 1,
                    "ItemChargeList": [
                        {"ChargeType": "Principal", "ChargeAmount": currency(20.97)},
                        {"ChargeType": "Tax", "ChargeAmount": currency(3.98)},
                    ],
                    "ItemFeeList": [
                        {"FeeType": "FBAPerUnitFulfillmentFee", "FeeAmount": currency(-3.1)},
                        {"FeeType": "Commission", "FeeAmount": currency(-3.74)},
                    ],
                },
            ],
        }
    ],
    "RefundEventList": [],
    "GuaranteeClaimEventList": [],
    "ChargebackEventList": [],
}

#: A refund of one mug: Amazon gives back part of its commission (`RefundCommission` charged).
REFUND_EVENTS: dict[str, Any] = {
    "RefundEventList": [
        {
            "AmazonOrderId": ORDER_ID,
            "MarketplaceName": "Amazon.de",
            "PostedDate": "2026-11-20T10:00:00Z",
            "ShipmentItemAdjustmentList": [
                {
                    "SellerSKU": "MUG-BLUE",
                    "OrderAdjustmentItemId": "33333333333333",
                    "QuantityShipped": 1,
                    "ItemChargeAdjustmentList": [
                        {"ChargeType": "Principal", "ChargeAmount": currency(-12.57)},
                    ],
                    "ItemFeeAdjustmentList": [
                        {"FeeType": "Commission", "FeeAmount": currency(2.13)},
                        {"FeeType": "RefundCommission", "FeeAmount": currency(-0.43)},
                    ],
                }
            ],
        }
    ]
}


def document(
    order_json: dict[str, Any] | None = None,
    items_json: list[dict[str, Any]] | None = None,
    financial_events: dict[str, Any] | None = None,
) -> bytes:
    """The raw record the fetcher writes: order + items (+ financial events)."""
    return amazon.order_document(
        order_json if order_json is not None else order(),
        items_json if items_json is not None else items(),
        financial_events,
    )


def notification(
    notification_id: str = "8d4b2c6e-1f3a-4e5b-9c7d-0a1b2c3d4e5f",
    order_id: str = ORDER_ID,
    status: str = "Unshipped",
) -> dict[str, Any]:
    """An `ORDER_CHANGE` notification (schemas/notifications/OrderChangeNotification.json)."""
    return {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": "2026-11-02T09:00:05.120Z",
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": "A3TH9S8BH6GOGM",
                "AmazonOrderId": order_id,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": "2026-11-02T09:00:00.000Z",
                    "ChangeReason": "Order status changed",
                },
                "Summary": {
                    "MarketplaceId": MARKETPLACE_DE,
                    "OrderStatus": status,
                    "PurchaseDate": PURCHASE_DATE,
                    "DestinationPostalCode": "50667",
                    "FulfillmentType": "MFN",
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": 0,
                    "NumberOfItemsUnshipped": 3,
                    "EarliestShipDate": "2026-11-03T00:00:00Z",
                    "LatestShipDate": "2026-11-04T23:59:59Z",
                    "OrderItems": [
                        {
                            "OrderItemId": "11111111111111",
                            "SellerSKU": "MUG-BLUE",
                            "SupplySourceId": None,
                            "OrderItemStatus": "Unshipped",
                            "Quantity": 2,
                            "QuantityShipped": 0,
                        }
                    ],
                },
            }
        },
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sellerapps.app.f1234566-aaec-55a6-b123-bcb752069ec5",
            "SubscriptionId": "93b098e1-c42-2f45-93a1-78910a6a8369",
            "PublishTime": "2026-11-02T09:00:05.300Z",
            "NotificationId": notification_id,
        },
    }


def notification_body(**kwargs: Any) -> bytes:
    return orjson.dumps(notification(**kwargs))


def orders_page(orders: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"Orders": orders, "LastUpdatedBefore": "2026-11-02T11:58:00Z"}
    if next_token is not None:
        payload["NextToken"] = next_token
    return {"payload": payload}


TOKEN_RESPONSE = {
    "access_token": "Atza|IwEBIA-test-access-token",
    "refresh_token": "Atzr|IwEBIA-test-refresh-token",
    "token_type": "bearer",
    "expires_in": 3600,
}

QUOTA_EXCEEDED = {
    "errors": [
        {
            "code": "QuotaExceeded",
            "message": "You exceeded your quota for the requested resource.",
            "details": "",
        }
    ]
}


def variant(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    result.update(changes)
    return result

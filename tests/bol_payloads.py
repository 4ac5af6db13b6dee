"""bol.com Retailer API v10 payloads written from the documented shapes (docs/marketplaces.md §1).

Times carry the Dutch offset as bol writes them; prices are JSON numbers including VAT.
"""

from __future__ import annotations

from typing import Any

import orjson

#: The documented demo order's business customer (api.bol.com demo/v10-ORDERS).
DEMO_VAT_NUMBER = "NL123456789B01"
DEMO_KVK_NUMBER = "99887766"

MUG: dict[str, Any] = {
    "orderItemId": "6107434013",
    "cancellationRequest": False,
    "fulfilment": {
        "method": "FBR",
        "distributionParty": "RETAILER",
        "latestDeliveryDate": "2026-11-04",
        "expiryDate": "2026-11-07",
        "timeFrameType": "REGULAR",
    },
    "offer": {"offerId": "8f6183d0-a839-4876-8bba-fe7c2a1ab3fb", "reference": "MUG-BLUE"},
    "product": {"ean": "8712345000019", "title": "Stoneware mok, blauw"},
    "quantity": 2,
    "quantityShipped": 0,
    "quantityCancelled": 0,
    "unitPrice": 12.10,
    "totalPrice": 24.20,
    "discounts": [],
    "commission": 4.62,
    "additionalServices": [],
    "latestChangedDateTime": "2026-11-02T10:00:00+01:00",
}
LAMP: dict[str, Any] = {
    "orderItemId": "6107434014",
    "cancellationRequest": False,
    "fulfilment": {
        "method": "FBR",
        "distributionParty": "RETAILER",
        "latestDeliveryDate": "2026-11-04",
        "expiryDate": "2026-11-07",
        "timeFrameType": "REGULAR",
    },
    "offer": {"offerId": "0c5c3b6e-3c3c-4a4e-9a43-3f0e1e3b2d11", "reference": "LAMP-DESK"},
    "product": {"ean": "8712345000040", "title": "Bureaulamp, messing"},
    "quantity": 1,
    "quantityShipped": 0,
    "quantityCancelled": 0,
    "unitPrice": 79.00,
    "totalPrice": 79.00,
    "discounts": [],
    "commission": 12.84,
    "additionalServices": [],
    "latestChangedDateTime": "2026-11-02T10:00:00+01:00",
}

CUSTOMER_ADDRESS = {
    "salutation": "FEMALE",
    "firstName": "Sanne",
    "surname": "de Vries",
    "streetName": "Oudegracht",
    "houseNumber": "12",
    "houseNumberExtension": "bis",
    "zipCode": "3511 AB",
    "city": "Utrecht",
    "countryCode": "NL",
    "email": "2x7lbotz5bd5onfrryb5mefcfpf7yq@verkopen.bol.com",
}
PICKUP_POINT_ADDRESS = {
    "pickupPointName": "PostNL Punt Primera Centrum",
    "salutation": "FEMALE",
    "firstName": "Sanne",
    "surname": "de Vries",
    "streetName": "Lange Elisabethstraat",
    "houseNumber": "22",
    "zipCode": "3511 JH",
    "city": "Utrecht",
    "countryCode": "NL",
    "email": "2x7lbotz5bd5onfrryb5mefcfpf7yq@verkopen.bol.com",
    "language": "nl",
}


def item(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def order(
    order_id: str = "1043965710",
    *,
    items: list[dict[str, Any]] | None = None,
    pickup_point: bool = False,
    shipment_details: dict[str, Any] | None = None,
    billing_details: dict[str, Any] | None = None,
    without_billing: bool = False,
    placed: str = "2026-11-02T09:55:00+01:00",
) -> dict[str, Any]:
    """A v10 Order (`GET /retailer/orders/{order-id}`)."""
    document: dict[str, Any] = {
        "orderId": order_id,
        "pickupPoint": pickup_point,
        "orderPlacedDateTime": placed,
        "shipmentDetails": shipment_details or {**CUSTOMER_ADDRESS, "language": "nl"},
        "orderItems": items if items is not None else [MUG, LAMP],
    }
    if not without_billing:
        document["billingDetails"] = billing_details or dict(CUSTOMER_ADDRESS)
    return document


def business_billing(country: str = "NL") -> dict[str, Any]:
    return {
        **CUSTOMER_ADDRESS,
        "countryCode": country,
        "company": "Bakker Interieur B.V.",
        "vatNumber": DEMO_VAT_NUMBER,
        "kvkNumber": DEMO_KVK_NUMBER,
        "orderReference": "PO-2026-118",
    }


def reduced_orders(*orders: dict[str, Any]) -> dict[str, Any]:
    """`GET /retailer/orders`: the list form of orders (ReducedOrder)."""
    return {
        "orders": [
            {
                "orderId": o["orderId"],
                "orderPlacedDateTime": o["orderPlacedDateTime"],
                "orderItems": [
                    {
                        "orderItemId": i["orderItemId"],
                        "ean": i["product"]["ean"],
                        "fulfilmentMethod": i["fulfilment"]["method"],
                        "fulfilmentStatus": (
                            "OPEN"
                            if i["quantity"] > i["quantityShipped"] + i["quantityCancelled"]
                            else "HANDLED"
                        ),
                        "quantity": i["quantity"],
                        "quantityShipped": i["quantityShipped"],
                        "quantityCancelled": i["quantityCancelled"],
                        "cancellationRequest": i["cancellationRequest"],
                        "latestChangedDateTime": i["latestChangedDateTime"],
                    }
                    for i in o["orderItems"]
                ],
            }
            for o in orders
        ]
    }


def shipment(
    shipment_id: str,
    order_id: str,
    units: list[tuple[dict[str, Any], int]],
    *,
    at: str = "2026-11-02T15:00:00+01:00",
    method: str = "FBR",
    with_quantity_shipped: bool = True,
) -> dict[str, Any]:
    """A v10 Shipment (`GET /retailer/shipments/{shipment-id}`) of (order item, units)."""
    items = []
    for order_item, count in units:
        entry: dict[str, Any] = {
            "orderItemId": order_item["orderItemId"],
            "fulfilment": {
                "method": method,
                "distributionParty": "BOL" if method == "FBB" else "RETAILER",
                "latestDeliveryDate": "2026-11-04",
            },
            "offer": order_item["offer"],
            "product": order_item["product"],
            "quantity": order_item["quantity"] if with_quantity_shipped else count,
            "unitPrice": order_item["unitPrice"],
            "commission": order_item["commission"],
        }
        if with_quantity_shipped:
            entry["quantityShipped"] = count
        items.append(entry)
    return {
        "shipmentId": shipment_id,
        "shipmentDateTime": at,
        "shipmentReference": f"REF-{shipment_id}",
        "pickupPoint": False,
        "order": {"orderId": order_id, "orderPlacedDateTime": "2026-11-02T09:55:00+01:00"},
        "shipmentDetails": {**CUSTOMER_ADDRESS, "language": "nl"},
        "billingDetails": dict(CUSTOMER_ADDRESS),
        "shipmentItems": items,
        "transport": {
            "transportId": f"t{shipment_id}",
            "transporterCode": "TNT",
            "trackAndTrace": f"3SBOL{shipment_id}",
            "shippingLabelId": None,
            "transportEvents": [],
        },
    }


def reduced_shipments(*shipments: dict[str, Any]) -> dict[str, Any]:
    """`GET /retailer/shipments`: ReducedShipment names items, not their units."""
    return {
        "shipments": [
            {
                "shipmentId": s["shipmentId"],
                "shipmentDateTime": s["shipmentDateTime"],
                "shipmentReference": s["shipmentReference"],
                "order": s["order"],
                "shipmentItems": [
                    {"orderItemId": i["orderItemId"], "ean": i["product"]["ean"]}
                    for i in s["shipmentItems"]
                ],
                "transport": {"transportId": s["transport"]["transportId"]},
            }
            for s in shipments
        ]
    }


def processing(
    handling_result: str,
    quantity: int = 1,
    at: str = "2026-11-09T11:00:00+01:00",
    result: str = "ACCEPTED",
) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "processingResult": result,
        "handlingResult": handling_result,
        "processingDateTime": at,
    }


def return_(
    return_id: str,
    rma_id: str,
    order_id: str,
    ean: str,
    *,
    expected: int = 1,
    results: list[dict[str, Any]] | None = None,
    registered: str = "2026-11-06T18:30:00+01:00",
) -> dict[str, Any]:
    """A v10 Return (`GET /retailer/returns/{return-id}`) with one return item."""
    return {
        "returnId": return_id,
        "registrationDateTime": registered,
        "fulfilmentMethod": "FBR",
        "returnItems": [
            {
                "rmaId": rma_id,
                "orderId": order_id,
                "ean": ean,
                "title": "Stoneware mok, blauw",
                "expectedQuantity": expected,
                "returnReason": {
                    "mainReason": "Product defect",
                    "detailedReason": "Werkt niet",
                    "customerComments": "Oor brak eraf",
                },
                "trackAndTrace": "3SRET000123",
                "transporterName": "PostNL",
                "handled": bool(results),
                "processingResults": results or [],
                "customerDetails": {"firstName": "Sanne", "surname": "de Vries"},
            }
        ],
    }


def push(
    resource: str = "ORDER",
    resource_id: str = "1043965710",
    kind: str = "ORDER_CHANGED",
    timestamp: str = "2026-11-02T10:00:03+01:00",
) -> dict[str, Any]:
    """A push notification (subscriptions page): retailerId, timestamp, event."""
    return {
        "retailerId": 1234567,
        "timestamp": timestamp,
        "event": {"resource": resource, "type": kind, "resourceId": resource_id},
    }


def body(document: object) -> bytes:
    return orjson.dumps(document)


def live_order(order_id: str, placed: str) -> dict[str, Any]:
    """An order placed at `placed` (bol's time format) with two items whose ids derive from
    the order id (so many orders can live in one fake); MUG x2 and LAMP x1, nothing shipped."""
    items = [
        item(MUG, orderItemId=f"{order_id}1", latestChangedDateTime=placed),
        item(LAMP, orderItemId=f"{order_id}2", latestChangedDateTime=placed),
    ]
    return order(order_id, items=items, placed=placed)

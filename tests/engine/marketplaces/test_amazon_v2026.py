"""Amazon Orders API v2026-01-01: the official examples, requests, answers and the normaliser."""

from __future__ import annotations

import copy
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import pytest

from engine.domain.config import InvoiceGranularity, Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces import amazon
from engine.domain.marketplaces.amazon import v2026 as amazon_v2026
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ShipmentSent,
)
from models.order import LineKind, Marketplace, OrderDetails
from models.raw import RawDelivery
from tests.amazon_v2026_examples import GET_ORDER_EXAMPLE, SEARCH_ORDERS_EXAMPLE

UK = "A1F83G8C2ARO7P"
US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"
UK_STORE = Store(
    "amazon-uk", "acme-nl", Marketplace.AMAZON, InvoiceGranularity.PER_ORDER,
    amazon_marketplace_id=UK,
)  # fmt: skip
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def events_of(order: dict[str, Any], store: Store = UK_STORE) -> list[OrderEvent]:
    return amazon_v2026.normalise_order(amazon_v2026.order_document(order, None), store, RECEIVED)


def of_type(events: list[OrderEvent], kind: type[T]) -> list[T]:
    return [e.payload for e in events if isinstance(e.payload, kind)]


def details_of(events: list[OrderEvent]) -> OrderDetails:
    (reported,) = of_type(events, DetailsReported)
    return reported.details


def example_order(**changes: Any) -> dict[str, Any]:
    """The official getOrder example's order, with top-level fields changed."""
    order = copy.deepcopy(GET_ORDER_EXAMPLE["order"])
    order.update(changes)
    return order


# --- the official examples --------------------------------------------------------------------


def test_the_official_get_order_example_normalises_without_loss() -> None:
    assert amazon_v2026.parse_order(orjson.dumps(GET_ORDER_EXAMPLE))["orderId"] == (
        "202-1234567-8901234"
    )
    events = events_of(GET_ORDER_EXAMPLE["order"])
    details = details_of(events)
    assert details.name == "202-1234567-8901234"
    assert details.currency == "GBP"
    assert details.placed_at == datetime(2024, 12, 25, 9, 15, tzinfo=UTC)
    assert details.as_of == datetime(2024, 12, 25, 16, 30, tzinfo=UTC)
    # ITEM 89.97 + SHIPPING 10.00 + TAX 4.00 (3.00 item, 1.00 shipping) = proceedsTotal 103.97
    product, shipping = details.lines
    assert (product.line_id, product.sku, product.quantity) == (
        "20212345678901",
        "ECHO-DOT-4-UK-CHARCOAL-3PACK",
        3,
    )
    assert (product.net, product.vat, product.gross) == (
        Decimal("89.97"),
        Decimal("3.00"),
        Decimal("92.97"),
    )
    assert shipping.kind is LineKind.SHIPPING
    assert (shipping.net, shipping.vat, shipping.gross) == (
        Decimal("10.00"),
        Decimal("1.00"),
        Decimal("11.00"),
    )
    assert sum(line.gross for line in details.lines) == Decimal("103.97")
    customer = details.customer
    assert (customer.name, customer.country, customer.email) == (
        "James Wilson",
        "GB",
        "buyer-email@marketplace.amazon.co.uk",
    )
    assert customer.vat_id is None
    assert not customer.is_business
    # the item's iossNumber: Amazon collected the VAT, the seller does not invoice
    assert details.invoiced_by_marketplace is not None
    assert "IM1234567890" in details.invoiced_by_marketplace
    assert details.ship_from_country == "GB"  # the package's shipFromAddress
    assert details.prices_include_vat is True
    # SHIPPED: paid at createdTime, the item ships whole at lastUpdatedTime (MFN)
    assert of_type(events, PaymentCaptured)[0].paid_at == details.placed_at
    (shipment,) = (s.shipment for s in of_type(events, ShipmentSent))
    assert shipment.shipment_id == "item:20212345678901"
    assert shipment.location_id == "MFN"
    assert [(q.line_id, q.quantity) for q in shipment.lines] == [("20212345678901", 3)]


def test_the_official_example_s_package_is_the_shipment_of_a_per_shipment_store() -> None:
    store = replace(UK_STORE, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
    events = events_of(GET_ORDER_EXAMPLE["order"], store)
    (shipment,) = (s.shipment for s in of_type(events, ShipmentSent))
    assert shipment.shipment_id == "package:UK-PKG-2024-001"
    assert shipment.shipped_at == datetime(2024, 12, 26, 14, 0, tzinfo=UTC)  # shipTime
    assert [(q.line_id, q.quantity) for q in shipment.lines] == [("20212345678901", 3)]
    assert events[-1].event_id.endswith(":shipment:package:UK-PKG-2024-001")


def test_the_official_search_orders_example_lists_the_change_and_the_next_page() -> None:
    page = amazon_v2026.parse_search_page(orjson.dumps(SEARCH_ORDERS_EXAMPLE))
    (summary,) = page.orders
    assert summary.amazon_order_id == "123-4567890-1234567"
    assert summary.last_update == datetime(2024, 12, 25, 14, 45, tzinfo=UTC)
    assert summary.status == "SHIPPED"
    assert page.next_token == "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"
    assert page.last_updated_before == datetime(2024, 12, 25, 15, 0, tzinfo=UTC)


def test_the_official_amazon_com_example_is_refused_by_a_european_store() -> None:
    order = SEARCH_ORDERS_EXAMPLE["orders"][0]
    de_store = replace(UK_STORE, id="amazon-de", amazon_marketplace_id=DE)
    with pytest.raises(NormalisationError, match=f"{US} is not store 'amazon-de'"):
        events_of(order, de_store)
    unnamed = replace(UK_STORE, amazon_marketplace_id=None)
    with pytest.raises(NormalisationError, match="not a European marketplace"):
        events_of(order, unnamed)


def test_the_official_amazon_com_example_keeps_its_tax_exclusive_prices() -> None:
    us_store = replace(UK_STORE, id="amazon-us", amazon_marketplace_id=US)
    events = events_of(SEARCH_ORDERS_EXAMPLE["orders"][0], us_store)
    details = details_of(events)
    assert details.currency == "USD"
    assert details.prices_include_vat is False  # sales tax comes on top
    echo, fire = details.lines
    assert (echo.net, echo.vat, echo.gross) == (
        Decimal("99.98"),
        Decimal("0.02"),
        Decimal("100.00"),
    )
    assert (fire.net, fire.vat, fire.gross) == (Decimal("49.99"), Decimal(0), Decimal("49.99"))
    # program AMAZON_BUSINESS with the buyer's company name, no VAT registration given
    assert details.customer.is_business
    assert details.customer.name == "Smith Industries LLC"
    assert details.customer.vat_id is None
    assert details.ship_from_country == "US"
    shipped = sorted(s.shipment.shipment_id for s in of_type(events, ShipmentSent))
    assert shipped == ["item:12345678901234", "item:12345678901235"]


# --- requests ---------------------------------------------------------------------------------


def test_search_orders_asks_by_last_update_and_repeats_the_filters_with_the_token() -> None:
    after = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    first = amazon_v2026.search_request([DE], after)
    assert first.path == "/orders/2026-01-01/orders"
    assert first.operation == "searchOrders"
    assert first.query == {
        "marketplaceIds": DE,
        "lastUpdatedAfter": "2026-11-02T08:00:00Z",
        "maxResultsPerPage": "100",
    }
    following = amazon_v2026.search_request([DE], after, "tok")
    assert following.query == {**first.query, "paginationToken": "tok"}
    assert amazon.DEFAULT_RATES["searchOrders"] == amazon.UsagePlan(0.0056, 20)
    with pytest.raises(ValueError):
        amazon_v2026.search_request([], after)


def test_get_order_asks_for_every_dataset_the_normaliser_reads() -> None:
    request = amazon_v2026.order_request("202-1234567-8901234")
    assert request.path == "/orders/2026-01-01/orders/202-1234567-8901234"
    assert request.operation == "getOrder@2026-01-01"
    wanted = set(urllib.parse.unquote(request.query["includedData"]).split(","))
    assert {"BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES", "TAX"} <= wanted


def test_an_error_body_is_named() -> None:
    body = orjson.dumps({"errors": [{"code": "InvalidInput", "message": "bad date"}]})
    with pytest.raises(NormalisationError, match="InvalidInput: bad date"):
        amazon_v2026.parse_search_page(body)
    with pytest.raises(NormalisationError, match="InvalidInput"):
        amazon_v2026.parse_order(body)


# --- what v2026 adds ----------------------------------------------------------------------------


def business_order(number: str = "DE 136 695 976") -> dict[str, Any]:
    order = example_order(
        programs=["AMAZON_BUSINESS"],
        tax={
            "taxRegistrations": [
                {"entityType": "MARKETPLACE", "taxRegistrationType": "VAT",
                 "taxRegistrationNumber": "GB123456789"},
                {"entityType": "BUYER", "taxRegistrationType": "VAT",
                 "taxRegistrationNumber": number, "legalName": "Schmidt Bürobedarf GmbH"},
            ]
        },
    )  # fmt: skip
    for item in order["orderItems"]:
        item["fulfillment"].pop("shipping")  # no IOSS: the seller invoices
    return order


def test_a_buyer_vat_registration_makes_a_business_customer() -> None:
    details = details_of(events_of(business_order()))
    assert details.customer.vat_id == "DE136695976"  # the BUYER's, not the marketplace's
    assert details.customer.is_business
    # a business order is named by its company
    assert details.customer.name == "Wilson Electronics Ltd"
    assert details.invoiced_by_marketplace is None


def test_a_business_order_without_a_company_takes_the_registration_s_legal_name() -> None:
    order = business_order()
    order["recipient"]["deliveryAddress"].pop("companyName")
    assert details_of(events_of(order)).customer.name == "Schmidt Bürobedarf GmbH"


def test_a_pickup_point_is_where_the_goods_go_but_not_the_buyer() -> None:
    order = example_order()
    address = order["recipient"]["deliveryAddress"]
    address.update(addressType="PICKUP_POINT", name="Amazon Locker - Piccadilly", companyName="")
    customer = details_of(events_of(order)).customer
    assert customer.name == "James Wilson"  # the buyer, not the locker
    assert customer.country == "GB"


@pytest.mark.parametrize(
    ("tax", "reason"),
    [
        ({"taxCollections": [{"model": "MARKETPLACE_FACILITATOR"}]}, "marketplace facilitator"),
        ({"taxCalculationBreakdowns": [{"reportingScheme": "UOSS"}]}, "deemed supplier"),
    ],
)
def test_marketplace_collected_vat_means_no_seller_invoice(
    tax: dict[str, Any], reason: str
) -> None:
    order = business_order()
    order["tax"] = {}
    order["programs"] = []
    order["orderItems"][0]["tax"] = tax
    details = details_of(events_of(order))
    assert details.invoiced_by_marketplace is not None
    assert reason in details.invoiced_by_marketplace


def test_invoice_by_amazon_and_vcs_stores_are_invoiced_by_amazon() -> None:
    order = business_order()
    assert details_of(events_of(order)).invoiced_by_marketplace is None
    vcs = replace(UK_STORE, amazon_issues_invoices=True)
    assert details_of(events_of(order, vcs)).invoiced_by_marketplace == amazon.VCS_REASON
    order["programs"] = ["INVOICE_BY_AMAZON"]
    assert "INVOICE_BY_AMAZON" in str(details_of(events_of(order)).invoiced_by_marketplace)


def test_amazon_fulfilled_orders_ship_from_the_store_s_fba_country() -> None:
    order = business_order()
    order["fulfillment"]["fulfilledBy"] = "AMAZON"
    order.pop("packages")
    store = replace(UK_STORE, fba_ship_from_country="PL")
    events = events_of(order, store)
    assert details_of(events).ship_from_country == "PL"
    assert of_type(events, ShipmentSent)[0].shipment.location_id == "AFN"
    assert details_of(events_of(order)).ship_from_country is None


def test_tax_included_proceeds_are_read_as_such() -> None:
    order = business_order()
    proceeds = order["orderItems"][0]["proceeds"]
    proceeds["proceedsTotal"]["amount"] = "99.97"  # ITEM 89.97 + SHIPPING 10.00, tax inside
    product, shipping = details_of(events_of(order)).lines
    assert (product.net, product.vat, product.gross) == (
        Decimal("86.97"),
        Decimal("3.00"),
        Decimal("89.97"),
    )
    assert shipping.gross == Decimal("10.00")
    proceeds["proceedsTotal"]["amount"] = "50.00"
    with pytest.raises(NormalisationError, match=r"proceedsTotal 50\.00"):
        events_of(order)


def test_discounts_lower_the_line_and_its_tax() -> None:
    order = business_order()
    item = order["orderItems"][0]
    item["proceeds"] = {
        "proceedsTotal": {"amount": "105.00", "currencyCode": "GBP"},
        "breakdowns": [
            {"type": "ITEM", "subtotal": {"amount": "100.00", "currencyCode": "GBP"}},
            {"type": "DISCOUNT", "subtotal": {"amount": "-10.00", "currencyCode": "GBP"},
             "detailedBreakdowns": [
                 {"subtype": "ITEM", "value": {"amount": "-10.00", "currencyCode": "GBP"}}]},
            {"type": "TAX", "subtotal": {"amount": "15.00", "currencyCode": "GBP"},
             "detailedBreakdowns": [
                 {"subtype": "ITEM", "value": {"amount": "20.00", "currencyCode": "GBP"}},
                 {"subtype": "DISCOUNT", "value": {"amount": "-5.00", "currencyCode": "GBP"}}]},
        ],
    }  # fmt: skip
    (product,) = details_of(events_of(order)).lines
    assert (product.net, product.vat, product.gross) == (
        Decimal("90.00"),
        Decimal("15.00"),
        Decimal("105.00"),
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING", []),
        ("PENDING_AVAILABILITY", []),
        ("UNSHIPPED", [PaymentCaptured]),
        ("CANCELLED", [OrderCancelled]),
        ("UNFULFILLABLE", [OrderCancelled]),
    ],
)
def test_every_fulfillment_status_is_understood(status: str, expected: list[type]) -> None:
    order = business_order()
    order["fulfillment"]["fulfillmentStatus"] = status
    order["orderItems"][0]["fulfillment"]["quantityFulfilled"] = 0
    events = events_of(order)
    assert [type(e.payload) for e in events[1:]] == expected


def test_a_buyer_requested_cancellation_says_so() -> None:
    order = business_order()
    order["fulfillment"]["fulfillmentStatus"] = "CANCELLED"
    order["orderItems"][0]["cancellation"] = {"cancellationRequest": {"requester": "BUYER"}}
    (cancelled,) = of_type(events_of(order), OrderCancelled)
    assert cancelled.cancellation.reason == "cancelled at the buyer's request"


def test_a_shipped_order_with_a_short_item_cancels_the_rest() -> None:
    order = business_order()
    order["orderItems"][0]["fulfillment"]["quantityFulfilled"] = 2
    events = events_of(order)
    (shipment,) = of_type(events, ShipmentSent)
    assert shipment.shipment.lines[0].quantity == 2
    (cancelled,) = of_type(events, OrderCancelled)
    assert cancelled.cancellation.lines[0].quantity == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fulfillment": {"fulfillmentStatus": "LOST"}}, "'LOST' is not known"),
        ({"fulfillment": None}, "fulfillment is missing"),
        ({"orderItems": []}, "orderItems is empty"),
        ({"lastUpdatedTime": "yesterday"}, "lastUpdatedTime"),
    ],
)
def test_orders_that_cannot_be_understood_name_the_problem(
    change: dict[str, Any], message: str
) -> None:
    order = example_order(**change)
    with pytest.raises(NormalisationError, match=message):
        events_of(order)


def test_a_v2026_record_goes_through_the_raw_topic_and_keeps_v0_s_delivery_id() -> None:
    body = amazon_v2026.order_document(GET_ORDER_EXAMPLE["order"], None)
    delivery_id = amazon_v2026.document_delivery_id(body)
    assert delivery_id == "202-1234567-8901234@2024-12-25T16:30:00Z"
    delivery = RawDelivery(
        marketplace=Marketplace.AMAZON,
        store_id=UK_STORE.id,
        delivery_id=delivery_id,
        topic=amazon_v2026.ORDER_DOCUMENT_TOPIC,
        received_at=RECEIVED,
        headers={},
        body=body,
    )
    events = amazon.normalise(delivery, UK_STORE)
    assert [e.event_id for e in events] == [
        e.event_id for e in events_of(GET_ORDER_EXAMPLE["order"])
    ]
    assert events[0].source == f"poll:{delivery_id}"

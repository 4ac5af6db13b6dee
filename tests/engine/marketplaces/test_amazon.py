"""The Amazon SP-API module: notifications, LWA, requests, responses, fees, normalisation."""

from __future__ import annotations

import tomllib
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import pytest

from engine.domain.config import Config, InvoiceGranularity, Store, parse_config
from engine.domain.exceptions import ConfigError, NormalisationError, SignatureError
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import amazon
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ShipmentSent,
)
from models.order import LineKind, Marketplace
from models.raw import RawDelivery
from tests import amazon_payloads as p

STORE = Store("amazon-de", "acme-nl", Marketplace.AMAZON, InvoiceGranularity.PER_ORDER)
VCS_STORE = replace(STORE, id="amazon-vcs", amazon_issues_invoices=True)
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SECRETS = (p.SHARED_SECRET.encode(),)
T = TypeVar("T")


def events_of(body: bytes, store: Store = STORE) -> list[OrderEvent]:
    return amazon.normalise_order(body, store, RECEIVED)


def of_type(events: list[OrderEvent], kind: type[T]) -> list[T]:
    return [e.payload for e in events if isinstance(e.payload, kind)]


def details_of(events: list[OrderEvent]) -> Any:
    (found,) = of_type(events, DetailsReported)
    return found.details


# --- notification authentication ------------------------------------------------------------------


def test_the_shared_secret_authenticates_a_relayed_notification() -> None:
    amazon.verify(p.notification_body(), {"X-Winkel-Token": p.SHARED_SECRET}, SECRETS)
    # header names are case-blind, as HTTP says
    amazon.verify(p.notification_body(), {"x-winkel-token": p.SHARED_SECRET}, SECRETS)


def test_a_rotating_secret_accepts_either_value() -> None:
    rotating = (b"old-secret", p.SHARED_SECRET.encode())
    amazon.verify(b"{}", {"X-Winkel-Token": "old-secret"}, rotating)
    amazon.verify(b"{}", {"X-Winkel-Token": p.SHARED_SECRET}, rotating)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Winkel-Token": ""},
        {"X-Winkel-Token": "wrong"},
        {"X-Winkel-Token": p.SHARED_SECRET + "x"},
        {"X-Winkel-Token": p.SHARED_SECRET[:-1]},
        {"Authorization": f"Bearer {p.SHARED_SECRET}"},
    ],
)
def test_a_missing_or_wrong_token_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        amazon.verify(p.notification_body(), headers, SECRETS)


def test_no_configured_secret_refuses_everything() -> None:
    with pytest.raises(SignatureError, match="no shared secret"):
        amazon.verify(b"{}", {"X-Winkel-Token": "anything"}, ())


# --- notification parsing -------------------------------------------------------------------------


def test_an_order_change_names_the_order_to_fetch_and_its_dedupe_key() -> None:
    change = amazon.parse_notification(p.notification_body())
    assert change is not None
    assert change.notification_id == "8d4b2c6e-1f3a-4e5b-9c7d-0a1b2c3d4e5f"
    assert change.amazon_order_id == p.ORDER_ID
    assert change.seller_id == "A3TH9S8BH6GOGM"
    assert change.marketplace_id == p.MARKETPLACE_DE
    assert change.order_status == "Unshipped"
    assert change.change_type == "OrderStatusChange"
    assert change.event_time == datetime(2026, 11, 2, 9, 0, 5, 120000, tzinfo=UTC)
    body = p.notification_body()
    assert amazon.delivery_id({}, body) == change.notification_id
    assert amazon.external_order_id(body) == p.ORDER_ID
    assert [r.path for r in amazon.order_fetches(change)] == [
        f"/orders/v0/orders/{p.ORDER_ID}",
        f"/orders/v0/orders/{p.ORDER_ID}/orderItems",
    ]


def test_an_eventbridge_envelope_is_unwrapped() -> None:
    wrapped = {
        "version": "0",
        "detail-type": "ORDER_CHANGE",
        "source": "aws.partner/sellingpartnerapi.amazon.com",
        "detail": p.notification(),
    }
    change = amazon.parse_notification(orjson.dumps(wrapped))
    assert change is not None and change.amazon_order_id == p.ORDER_ID


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{truncated",
        b"[]",
        b'"ORDER_CHANGE"',
        orjson.dumps({**p.notification(), "NotificationType": "ANY_OFFER_CHANGED"}),
        orjson.dumps({k: v for k, v in p.notification().items() if k != "NotificationMetadata"}),
        orjson.dumps({k: v for k, v in p.notification().items() if k != "Payload"}),
        orjson.dumps({**p.notification(), "NotificationMetadata": {"NotificationId": ""}}),
        orjson.dumps({**p.notification(), "Payload": {"OrderChangeNotification": {}}}),
        orjson.dumps({**p.notification(), "Payload": {"OrderChangeNotification": "x"}}),
    ],
)
def test_malformed_or_other_notifications_are_not_order_changes(body: bytes) -> None:
    assert amazon.parse_notification(body) is None
    assert amazon.delivery_id({}, body) is None
    assert amazon.external_order_id(body) is None


def test_a_notification_record_normalises_to_nothing_it_only_asks_for_a_fetch() -> None:
    delivery = RawDelivery(
        Marketplace.AMAZON, STORE.id, "n1", "ORDER_CHANGE", RECEIVED, {}, p.notification_body()
    )
    assert amazon.normalise(delivery, STORE) == []
    with pytest.raises(NormalisationError, match="not handled"):
        amazon.normalise(replace(delivery, topic="whatever"), STORE)


# --- Login with Amazon ----------------------------------------------------------------------------


def test_the_token_request_is_a_form_encoded_refresh_token_grant() -> None:
    request = amazon.token_request("amzn1.application-oa2-client.abc", "s3cr=t&", "Atzr|r")
    assert request.url == "https://api.amazon.com/auth/o2/token"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    form = urllib.parse.parse_qs(request.body.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["Atzr|r"],
        "client_id": ["amzn1.application-oa2-client.abc"],
        "client_secret": ["s3cr=t&"],
    }
    assert amazon.token_request("a", "b", "c", "http://fake/auth/o2/token").url.startswith("http")


def test_the_token_is_cached_for_its_hour_less_a_margin() -> None:
    cache = amazon.TokenCache.from_response(orjson.dumps(p.TOKEN_RESPONSE), RECEIVED)
    assert cache.token == "Atza|IwEBIA-test-access-token"
    assert cache.expires_at == RECEIVED + timedelta(hours=1)
    assert cache.valid(RECEIVED)
    assert cache.valid(RECEIVED + timedelta(minutes=58, seconds=59))
    assert not cache.valid(RECEIVED + timedelta(minutes=59))
    assert not cache.valid(RECEIVED + timedelta(hours=2))
    request = amazon.authorised(amazon.order_request(p.ORDER_ID), cache)
    assert request.headers["x-amz-access-token"] == cache.token


@pytest.mark.parametrize(
    "answer",
    [
        {"token_type": "bearer", "expires_in": 3600},
        {"access_token": "a", "token_type": "mac", "expires_in": 3600},
        {"access_token": "a", "token_type": "bearer"},
        {"access_token": "a", "token_type": "bearer", "expires_in": -5},
    ],
)
def test_an_unusable_token_answer_is_an_error(answer: dict[str, Any]) -> None:
    with pytest.raises(NormalisationError):
        amazon.TokenCache.from_response(orjson.dumps(answer), RECEIVED)


def test_lwa_errors_say_whether_new_credentials_are_needed() -> None:
    error = amazon.parse_token_error(
        b'{"error": "invalid_grant", "error_description": "The request has an invalid grant"}'
    )
    assert error.error == "invalid_grant" and error.needs_new_credentials
    assert not amazon.parse_token_error(b'{"error": "server_error"}').needs_new_credentials
    assert amazon.parse_token_error(b"<html>").error == "unknown_error"


# --- requests and responses -----------------------------------------------------------------------


def test_get_orders_polls_by_last_update_and_pages_by_next_token() -> None:
    first = amazon.orders_request([p.MARKETPLACE_DE], datetime(2026, 11, 2, 10, tzinfo=UTC))
    assert first.path == "/orders/v0/orders"
    assert first.operation == "getOrders"
    assert first.query == {
        "MarketplaceIds": p.MARKETPLACE_DE,
        "LastUpdatedAfter": "2026-11-02T10:00:00Z",
        "MaxResultsPerPage": "100",
    }
    following = amazon.orders_request([p.MARKETPLACE_DE, "A13V1IB3VIYZZH"], next_token="tok==")
    assert following.query == {
        "MarketplaceIds": f"{p.MARKETPLACE_DE},A13V1IB3VIYZZH",
        "NextToken": "tok==",
    }
    with pytest.raises(ValueError):
        amazon.orders_request([], RECEIVED)
    with pytest.raises(ValueError):
        amazon.orders_request([p.MARKETPLACE_DE])
    with pytest.raises(ValueError):
        amazon.orders_request([p.MARKETPLACE_DE], RECEIVED, max_results=101)


def test_order_items_and_financial_events_requests() -> None:
    assert amazon.order_items_request(p.ORDER_ID, "n").query == {"NextToken": "n"}
    finances = amazon.financial_events_request(p.ORDER_ID)
    assert finances.path == f"/finances/v0/orders/{p.ORDER_ID}/financialEvents"
    assert finances.query == {"MaxResultsPerPage": "100"}
    assert finances.operation == "listFinancialEventsByOrderId"
    # ids are path segments, never path syntax
    assert amazon.order_request("../x").path == "/orders/v0/orders/..%2Fx"


def test_an_orders_page_lists_changes_and_the_next_token() -> None:
    body = orjson.dumps(p.orders_page([p.order(), p.order("Shipped")], next_token="more"))
    page = amazon.parse_orders_page(body)
    assert page.next_token == "more"
    assert [o.status for o in page.orders] == ["Unshipped", "Shipped"]
    assert page.orders[0].change_key == f"{p.ORDER_ID}@2026-11-02T09:00:00Z"
    assert page.last_updated_before == datetime(2026, 11, 2, 11, 58, tzinfo=UTC)
    last = amazon.parse_orders_page(orjson.dumps(p.orders_page([])))
    assert last.next_token is None and last.orders == ()


def test_the_poll_cursor_moves_forward_with_an_overlap_and_never_back() -> None:
    page = amazon.parse_orders_page(orjson.dumps(p.orders_page([p.order()])))
    before = datetime(2026, 11, 2, 8, tzinfo=UTC)
    now = datetime(2026, 11, 2, 12, tzinfo=UTC)
    cursor = amazon.next_cursor(before, [page], now)
    assert cursor == datetime(2026, 11, 2, 11, 56, tzinfo=UTC)  # LastUpdatedBefore - 2 min
    assert amazon.next_cursor(now, [page], now) == now
    bare = replace(page, last_updated_before=None)
    assert amazon.next_cursor(before, [bare], now) == datetime(2026, 11, 2, 8, 58, tzinfo=UTC)
    assert amazon.next_cursor(before, [], now) == before


def test_error_bodies_are_read_and_a_missing_payload_is_an_error() -> None:
    body = orjson.dumps(p.QUOTA_EXCEEDED)
    (error,) = amazon.parse_errors(body)
    assert error.code == "QuotaExceeded"
    with pytest.raises(NormalisationError, match="QuotaExceeded"):
        amazon.parse_orders_page(body)
    assert amazon.parse_errors(b"nope") == []


def test_order_items_pages_and_financial_event_pages() -> None:
    items_page = amazon.parse_order_items_page(
        orjson.dumps({"payload": {"AmazonOrderId": p.ORDER_ID, "OrderItems": p.items()}})
    )
    assert len(items_page.items) == 2 and items_page.next_token is None
    finance_page = amazon.parse_financial_events_page(
        orjson.dumps({"payload": {"NextToken": "f2", "FinancialEvents": p.FINANCIAL_EVENTS}})
    )
    assert finance_page.next_token == "f2"
    merged = amazon.merge_financial_events([finance_page.events, p.REFUND_EVENTS])
    assert len(merged["ShipmentEventList"]) == 1 and len(merged["RefundEventList"]) == 1
    assert amazon.parse_order(orjson.dumps({"payload": p.order()}))["AmazonOrderId"] == p.ORDER_ID


# --- fees -----------------------------------------------------------------------------------------


def test_fees_are_costs_kept_apart_from_what_the_customer_paid() -> None:
    finances = amazon.parse_finances(p.FINANCIAL_EVENTS)
    assert finances.currency == "EUR"
    assert finances.fees == (
        ("Commission", Decimal("8.00")),
        ("FBAPerUnitFulfillmentFee", Decimal("8.30")),
    )
    assert finances.total_fees == Decimal("16.30")
    assert dict(finances.charges) == {
        "Principal": Decimal("46.10"),
        "ShippingCharge": Decimal("4.12"),
        "ShippingTax": Decimal("0.78"),
        "Tax": Decimal("8.75"),
    }
    assert finances.withheld == ()


def test_refund_adjustments_give_back_fees() -> None:
    merged = amazon.merge_financial_events([p.FINANCIAL_EVENTS, p.REFUND_EVENTS])
    fees = dict(amazon.parse_finances(merged).fees)
    assert fees["Commission"] == Decimal("5.87")  # 8.00 charged, 2.13 given back
    assert fees["RefundCommission"] == Decimal("0.43")


def test_withheld_marketplace_facilitator_tax_is_its_own_column() -> None:
    events = {
        "ShipmentEventList": [
            {
                "ShipmentItemList": [
                    {
                        "ItemTaxWithheldList": [
                            {
                                "TaxCollectionModel": "MarketplaceFacilitator",
                                "TaxesWithheld": [
                                    {
                                        "ChargeType": "MarketplaceFacilitatorVAT-Principal",
                                        "ChargeAmount": p.currency(-3.8),
                                    }
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    finances = amazon.parse_finances(events)
    assert finances.withheld == (("MarketplaceFacilitatorVAT-Principal", Decimal("-3.8")),)
    assert finances.fees == ()


def test_fees_in_two_currencies_are_refused() -> None:
    events = {
        "ShipmentEventList": [
            {"OrderFeeList": [{"FeeType": "A", "FeeAmount": p.currency(-1.0, "EUR")}]},
            {"OrderFeeList": [{"FeeType": "B", "FeeAmount": p.currency(-1.0, "GBP")}]},
        ]
    }
    with pytest.raises(NormalisationError, match="several currencies"):
        amazon.parse_finances(events)


# --- normalisation: statuses ----------------------------------------------------------------------


def test_an_unshipped_mfn_order_is_details_and_payment() -> None:
    events = events_of(p.document())
    assert [e.type for e in events] == ["details_reported", "payment_captured"]
    ref = events[0].ref
    assert ref.uuid == order_uuid(STORE.id, Marketplace.AMAZON, p.ORDER_ID)
    assert ref.external_order_id == p.ORDER_ID
    assert events[0].event_id == f"amazon:amazon-de:{p.ORDER_ID}:details@2026-11-02T09:00:00Z"
    assert events[1].event_id == f"amazon:amazon-de:{p.ORDER_ID}:paid"
    (payment,) = of_type(events, PaymentCaptured)
    assert payment.paid_at == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)


def test_prices_promotions_and_shipping_become_vat_inclusive_lines() -> None:
    details = details_of(events_of(p.document()))
    assert details.currency == "EUR"
    assert details.name == p.ORDER_ID
    mugs, teapot, shipping = details.lines
    assert (mugs.line_id, mugs.sku, mugs.quantity) == ("11111111111111", "MUG-BLUE", 2)
    assert (mugs.gross, mugs.vat, mugs.net) == (
        Decimal("27.90"),
        Decimal("4.45"),
        Decimal("23.45"),
    )
    assert mugs.vat_rate == Decimal("0.19")
    assert (teapot.gross, teapot.vat, teapot.vat_rate) == (
        Decimal("24.95"),
        Decimal("3.98"),
        Decimal("0.19"),
    )
    assert shipping.kind is LineKind.SHIPPING
    assert (shipping.gross, shipping.vat, shipping.vat_rate) == (
        Decimal("4.90"),
        Decimal("0.78"),
        Decimal("0.19"),
    )
    assert sum(line.gross for line in details.lines) == Decimal("57.75")  # = OrderTotal
    assert all(isinstance(line.gross, Decimal) for line in details.lines)
    assert details.prices_include_vat is True


def test_the_customer_comes_from_the_shipping_address() -> None:
    details = details_of(events_of(p.document()))
    customer = details.customer
    assert (customer.name, customer.country, customer.is_business) == ("Lena Schmidt", "DE", False)
    assert customer.email == "x9k2p1@marketplace.amazon.de"
    assert customer.vat_id is None
    assert details.invoiced_by_marketplace is None
    assert details.ship_from_country == "NL"  # the MFN seller's default ship-from address


@pytest.mark.parametrize("status", ["Pending", "PendingAvailability"])
def test_pending_orders_are_details_only_without_address_or_payment(status: str) -> None:
    events = events_of(p.document(p.order(status)))
    assert [e.type for e in events] == ["details_reported"]
    details = details_of(events)
    assert details.customer.country is None
    assert details.customer.name == "Lena Schmidt"  # BuyerInfo.BuyerName
    assert details.currency == "EUR"  # from ItemPrice, as OrderTotal is absent


def test_pending_items_without_prices_are_zero_until_amazon_prices_them() -> None:
    bare = [
        {k: v for k, v in item.items() if not k.endswith(("Price", "Tax", "Discount"))}
        for item in p.items()
    ]
    order = p.order("Pending", OrderTotal=p.money("57.75"))
    details = details_of(events_of(p.document(order, bare)))
    assert all(line.gross == Decimal(0) for line in details.lines)
    assert details.currency == "EUR"
    # no price anywhere: the marketplace's currency
    polish = details_of(
        events_of(p.document(p.order("Pending", MarketplaceId="A1C3SOZRARQ6R3"), bare))
    )
    assert polish.currency == "PLN"
    with pytest.raises(NormalisationError, match="currency"):
        events_of(p.document(p.order("Pending", MarketplaceId=""), bare))
    # a marketplace outside Europe is no sale of a store that names none
    with pytest.raises(NormalisationError, match="XXXX is not a European marketplace"):
        events_of(p.document(p.order("Pending", MarketplaceId="XXXX"), bare))


def test_partially_shipped_ships_only_items_that_are_complete() -> None:
    body = p.document(p.order("PartiallyShipped"), p.items(shipped=(1, 1)))
    events = events_of(body)
    shipments = of_type(events, ShipmentSent)
    assert [s.shipment.shipment_id for s in shipments] == ["item:22222222222222"]
    (shipment,) = shipments
    assert shipment.shipment.lines[0].quantity == 1
    assert shipment.shipment.location_id == "MFN"
    assert shipment.shipment.shipped_at == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert of_type(events, OrderCancelled) == []


@pytest.mark.parametrize("status", ["Shipped", "InvoiceUnconfirmed"])
def test_shipped_orders_ship_every_item(status: str) -> None:
    order = p.order(status, LastUpdateDate="2026-11-03T10:00:00Z")
    events = events_of(p.document(order, p.items(shipped=(2, 1))))
    shipments = [s.shipment for s in of_type(events, ShipmentSent)]
    assert {s.shipment_id: s.lines[0].quantity for s in shipments} == {
        "item:11111111111111": 2,
        "item:22222222222222": 1,
    }
    assert all(s.shipped_at == datetime(2026, 11, 3, 10, tzinfo=UTC) for s in shipments)
    assert of_type(events, OrderCancelled) == []
    assert len({e.event_id for e in events}) == len(events)


def test_a_shipped_order_with_a_short_item_cancels_the_rest() -> None:
    events = events_of(p.document(p.order("Shipped"), p.items(shipped=(1, 1))))
    (cancellation,) = of_type(events, OrderCancelled)
    assert cancellation.cancellation.lines[0].line_id == "11111111111111"
    assert cancellation.cancellation.lines[0].quantity == 1
    assert not cancellation.cancellation.whole_order


@pytest.mark.parametrize(
    ("status", "reason"),
    [("Canceled", "cancelled on Amazon"), ("Unfulfillable", "unfulfillable")],
)
def test_cancelled_and_unfulfillable_orders_are_called_off(status: str, reason: str) -> None:
    order = p.order(status, LastUpdateDate="2026-11-02T10:30:00Z")
    events = events_of(p.document(order))
    (cancellation,) = of_type(events, OrderCancelled)
    assert cancellation.cancellation.whole_order
    assert cancellation.cancellation.reason == reason
    assert cancellation.cancellation.cancelled_at == datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    assert of_type(events, PaymentCaptured) == []


def test_a_buyer_requested_cancellation_says_so() -> None:
    # the v0 model types IsBuyerRequestedCancel as a string
    for flag in ("true", True):
        request = {
            "BuyerRequestedCancel": {"IsBuyerRequestedCancel": flag, "BuyerCancelReason": "x"}
        }
        events = events_of(p.document(p.order("Canceled"), p.items(**request)))
        (cancellation,) = of_type(events, OrderCancelled)
        assert cancellation.cancellation.reason == "cancelled at the buyer's request"
    no = {"BuyerRequestedCancel": {"IsBuyerRequestedCancel": "false", "BuyerCancelReason": ""}}
    events = events_of(p.document(p.order("Canceled"), p.items(**no)))
    (cancellation,) = of_type(events, OrderCancelled)
    assert cancellation.cancellation.reason == "cancelled on Amazon"


def test_every_documented_status_is_understood() -> None:
    assert {
        "Pending",
        "Unshipped",
        "PartiallyShipped",
        "Shipped",
        "Canceled",
        "Unfulfillable",
        "InvoiceUnconfirmed",
        "PendingAvailability",
    } == amazon.ORDER_STATUSES
    for status in amazon.ORDER_STATUSES:
        assert events_of(p.document(p.order(status), p.items(shipped=(2, 1))))


@pytest.mark.parametrize(
    ("order", "items", "message"),
    [
        (p.order("Lost"), p.items(), "OrderStatus"),
        (p.order(), [], "OrderItems"),
        (p.order(AmazonOrderId=""), p.items(), "AmazonOrderId"),
        (p.order(LastUpdateDate="yesterday"), p.items(), "LastUpdateDate"),
        (p.order(), p.items(ItemPrice={"CurrencyCode": "EUR", "Amount": "a lot"}), "Amount"),
        (p.order("Shipped"), p.items(shipped=(3, 1)), "QuantityShipped"),
    ],
)
def test_documents_that_cannot_be_understood_name_the_problem(
    order: dict[str, Any], items: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(NormalisationError, match=message):
        events_of(p.document(order, items))


def test_a_document_that_is_not_json_or_has_no_order_is_a_normalisation_error() -> None:
    for body in (b"nope", b"[]", orjson.dumps({"OrderItems": p.items()})):
        with pytest.raises(NormalisationError):
            events_of(body)
    with pytest.raises(NormalisationError, match="schema"):
        events_of(orjson.dumps({"schema": "other/9", "Order": p.order(), "OrderItems": []}))


# --- fulfilment, business buyers, marketplace-collected VAT ---------------------------------------


def test_the_sandbox_spelling_of_the_fulfilment_channel_is_understood() -> None:
    for raw, channel in (("SellerFulfilled", "MFN"), ("AFN", "AFN"), ("Other", "Other")):
        order = p.order("Shipped", FulfillmentChannel=raw)
        shipments = of_type(events_of(p.document(order, p.items((2, 1)))), ShipmentSent)
        assert {s.shipment.location_id for s in shipments} == {channel}


def test_afn_orders_ship_from_amazon_and_say_so_on_the_shipment() -> None:
    order = p.order("Shipped", FulfillmentChannel="AFN")
    order.pop("DefaultShipFromLocationAddress")
    events = events_of(p.document(order, p.items(shipped=(2, 1)), p.FINANCIAL_EVENTS))
    shipments = [s.shipment for s in of_type(events, ShipmentSent)]
    assert {s.location_id for s in shipments} == {"AFN"}
    details = details_of(events)
    assert details.ship_from_country is None  # v0 names no FBA warehouse
    assert dict(details.costs) == {
        "Commission": Decimal("8.00"),
        "FBAPerUnitFulfillmentFee": Decimal("8.30"),
    }
    # fees are kept apart: the lines are still what the customer paid
    assert sum(line.gross for line in details.lines) == Decimal("57.75")


def test_afn_orders_ship_from_the_store_s_fba_country_where_one_is_configured() -> None:
    store = replace(STORE, fba_ship_from_country="DE")
    afn = p.order("Shipped", FulfillmentChannel="AFN")
    afn.pop("DefaultShipFromLocationAddress")
    assert details_of(events_of(p.document(afn, p.items((2, 1))), store)).ship_from_country == "DE"
    # an MFN order ships from the seller's own address, whatever the FBA stock
    mfn = p.order("Shipped", FulfillmentChannel="MFN")
    assert details_of(events_of(p.document(mfn, p.items((2, 1))), store)).ship_from_country == "NL"


def test_a_business_order_is_business_with_the_company_name() -> None:
    address = {**p.SHIPPING_ADDRESS, "CompanyName": "Schmidt GmbH", "AddressType": "Commercial"}
    order = p.order(IsBusinessOrder=True, ShippingAddress=address)
    customer = details_of(events_of(p.document(order))).customer
    assert customer.is_business and customer.name == "Schmidt GmbH"
    assert customer.vat_id is None  # v0 gives no EU buyer VAT id (docs/marketplaces.md §2.1)


def test_a_buyer_tax_registration_gives_the_customer_vat_id() -> None:
    buyer = {
        "BuyerEmail": "b2b@marketplace.amazon.de",
        "BuyerTaxInfo": {
            "CompanyLegalName": "Schmidt GmbH",
            "TaxingRegion": "DE",
            "TaxClassifications": [{"Name": "VATNumber", "Value": "DE 123456789"}],
        },
    }
    items = p.items(ItemTax=p.money("0.00"), PromotionDiscountTax=p.money("0.00"))
    for item in items:
        item["ShippingTax"] = p.money("0.00")
    order = p.order(IsBusinessOrder=True, BuyerInfo=buyer, ShippingAddress=p.SHIPPING_ADDRESS)
    details = details_of(events_of(p.document(order, items)))
    assert details.customer.vat_id == "DE123456789"
    assert details.customer.name == "Schmidt GmbH"
    assert all(line.vat == 0 and line.vat_rate == 0 for line in details.lines)


@pytest.mark.parametrize(
    ("order_changes", "item_changes", "reason"),
    [
        ({"IsSoldByAB": True}, {}, "Amazon Business EU SARL is the seller of record"),
        ({"IsIBA": True}, {}, "seller of record"),
        ({}, {"DeemedResellerCategory": "UOSS"}, "deemed supplier (DeemedResellerCategory UOSS)"),
        ({}, {"DeemedResellerCategory": "IOSS"}, "deemed supplier (DeemedResellerCategory IOSS)"),
        ({}, {"IossNumber": "IM2760000742"}, "IOSS (IossNumber IM2760000742)"),
        (
            {},
            {"TaxCollection": {"Model": "MarketplaceFacilitator", "ResponsibleParty": "Amazon"}},
            "marketplace facilitator",
        ),
    ],
)
def test_marketplace_collected_vat_means_amazon_invoices(
    order_changes: dict[str, Any], item_changes: dict[str, Any], reason: str
) -> None:
    order = p.order("Shipped", **order_changes)
    details = details_of(events_of(p.document(order, p.items((2, 1), **item_changes))))
    assert details.invoiced_by_marketplace is not None
    assert reason in details.invoiced_by_marketplace


def test_a_vcs_store_has_amazon_invoice_every_order() -> None:
    details = details_of(events_of(p.document(), VCS_STORE))
    assert details.invoiced_by_marketplace == amazon.VCS_REASON
    plain = details_of(events_of(p.document()))
    assert plain.invoiced_by_marketplace is None


def test_a_tax_collection_other_than_the_facilitator_model_changes_nothing() -> None:
    items = p.items(TaxCollection={"Model": "Standard", "ResponsibleParty": "Seller"})
    assert details_of(events_of(p.document(p.order(), items))).invoiced_by_marketplace is None


def test_cross_border_prices_use_the_destination_rate() -> None:
    address = {**p.SHIPPING_ADDRESS, "CountryCode": "FR", "City": "Lyon"}
    items = p.items()
    # 29.90 incl. 20% French VAT: 4.98; promotion 2.00 incl. 0.33
    items[0].update(ItemTax=p.money("4.98"), PromotionDiscountTax=p.money("0.33"))
    items[0].update(ShippingTax=p.money("0.82"))
    items[1].update(ItemTax=p.money("4.16"))
    details = details_of(events_of(p.document(p.order(ShippingAddress=address), items)))
    assert details.customer.country == "FR"
    assert {line.vat_rate for line in details.lines} == {Decimal("0.2")}


def test_a_rate_no_member_state_has_is_kept_as_amazon_computed_it() -> None:
    items = p.items()
    items[1].update(ItemTax=p.money("2.00"))  # 24.95 with 2.00 VAT: 8.71% of the net
    details = details_of(events_of(p.document(p.order(), items)))
    assert details.lines[1].vat_rate == Decimal("0.0871")


# --- identity, idempotency, raw documents ---------------------------------------------------------


def test_event_ids_are_stable_across_fetches_and_change_with_last_update_date() -> None:
    first = events_of(p.document(p.order("Shipped"), p.items((2, 1))))
    again = amazon.normalise_order(
        p.document(p.order("Shipped"), p.items((2, 1))), STORE, RECEIVED + timedelta(hours=1)
    )
    assert [e.event_id for e in first] == [e.event_id for e in again]
    later = events_of(
        p.document(p.order("Shipped", LastUpdateDate="2026-11-05T00:00:00Z"), p.items((2, 1)))
    )
    assert first[0].event_id != later[0].event_id  # details are per LastUpdateDate
    # the facts themselves (payment, shipments) keep their ids whatever the snapshot
    assert [e.event_id for e in first[1:]] == [e.event_id for e in later[1:]]


def test_fees_posted_later_make_a_newer_snapshot_without_moving_the_facts() -> None:
    order = p.order("Shipped")
    before = events_of(p.document(order, p.items((2, 1))))
    after = events_of(p.document(order, p.items((2, 1)), p.FINANCIAL_EVENTS))
    old, new = details_of(before), details_of(after)
    assert old.as_of == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert new.as_of == datetime(2026, 11, 3, 10, tzinfo=UTC)  # the ShipmentEvent's PostedDate
    assert old.costs == () and new.costs
    assert before[0].event_id != after[0].event_id
    # shipments and payment are the same facts at the same times
    assert [(e.event_id, e.occurred_at) for e in before[1:]] == [
        (e.event_id, e.occurred_at) for e in after[1:]
    ]
    assert amazon.document_delivery_id(p.document(order, p.items((2, 1)))) == (
        f"{p.ORDER_ID}@2026-11-02T09:00:00Z"
    )


def test_an_item_keeps_its_shipment_id_from_partial_to_full() -> None:
    partial = events_of(p.document(p.order("PartiallyShipped"), p.items((0, 1))))
    full = events_of(
        p.document(p.order("Shipped", LastUpdateDate="2026-11-04T00:00:00Z"), p.items((2, 1)))
    )
    partial_ids = {e.event_id for e in partial if isinstance(e.payload, ShipmentSent)}
    full_ids = {e.event_id for e in full if isinstance(e.payload, ShipmentSent)}
    assert partial_ids < full_ids


def test_a_fetched_document_goes_through_the_raw_record() -> None:
    body = p.document(p.order("Shipped"), p.items((2, 1)), p.FINANCIAL_EVENTS)
    # the fees posted after the order's last change: the snapshot is as of the posting
    assert amazon.document_delivery_id(body) == f"{p.ORDER_ID}@2026-11-03T10:00:00Z"
    assert amazon.document_order_id(body) == p.ORDER_ID
    delivery = RawDelivery(
        Marketplace.AMAZON,
        STORE.id,
        amazon.document_delivery_id(body) or "",
        amazon.ORDER_DOCUMENT_TOPIC,
        RECEIVED,
        {},
        body,
    )
    events = amazon.normalise(delivery, STORE)
    assert events[0].source == f"poll:{p.ORDER_ID}@2026-11-03T10:00:00Z"
    assert [e.event_id for e in events] == [e.event_id for e in events_of(body)]
    document = orjson.loads(body)
    assert document["schema"] == "winkel.amazon-order/1"
    assert set(document) == {"schema", "Order", "OrderItems", "FinancialEvents"}
    assert amazon.document_delivery_id(b"{}") is None
    assert amazon.document_order_id(b"x") is None


# --- rate limits ----------------------------------------------------------------------------------


def test_a_429_waits_one_request_of_the_reported_rate_doubling_per_attempt() -> None:
    headers = {"x-amzn-RateLimit-Limit": "0.5", "x-amzn-RequestId": "r"}
    assert amazon.retry_after(429, headers, "getOrder") == 2.0
    assert amazon.retry_after(429, headers, "getOrder", attempt=2) == 8.0
    assert amazon.retry_after(429, headers, "getOrder", attempt=20) == amazon.MAX_BACKOFF_SECONDS


def test_a_429_without_the_header_uses_the_last_known_rate_or_the_default_plan() -> None:
    # the models document only x-amzn-RequestId on a 429
    assert amazon.retry_after(429, {"x-amzn-RequestId": "r"}, "getOrders") == pytest.approx(
        1 / 0.0167
    )
    assert amazon.retry_after(429, {}, "getOrder", known_rate=4.0) == 0.25
    assert amazon.retry_after(429, {"x-amzn-RateLimit-Limit": "junk"}, "getOrder") == 2.0
    assert amazon.retry_after(429, {"Retry-After": "7"}, "getOrders") == 7.0


def test_server_errors_back_off_and_client_errors_are_not_retried() -> None:
    assert amazon.retry_after(503, {}, "getOrder") == 2.0
    for status in (200, 400, 403, 404):
        assert amazon.retry_after(status, {}, "getOrder") is None


def test_the_token_bucket_allows_the_burst_then_spaces_calls_by_the_rate() -> None:
    now = RECEIVED
    bucket = amazon.Bucket.full(amazon.UsagePlan(0.5, 3), now)
    waits = []
    for _ in range(5):
        bucket, wait = bucket.take(now)
        waits.append(wait)
    assert waits == [0.0, 0.0, 0.0, 2.0, 4.0]
    later = now + timedelta(seconds=60)
    bucket, wait = bucket.take(later)
    assert wait == 0.0
    throttled = bucket.throttled(later)
    assert throttled.take(later)[1] == 2.0


# --- store configuration --------------------------------------------------------------------------

CONFIG = """
[[companies]]
id = "acme-nl"
name = "Acme B.V."
country = "NL"
vat_id = "NL004495445B01"

[[stores]]
id = "amazon-de"
company_id = "acme-nl"
marketplace = "amazon"
webhook_secret_env = "AMAZON_RELAY_SECRET"
amazon_marketplace_id = "A1PA6795UKMFR9"
client_id_env = "AMAZON_LWA_CLIENT_ID"
client_secret_env = "AMAZON_LWA_CLIENT_SECRET"
refresh_token_env = "AMAZON_REFRESH_TOKEN"
api_base_url = "http://127.0.0.1:9000/"
token_url = "http://127.0.0.1:9000/auth/o2/token"
amazon_issues_invoices = true
"""


def parse(text: str) -> Config:
    return parse_config(tomllib.loads(text), {})


def test_an_amazon_store_reads_its_sp_api_and_invoicing_settings() -> None:
    store = parse(CONFIG).stores["amazon-de"]
    assert store.marketplace is Marketplace.AMAZON
    assert store.amazon_marketplace_id == "A1PA6795UKMFR9"
    assert store.refresh_token_env == "AMAZON_REFRESH_TOKEN"
    assert (store.client_id_env, store.client_secret_env) == (
        "AMAZON_LWA_CLIENT_ID",
        "AMAZON_LWA_CLIENT_SECRET",
    )
    assert store.api_base_url == "http://127.0.0.1:9000"  # the fake's, trailing slash dropped
    assert store.token_url == "http://127.0.0.1:9000/auth/o2/token"
    assert store.amazon_issues_invoices is True
    assert store.fba_ship_from_country is None
    assert (
        parse(f'{CONFIG}fba_ship_from_country = "de"\n').stores["amazon-de"].fba_ship_from_country
        == "DE"
    )
    assert store.polled
    assert store.webhook_secrets({"AMAZON_RELAY_SECRET": "a,b"}) == (b"a", b"b")


def test_an_amazon_store_without_api_access_is_not_polled_and_amazon_does_not_invoice() -> None:
    minimal = CONFIG.split("amazon_marketplace_id")[0]
    store = parse(minimal).stores["amazon-de"]
    assert not store.polled
    assert store.amazon_issues_invoices is False
    assert store.refresh_token_env is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('amazon_issues_invoices = "yes"', "true or false"),
        ('amazon_marketplace_id = ""', "non-empty"),
        ("refresh_token_env = 5", "non-empty"),
        ('fba_ship_from_country = "Germany"', "two-letter country code"),
    ],
)
def test_bad_amazon_settings_are_config_errors(change: str, message: str) -> None:
    key = change.split(" =")[0]
    lines = [line for line in CONFIG.splitlines() if not line.startswith(f"{key} =")]
    with pytest.raises(ConfigError, match=message):
        parse("\n".join([*lines, change]))


def test_polling_amazon_needs_the_lwa_client_too() -> None:
    lines = [line for line in CONFIG.splitlines() if not line.startswith("client_")]
    with pytest.raises(ConfigError, match="client_id_env"):
        parse("\n".join(lines))


def test_amazon_settings_on_another_marketplace_are_refused() -> None:
    shopify = CONFIG.replace('marketplace = "amazon"', 'marketplace = "shopify"')
    shopify = "\n".join(
        line
        for line in shopify.splitlines()
        if not line.startswith(("client_", "refresh_", "amazon_marketplace"))
    )
    with pytest.raises(ConfigError, match="Amazon stores only"):
        parse(shopify)
    plain = shopify.replace("amazon_issues_invoices = true", "")
    parse(plain)  # a Shopify store as such is fine
    with pytest.raises(ConfigError, match=r"fba_ship_from_country.*Amazon stores only"):
        parse(f'{plain}\nfba_ship_from_country = "DE"\n')


def test_a_store_reads_orders_api_v2026_unless_it_says_v0() -> None:
    assert parse(CONFIG).stores["amazon-de"].orders_api_version == "2026-01-01"
    v0 = parse(f'{CONFIG}orders_api_version = "v0"\n').stores["amazon-de"]
    assert v0.orders_api_version == "v0"
    with pytest.raises(ConfigError, match="orders_api_version"):
        parse(f'{CONFIG}orders_api_version = "2021-01-01"\n')
    shopify = "\n".join(
        line
        for line in CONFIG.replace('marketplace = "amazon"', 'marketplace = "shopify"').splitlines()
        if not line.startswith(("client_", "refresh_", "amazon_"))
    )
    with pytest.raises(ConfigError, match=r"orders_api_version.*Amazon stores only"):
        parse(f'{shopify}\norders_api_version = "v0"\n')


def test_an_order_of_another_marketplace_than_the_store_s_is_refused() -> None:
    store = replace(STORE, amazon_marketplace_id=p.MARKETPLACE_DE)
    assert events_of(p.document(), store)  # amazon.de in the amazon.de store
    us_order = p.order(MarketplaceId="ATVPDKIKX0DER")
    with pytest.raises(NormalisationError, match="ATVPDKIKX0DER is not store 'amazon-de'"):
        events_of(p.document(us_order), store)
    with pytest.raises(NormalisationError, match="not a European marketplace"):
        events_of(p.document(us_order))
    french = p.order(MarketplaceId="A13V1IB3VIYZZH")
    with pytest.raises(NormalisationError, match="A13V1IB3VIYZZH is not store"):
        events_of(p.document(french), store)


def test_tax_exclusive_prices_of_an_amazon_com_store_are_not_taken_as_inclusive() -> None:
    us_store = replace(STORE, id="amazon-us", amazon_marketplace_id="ATVPDKIKX0DER")
    order = p.order(MarketplaceId="ATVPDKIKX0DER")
    items = p.items()
    inclusive = details_of(events_of(p.document(p.order(), items)))
    exclusive = details_of(events_of(p.document(order, items), us_store))
    assert inclusive.prices_include_vat is True
    assert exclusive.prices_include_vat is False
    for eu, us in zip(inclusive.lines, exclusive.lines, strict=True):
        assert us.net == eu.gross  # what the EU store reads as gross is net before sales tax
        assert us.vat == eu.vat
        assert us.gross == eu.gross + eu.vat

"""Shopify: signature verification and normalisation of documented webhook payloads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from engine.config import InvoiceGranularity, Store
from engine.exceptions import NormalisationError, SignatureError, SourceMismatch
from engine.marketplaces import shopify
from models.events import (
    DetailsReported,
    OrderCancelled,
    PaymentCaptured,
    RefundIssued,
    ShipmentSent,
)
from models.order import LineKind, Marketplace
from models.raw import RawDelivery
from tests import shopify_payloads as shop

STORE = Store("shop-order", "acme-nl", Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

# Computed with `printf '{"id":1}' | openssl dgst -sha256 -hmac hush -binary | base64`.
OPENSSL_VECTOR = "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY="


def delivery(topic: str, document: object) -> RawDelivery:
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    return RawDelivery(Marketplace.SHOPIFY, STORE.id, "d-1", topic, RECEIVED, {}, body)


class TestSignature:
    def test_sign_matches_an_independent_hmac(self) -> None:
        assert shopify.sign(b'{"id":1}', b"hush") == OPENSSL_VECTOR

    def test_verify_accepts_the_shopify_header(self) -> None:
        shopify.verify(b'{"id":1}', {shopify.SIGNATURE_HEADER: OPENSSL_VECTOR}, [b"hush"])

    def test_verify_accepts_either_secret_during_a_rotation(self) -> None:
        headers = {shopify.SIGNATURE_HEADER: OPENSSL_VECTOR}
        shopify.verify(b'{"id":1}', headers, [b"new-secret", b"hush"])

    @pytest.mark.parametrize(
        ("body", "headers", "secret"),
        [
            (b'{"id":2}', {shopify.SIGNATURE_HEADER: OPENSSL_VECTOR}, b"hush"),  # body changed
            (b'{"id":1}', {shopify.SIGNATURE_HEADER: OPENSSL_VECTOR}, b"other"),  # wrong secret
            (b'{"id":1}', {}, b"hush"),  # no signature at all
            (b'{"id":1}', {shopify.SIGNATURE_HEADER: "not-base64!"}, b"hush"),
        ],
    )
    def test_verify_refuses(self, body: bytes, headers: dict[str, str], secret: bytes) -> None:
        with pytest.raises(SignatureError):
            shopify.verify(body, headers, [secret])


class TestShopDomain:
    SHOP = replace(STORE, shop_domain="acme.myshopify.com")

    def test_the_stores_own_shop_passes_in_any_case(self) -> None:
        shopify.check_source({shopify.SHOP_DOMAIN_HEADER: "ACME.myshopify.com"}, self.SHOP)

    @pytest.mark.parametrize(
        "headers",
        [{shopify.SHOP_DOMAIN_HEADER: "someone-else.myshopify.com"}, {}],
    )
    def test_another_shop_or_none_is_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(SourceMismatch, match="is not the shop of store 'shop-order'"):
            shopify.check_source(headers, self.SHOP)

    def test_a_store_without_shop_domain_is_not_checked(self) -> None:
        shopify.check_source({shopify.SHOP_DOMAIN_HEADER: "any.myshopify.com"}, STORE)


class TestNormalise:
    def test_an_order_with_taxes_included_splits_gross_into_net_and_vat(self) -> None:
        events = shopify.normalise(delivery("orders/create", shop.order(1001)), STORE)
        (details_event,) = events
        assert isinstance(details_event.payload, DetailsReported)
        details = details_event.payload.details
        mug, lamp, shipping = details.lines
        assert (mug.quantity, mug.gross, mug.vat, mug.net) == (
            2,
            Decimal("24.20"),
            Decimal("4.20"),
            Decimal("20.00"),
        )
        assert mug.vat_rate == Decimal("0.21")
        assert (lamp.net, lamp.vat) == (Decimal("65.29"), Decimal("13.71"))
        assert shipping.kind is LineKind.SHIPPING
        assert (shipping.net, shipping.gross) == (Decimal("4.09"), Decimal("4.95"))
        assert details.customer.name == "Sanne de Vries"
        assert details.customer.country == "NL"
        assert details.as_of == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # +01:00 -> UTC

    def test_a_shipping_line_without_id_gets_a_stable_derived_id_and_the_fill_in_is_named(
        self,
    ) -> None:
        no_id = {key: value for key, value in shop.POSTNL.items() if key != "id"}
        document = shop.order(1003, shipping_lines=[no_id])
        first = shopify.normalise(delivery("orders/create", document), STORE)[0].payload
        again = shopify.normalise(delivery("orders/updated", document), STORE)[0].payload
        assert isinstance(first, DetailsReported) and isinstance(again, DetailsReported)
        shipping = first.details.lines[-1]
        assert shipping.kind is LineKind.SHIPPING
        assert shipping.line_id == "shipping:derived-0" == again.details.lines[-1].line_id
        assert (shipping.net, shipping.gross) == (Decimal("4.09"), Decimal("4.95"))
        assert first.details.defaulted == (
            "$.shipping_lines[0].id: missing, derived shipping:derived-0 from its position",
        )

    def test_a_line_without_sku_and_a_nameless_customer_are_named_as_defaulted(self) -> None:
        document = shop.order(1005, line_items=[{**shop.MUG, "sku": None}])
        for key in ("billing_address", "shipping_address", "customer", "email"):
            document.pop(key, None)
        (event,) = shopify.normalise(delivery("orders/create", document), STORE)
        assert isinstance(event.payload, DetailsReported)
        details = event.payload.details
        assert details.customer.name == "Unknown customer"
        assert details.defaulted == (
            f"$.line_items[0].sku: missing, used {details.lines[0].sku}",
            "$.customer: no company, name or email, used 'Unknown customer'",
        )

    def test_a_shipping_line_with_its_id_is_not_reported_as_defaulted(self) -> None:
        (event,) = shopify.normalise(delivery("orders/create", shop.order(1004)), STORE)
        assert isinstance(event.payload, DetailsReported)
        assert event.payload.details.defaulted == ()
        assert event.payload.details.lines[-1].line_id == "shipping:901"

    def test_an_order_with_taxes_excluded_adds_vat_on_top(self) -> None:
        document = shop.order(1002, taxes_included=False)
        (event,) = shopify.normalise(delivery("orders/create", document), STORE)
        assert isinstance(event.payload, DetailsReported)
        mug = event.payload.details.lines[0]
        assert (mug.net, mug.vat, mug.gross) == (
            Decimal("24.20"),
            Decimal("4.20"),
            Decimal("28.40"),
        )

    def test_discounts_reduce_the_line(self) -> None:
        item = dict(
            shop.MUG,
            discount_allocations=[{"amount": "2.42"}],
            tax_lines=[{"price": "3.78", "rate": 0.21}],
        )
        document = shop.order(1003, line_items=[item], shipping_lines=[])
        (event,) = shopify.normalise(delivery("orders/create", document), STORE)
        assert isinstance(event.payload, DetailsReported)
        (mug,) = event.payload.details.lines
        assert (mug.gross, mug.vat, mug.net) == (
            Decimal("21.78"),
            Decimal("3.78"),
            Decimal("18.00"),
        )

    def test_a_company_billing_address_marks_a_business_customer(self) -> None:
        document = shop.order(1004, company="Bakker Interieur B.V.", country="be")
        (event,) = shopify.normalise(delivery("orders/create", document), STORE)
        assert isinstance(event.payload, DetailsReported)
        customer = event.payload.details.customer
        assert (customer.name, customer.is_business, customer.country) == (
            "Bakker Interieur B.V.",
            True,
            "BE",
        )

    def test_a_paid_fulfilled_order_carries_payment_and_shipment(self) -> None:
        fulfillment = shop.fulfillment(1005, 1, [(10050 + 501, 2), (10050 + 502, 1)])
        document = shop.order(1005, financial_status="paid", fulfillments=[fulfillment])
        events = shopify.normalise(delivery("orders/fulfilled", document), STORE)
        kinds = [type(e.payload) for e in events]
        assert kinds == [DetailsReported, PaymentCaptured, ShipmentSent]
        shipment = events[2].payload
        assert isinstance(shipment, ShipmentSent)
        assert [(s.line_id, s.quantity) for s in shipment.shipment.lines] == [
            ("10551", 2),
            ("10552", 1),
        ]
        assert shipment.shipment.location_id == "70001"

    def test_the_same_fulfillment_from_two_topics_is_one_event(self) -> None:
        fulfillment = shop.fulfillment(1006, 1, [(10060 + 501, 2)])
        from_order = shopify.normalise(
            delivery("orders/fulfilled", shop.order(1006, fulfillments=[fulfillment])), STORE
        )
        (from_topic,) = shopify.normalise(delivery("fulfillments/create", fulfillment), STORE)
        assert from_topic.event_id == from_order[-1].event_id
        assert from_topic.ref == from_order[-1].ref

    def test_cancelled_and_failed_fulfillments(self) -> None:
        failed = dict(shop.fulfillment(1007, 1, [(10070 + 501, 2)]), status="cancelled")
        document = shop.order(1007, cancelled_at="2026-11-02T11:00:00Z", fulfillments=[failed])
        events = shopify.normalise(delivery("orders/cancelled", document), STORE)
        assert [type(e.payload) for e in events] == [DetailsReported, OrderCancelled]
        cancel = events[1].payload
        assert isinstance(cancel, OrderCancelled)
        assert cancel.cancellation.reason == "customer"
        assert cancel.cancellation.whole_order

    def test_a_refund_credits_units_and_the_shipping_refund(self) -> None:
        refund = {
            "id": 9001,
            "order_id": 1009,
            "created_at": "2026-11-05T10:00:00+01:00",
            "note": "damaged in transit",
            "refund_line_items": [
                {
                    "line_item_id": 10090 + 501,
                    "quantity": 1,
                    "subtotal": "12.10",
                    "total_tax": "2.10",
                }
            ],
            "order_adjustments": [
                {"amount": "-4.09", "tax_amount": "-0.86", "kind": "shipping_refund"},
                {"amount": "-0.01", "tax_amount": "0.00", "kind": "refund_discrepancy"},
            ],
            "transactions": [{"amount": "17.05", "kind": "refund", "status": "success"}],
        }
        (from_topic,) = shopify.normalise(delivery("refunds/create", refund), STORE)
        assert isinstance(from_topic.payload, RefundIssued)
        money_back = from_topic.payload.refund
        assert [(x.line_id, x.quantity) for x in money_back.lines] == [("10591", 1)]
        assert money_back.amount == Decimal("4.95")  # the shipping refund, tax included
        assert money_back.reason == "damaged in transit"
        in_order = shopify.normalise(
            delivery("orders/updated", shop.order(1009) | {"refunds": [refund]}), STORE
        )
        assert in_order[-1].event_id == from_topic.event_id  # one refund, whichever way it came

    def test_unknown_extra_fields_are_ignored(self) -> None:
        document = dict(shop.order(1008), brand_new_field={"x": 1}, note_attributes=[])
        assert shopify.normalise(delivery("orders/create", document), STORE)

    @pytest.mark.parametrize(
        ("topic", "body", "reason"),
        [
            ("orders/create", b"{not json", "not JSON"),
            ("orders/create", b"[1, 2]", "not a JSON object"),
            ("orders/create", orjson.dumps({**shop.order(1), "line_items": []}), "line_items"),
            ("orders/create", orjson.dumps({**shop.order(1), "updated_at": None}), "updated_at"),
            ("orders/create", orjson.dumps({**shop.order(1), "currency": None}), "currency"),
            (
                "orders/create",
                orjson.dumps({**shop.order(1), "line_items": [{**shop.MUG, "price": "abc"}]}),
                "price",
            ),
            (
                "orders/create",
                orjson.dumps({**shop.order(1), "line_items": [{**shop.MUG, "quantity": -1}]}),
                "quantity",
            ),
            ("customers/create", orjson.dumps({"id": 1}), "not handled"),
        ],
    )
    def test_what_cannot_be_understood_says_why(self, topic: str, body: bytes, reason: str) -> None:
        with pytest.raises(NormalisationError, match=reason):
            shopify.normalise(delivery(topic, body), STORE)

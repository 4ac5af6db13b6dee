"""WooCommerce: ping, signature, dedupe ids, normalisation of documented payloads, the status
mapping, refunds from `/orders/{id}/refunds`, and the pure polling helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from engine import lifecycle
from engine.config import Company, InvoiceGranularity, Store, parse_config
from engine.exceptions import NormalisationError, SignatureError, SourceMismatch
from engine.identity import order_uuid
from engine.marketplaces import woocommerce as wc
from models.events import (
    CancellationWithdrawn,
    DetailsReported,
    EventPayload,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    RefundIssued,
    ShipmentSent,
)
from models.order import LineKind, Marketplace, OrderDetails
from models.raw import RawDelivery
from models.trigger import Trigger, TriggerKind
from tests import woocommerce_payloads as woo

STORE = Store("woo-nl", "acme-nl", Marketplace.WOOCOMMERCE, InvoiceGranularity.PER_ORDER)
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

# Computed with `printf '{"id":723}' | openssl dgst -sha256 -hmac wc-secret -binary | base64`.
OPENSSL_VECTOR = "a/nyMn5LKf+qru2LAI1DQyh0nrvtQOpzOl9t/QZIfTA="
# Computed with `printf 'ck_winkel:cs_geheim' | base64`.
BASIC_TOKEN = "Y2tfd2lua2VsOmNzX2dlaGVpbQ=="


def delivery(topic: str, document: object, delivery_id: str = "d-1") -> RawDelivery:
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    return RawDelivery(Marketplace.WOOCOMMERCE, STORE.id, delivery_id, topic, RECEIVED, {}, body)


def normalise(document: object, topic: str = "order.updated", **keys: Any) -> list[OrderEvent]:
    return wc.normalise(delivery(topic, document), STORE, **keys)


def details_of(events: list[OrderEvent]) -> OrderDetails:
    payload = events[0].payload
    assert isinstance(payload, DetailsReported)
    return payload.details


def kinds(events: list[OrderEvent]) -> list[type[EventPayload]]:
    return [type(event.payload) for event in events]


class TestSource:
    SITE = replace(STORE, site_url="https://winkel-demo.example")

    @pytest.mark.parametrize(
        "source",
        [
            "https://winkel-demo.example/",
            "https://winkel-demo.example",
            "HTTPS://Winkel-Demo.example/",
        ],
    )
    def test_the_stores_own_site_passes(self, source: str) -> None:
        wc.check_source({wc.SOURCE_HEADER: source}, self.SITE)

    @pytest.mark.parametrize(
        "headers",
        [
            {wc.SOURCE_HEADER: "https://other-shop.example/"},
            {wc.SOURCE_HEADER: "http://winkel-demo.example/"},  # another scheme: another site
            {wc.SOURCE_HEADER: "https://winkel-demo.example/shop/"},  # another WordPress home
            {},
        ],
    )
    def test_another_site_or_none_is_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(SourceMismatch, match="is not the site of store 'woo-nl'"):
            wc.check_source(headers, self.SITE)

    def test_a_store_without_site_url_is_not_checked(self) -> None:
        wc.check_source({wc.SOURCE_HEADER: "https://anything.example/"}, STORE)

    def test_the_config_reads_site_url(self) -> None:
        config = parse_config(
            {
                "companies": [{"id": "acme-nl", "name": "Acme", "country": "NL"}],
                "stores": [
                    {
                        "id": "woo-nl",
                        "company_id": "acme-nl",
                        "marketplace": "woocommerce",
                        "site_url": "https://winkel-demo.example/",
                    }
                ],
            },
            {},
        )
        assert config.stores["woo-nl"].site_url == "https://winkel-demo.example"


class TestSignature:
    def test_sign_matches_an_independent_hmac(self) -> None:
        assert wc.sign(b'{"id":723}', b"wc-secret") == OPENSSL_VECTOR

    def test_verify_accepts_the_woocommerce_header(self) -> None:
        wc.verify(b'{"id":723}', {wc.SIGNATURE_HEADER: OPENSSL_VECTOR}, [b"wc-secret"])

    def test_verify_reads_headers_in_any_case(self) -> None:
        wc.verify(b'{"id":723}', {"x-wc-webhook-signature": OPENSSL_VECTOR}, [b"wc-secret"])

    def test_verify_accepts_either_secret_during_a_rotation(self) -> None:
        headers = {wc.SIGNATURE_HEADER: OPENSSL_VECTOR}
        wc.verify(b'{"id":723}', headers, [b"new-secret", b"wc-secret"])

    def test_the_signature_covers_the_bytes_as_sent_not_a_re_encoding(self) -> None:
        sent = b'{"src":"https:\\/\\/winkel.example\\/mug.jpg"}'  # PHP escapes slashes
        headers = woo.headers("order.updated", sent)
        wc.verify(sent, headers, [woo.SECRET.encode()])
        re_encoded = orjson.dumps(orjson.loads(sent))
        with pytest.raises(SignatureError):
            wc.verify(re_encoded, headers, [woo.SECRET.encode()])

    @pytest.mark.parametrize(
        ("body", "headers", "secret"),
        [
            (b'{"id":724}', {wc.SIGNATURE_HEADER: OPENSSL_VECTOR}, b"wc-secret"),  # body changed
            (b'{"id":723}', {wc.SIGNATURE_HEADER: OPENSSL_VECTOR}, b"other"),  # wrong secret
            (b'{"id":723}', {}, b"wc-secret"),  # no signature at all
            (b'{"id":723}', {wc.SIGNATURE_HEADER: ""}, b"wc-secret"),
            (b'{"id":723}', {wc.SIGNATURE_HEADER: "not-base64!"}, b"wc-secret"),
        ],
    )
    def test_verify_refuses(self, body: bytes, headers: dict[str, str], secret: bytes) -> None:
        with pytest.raises(SignatureError):
            wc.verify(body, headers, [secret])


class TestPing:
    FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "WooCommerce/9.4"}

    def test_the_ping_sent_when_a_webhook_is_saved(self) -> None:
        assert wc.is_ping(b"webhook_id=12", self.FORM)

    def test_a_ping_without_a_content_type_but_without_a_topic_either(self) -> None:
        assert wc.is_ping(b"webhook_id=12", {})

    def test_a_form_encoded_ping_even_with_a_topic_header(self) -> None:
        headers = {**self.FORM, wc.TOPIC_HEADER: "order.created"}
        assert wc.is_ping(b"webhook_id=7", headers)

    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            (b'{"webhook_id": 12}', {"Content-Type": "application/json"}),  # JSON, not a form
            (b'{"id":1,"webhook_id":12}', woo.headers("order.created", b"{}")),
            (b"webhook_id=12", woo.headers("order.created", b"webhook_id=12")),  # JSON + topic
            (b"webhook_id=", FORM),
            (b"webhook_id=abc", FORM),
            (b"webhook_id=12&status=active", FORM),
            (b"webhook_id=12\n", FORM),
            (b"", FORM),
            (woo.body(woo.order(1001)), woo.headers("order.created", woo.body(woo.order(1001)))),
        ],
    )
    def test_what_is_not_a_ping(self, body: bytes, headers: dict[str, str]) -> None:
        assert not wc.is_ping(body, headers)


class TestDeliveryId:
    def test_a_re_sent_delivery_keeps_its_id_whatever_woocommerce_calls_it(self) -> None:
        body = woo.body(woo.order(1001))
        first = wc.delivery_id(woo.headers("order.updated", body, delivery_id="aaa"), body)
        again = wc.delivery_id(woo.headers("order.updated", body, delivery_id="bbb"), body)
        assert first == again
        assert first is not None
        assert first.startswith("1001:order.updated:2026-11-02T09:00:00:")

    def test_one_woocommerce_delivery_id_for_two_orders_does_not_merge_them(self) -> None:
        # wp_hash(webhook_id . time()): the same for every delivery of a webhook in one second.
        one, two = woo.body(woo.order(1001)), woo.body(woo.order(1002))
        shared = {"delivery_id": "same-second"}
        assert wc.delivery_id(woo.headers("order.updated", one, **shared), one) != wc.delivery_id(
            woo.headers("order.updated", two, **shared), two
        )

    def test_two_saves_in_the_same_second_stay_apart(self) -> None:
        before = woo.body(woo.order(1001, status="processing"))
        after = woo.body(woo.order(1001, status="completed"))
        assert wc.delivery_id(woo.headers("order.updated", before), before) != wc.delivery_id(
            woo.headers("order.updated", after), after
        )

    def test_the_same_body_under_another_topic_is_another_delivery(self) -> None:
        body = woo.body(woo.order(1001))
        created = wc.delivery_id(woo.headers("order.created", body), body)
        updated = wc.delivery_id(woo.headers("order.updated", body), body)
        assert created != updated

    def test_no_topic_is_no_delivery(self) -> None:
        assert wc.delivery_id({"X-WC-Webhook-Delivery-ID": "abc"}, b'{"id":1}') is None

    def test_an_unreadable_body_still_gets_an_id_so_it_can_be_dead_lettered(self) -> None:
        dedupe_id = wc.delivery_id(woo.headers("order.updated", b"{oops"), b"{oops")
        assert dedupe_id is not None
        assert dedupe_id.startswith("-:order.updated:-:")


class TestExternalOrderId:
    @pytest.mark.parametrize(
        ("topic", "body", "expected"),
        [
            ("order.created", woo.body(woo.order(1001)), "1001"),
            ("order.updated", woo.body(woo.order(1001)), "1001"),
            ("order.restored", woo.body(woo.order(1001)), "1001"),
            ("order.deleted", b'{"id":1001}', "1001"),
            ("order.deleted", b'{"id":"1001"}', "1001"),
            ("action.woocommerce_payment_complete", b'{"action":"x","arg":1001}', None),
            ("order.updated", b"{oops", None),
            ("order.updated", b'{"id":true}', None),
            ("order.updated", b"[1001]", None),
        ],
    )
    def test_external_order_id(self, topic: str, body: bytes, expected: str | None) -> None:
        assert wc.external_order_id(topic, body) == expected


class TestDetails:
    def test_an_order_with_prices_including_tax(self) -> None:
        events = normalise(woo.order(1001))
        details = details_of(events)
        mug, lamp, shipping = details.lines
        assert (mug.line_id, mug.sku, mug.quantity) == ("10011", "MUG-BLUE", 2)
        assert (mug.net, mug.vat, mug.gross, mug.vat_rate) == (
            Decimal("20.00"),
            Decimal("4.20"),
            Decimal("24.20"),
            Decimal("0.21"),
        )
        assert (lamp.net, lamp.vat, lamp.gross) == (
            Decimal("65.29"),
            Decimal("13.71"),
            Decimal("79.00"),
        )
        assert lamp.description == "Desk lamp \N{EN DASH} brass"  # HTML entities decoded
        assert shipping.kind is LineKind.SHIPPING
        assert (shipping.line_id, shipping.sku, shipping.description) == (
            "shipping:9",
            "SHIPPING",
            "PostNL Standaard",
        )
        assert (shipping.net, shipping.vat, shipping.gross, shipping.quantity) == (
            Decimal("4.09"),
            Decimal("0.86"),
            Decimal("4.95"),
            1,
        )
        assert sum(line.gross for line in details.lines) == Decimal("108.15")  # the order total
        assert details.name == "#1001"
        assert details.currency == "EUR"
        assert details.placed_at == datetime(2026, 11, 2, 8, 55, tzinfo=UTC)
        assert details.as_of == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # *_gmt is UTC
        assert events[0].occurred_at == details.as_of

    def test_prices_excluding_tax_give_the_same_lines_because_total_is_always_net(self) -> None:
        including = details_of(normalise(woo.order(1001, prices_include_tax=True)))
        excluding = details_of(normalise(woo.order(1001, prices_include_tax=False)))
        assert including.lines == excluding.lines

    @pytest.mark.parametrize(
        ("prices_include_tax", "expected"),
        [
            # The customer was quoted 12.95 gross: keep it, VAT rounds, net is the rest.
            (True, (Decimal("10.70"), Decimal("2.25"), Decimal("12.95"))),
            # The customer was quoted the net: keep it, VAT rounds, gross is the sum.
            (False, (Decimal("10.71"), Decimal("2.25"), Decimal("12.96"))),
        ],
    )
    def test_prices_include_tax_decides_which_figure_anchors_the_rounding(
        self, prices_include_tax: bool, expected: tuple[Decimal, Decimal, Decimal]
    ) -> None:
        # A store rounding at subtotal level (or asked with dp=4) sends more than cents.
        tea = dict(woo.MUG, quantity=1, total="10.7050", total_tax="2.2450", taxes=[])
        document = woo.order(
            1002, prices_include_tax=prices_include_tax, line_items=[tea], shipping_lines=[]
        )
        (line,) = details_of(normalise(document)).lines
        assert (line.net, line.vat, line.gross) == expected
        assert line.net + line.vat == line.gross

    def test_fee_lines_are_charges_like_shipping(self) -> None:
        details = details_of(normalise(woo.order(1003, fee_lines=[woo.GIFT_WRAP])))
        fee = details.lines[-1]
        assert fee.kind is LineKind.SHIPPING
        assert (fee.line_id, fee.sku, fee.description) == (
            "fee:8",
            "FEE",
            "Cadeauverpakking & kaartje",
        )
        assert (fee.net, fee.vat, fee.gross, fee.vat_rate) == (
            Decimal("2.07"),
            Decimal("0.43"),
            Decimal("2.50"),
            Decimal("0.21"),
        )

    def test_a_discount_is_already_in_total(self) -> None:
        discounted = dict(woo.MUG, subtotal="20.00", subtotal_tax="4.20", total="18.00")
        discounted["total_tax"] = "3.78"
        (mug,) = details_of(
            normalise(woo.order(1004, line_items=[discounted], shipping_lines=[]))
        ).lines
        assert (mug.net, mug.vat, mug.gross) == (
            Decimal("18.00"),
            Decimal("3.78"),
            Decimal("21.78"),
        )

    def test_a_zero_rated_line_has_rate_zero(self) -> None:
        exempt = dict(woo.MUG, total_tax="0.00", taxes=[])
        (mug,) = details_of(
            normalise(woo.order(1005, line_items=[exempt], shipping_lines=[]))
        ).lines
        assert (mug.vat, mug.vat_rate) == (Decimal("0.00"), Decimal(0))

    def test_without_rate_percent_the_rate_is_derived_from_the_amounts(self) -> None:
        old_store_tax_line = {k: v for k, v in woo.BTW_21.items() if k != "rate_percent"}
        document = woo.order(1006, tax_lines=[old_store_tax_line])
        mug = details_of(normalise(document)).lines[0]
        assert mug.vat_rate == Decimal("0.2100")

    def test_a_line_without_sku_is_named_after_its_product(self) -> None:
        variation = dict(woo.LAMP, sku="")
        simple = dict(woo.MUG, sku=None)
        lines = details_of(
            normalise(woo.order(1007, line_items=[simple, variation], shipping_lines=[]))
        ).lines
        assert [line.sku for line in lines] == ["woocommerce-product-93", "woocommerce-product-23"]

    def test_unknown_extra_fields_are_ignored(self) -> None:
        document = dict(woo.order(1008), brand_new_field={"x": 1}, needs_processing=True)
        document["line_items"][0]["composite_parent"] = ""
        assert normalise(document)


class TestCustomer:
    def test_a_consumer(self) -> None:
        customer = details_of(normalise(woo.order(1001))).customer
        assert (customer.name, customer.country, customer.is_business, customer.vat_id) == (
            "Sanne de Vries",
            "NL",
            False,
            None,
        )
        assert customer.email == "sanne@example.com"

    def test_a_missing_billing_company_is_a_consumer(self) -> None:
        billing = {**woo.address(company=None), "email": "sanne@example.com"}
        customer = details_of(normalise(woo.order(1002, billing=billing))).customer
        assert not customer.is_business

    def test_a_company_with_a_vat_number_in_the_order_meta(self) -> None:
        company = "Bakker Interieur B.V."
        billing = {**woo.address(company=company), "email": "inkoop@bakker.example"}
        meta = [{"id": 5, "key": "_billing_vat_number", "value": " nl 853746333 b01 "}]
        customer = details_of(normalise(woo.order(1003, billing=billing, meta_data=meta))).customer
        assert (customer.name, customer.is_business, customer.vat_id) == (
            company,
            True,
            "NL853746333B01",
        )

    def test_a_vat_number_alone_makes_a_business(self) -> None:
        meta = [{"id": 5, "key": "vat_number", "value": "BE0477472701"}]
        customer = details_of(normalise(woo.order(1004, meta_data=meta))).customer
        assert (customer.name, customer.is_business, customer.vat_id) == (
            "Sanne de Vries",
            True,
            "BE0477472701",
        )

    def test_the_vat_number_meta_key_is_configurable(self) -> None:
        meta = [
            {"id": 5, "key": "_billing_vat_number", "value": "NL000000000B00"},
            {"id": 6, "key": "btw_nummer", "value": "NL853746333B01"},
        ]
        events = normalise(woo.order(1005, meta_data=meta), vat_id_meta_keys=("btw_nummer",))
        assert details_of(events).customer.vat_id == "NL853746333B01"

    def test_cross_border_the_destination_country_counts(self) -> None:
        document = woo.order(1006, shipping=woo.address(country="de", first="Anna", last="Schmidt"))
        assert details_of(normalise(document)).customer.country == "DE"

    def test_a_virtual_order_has_only_a_billing_address(self) -> None:
        empty_shipping = {key: "" for key in woo.address()}
        document = woo.order(1007, shipping=empty_shipping)
        assert details_of(normalise(document)).customer.country == "NL"

    def test_php_empty_objects_and_missing_addresses(self) -> None:
        document = woo.order(1008, billing=[], shipping=[])  # PHP writes an empty object as []
        customer = details_of(normalise(document)).customer
        assert (customer.name, customer.country, customer.email) == ("Unknown customer", None, None)


#: A snapshot that is not in the trash withdraws the "deleted" cancellation; one in a live
#: status withdraws the "status" cancellation too.
RESTORED = CancellationWithdrawn
REVIVED = (CancellationWithdrawn, CancellationWithdrawn)


class TestStatusMapping:
    @pytest.mark.parametrize(
        ("status", "paid", "expected"),
        [
            ("pending", None, [DetailsReported, *REVIVED]),
            ("on-hold", None, [DetailsReported, *REVIVED]),
            ("processing", "2026-11-02T08:56:00", [DetailsReported, *REVIVED, PaymentCaptured]),
            (
                "ready-for-pickup",
                "2026-11-02T08:56:00",
                [DetailsReported, *REVIVED, PaymentCaptured],
            ),
            (
                "completed",
                "2026-11-02T08:56:00",
                [DetailsReported, *REVIVED, PaymentCaptured, ShipmentSent],
            ),
            ("cancelled", None, [DetailsReported, RESTORED, OrderCancelled]),
            ("failed", None, [DetailsReported, RESTORED, OrderCancelled]),
            (
                "refunded",
                "2026-11-02T08:56:00",
                [DetailsReported, RESTORED, PaymentCaptured, RefundIssued],
            ),
            ("trash", None, [DetailsReported, OrderCancelled]),
            ("checkout-draft", None, []),
            ("auto-draft", None, []),
            ("wc-completed", None, [DetailsReported, *REVIVED, ShipmentSent]),  # a leaked status
            ("partially-shipped", None, [DetailsReported, RESTORED]),  # an extension's status
            ("awaiting-shipment", None, [DetailsReported, RESTORED]),
        ],
    )
    def test_status_to_events(
        self, status: str, paid: str | None, expected: list[type[EventPayload]]
    ) -> None:
        assert kinds(normalise(woo.order(1001, status=status, paid=paid))) == expected

    def test_an_unknown_status_still_reports_a_payment(self) -> None:
        events = normalise(woo.order(1001, status="lieferung-geplant"))
        assert kinds(events) == [DetailsReported, RESTORED, PaymentCaptured]

    def test_payment(self) -> None:
        paid = normalise(woo.order(1001, paid="2026-11-02T08:56:30"))[3]
        assert isinstance(paid.payload, PaymentCaptured)
        assert paid.payload.paid_at == datetime(2026, 11, 2, 8, 56, 30, tzinfo=UTC)
        assert paid.event_id == "woocommerce:woo-nl:1001:paid@2026-11-02T08:56:30+00:00"

    def test_completed_ships_every_unit_at_once(self) -> None:
        document = woo.order(1001, status="completed", completed="2026-11-03T14:00:00")
        shipped = normalise(document)[-1]
        assert isinstance(shipped.payload, ShipmentSent)
        shipment = shipped.payload.shipment
        assert shipment.shipment_id == "completed"
        assert shipment.shipped_at == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
        assert [(x.line_id, x.quantity) for x in shipment.lines] == [("10011", 2), ("10012", 1)]
        assert shipment.location_id is None
        assert shipped.event_id == "woocommerce:woo-nl:1001:shipment:completed"

    def test_completed_without_a_completion_date_ships_as_of_the_change(self) -> None:
        shipped = normalise(woo.order(1001, status="completed"))[-1]
        assert isinstance(shipped.payload, ShipmentSent)
        assert shipped.payload.shipment.shipped_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def test_the_fulfilment_location_comes_from_order_meta(self) -> None:
        meta = [{"id": 7, "key": "mw_warehouse", "value": "14"}]
        shipped = normalise(woo.order(1001, status="completed", meta_data=meta))[-1]
        assert isinstance(shipped.payload, ShipmentSent)
        assert shipped.payload.shipment.location_id == "14"

    def test_the_location_meta_key_is_configurable(self) -> None:
        meta = [{"id": 7, "key": "_atum_location", "value": 3}]
        events = normalise(
            woo.order(1001, status="completed", meta_data=meta),
            location_meta_keys=("_atum_location",),
        )
        assert isinstance(events[-1].payload, ShipmentSent)
        assert events[-1].payload.shipment.location_id == "3"

    def test_a_store_names_its_own_location_meta_keys(self) -> None:
        meta = [
            {"id": 7, "key": "_atum_location", "value": 3},
            {"id": 8, "key": "mw_warehouse", "value": "14"},
        ]
        document = woo.order(1001, status="completed", meta_data=meta)
        atum = replace(STORE, location_fields=("_atum_location",))
        shipped = wc.normalise(delivery("order.updated", document), atum)[-1]
        assert isinstance(shipped.payload, ShipmentSent)
        assert shipped.payload.shipment.location_id == "3"  # not the default key's "14"
        config = parse_config(
            {
                "companies": [{"id": "acme-nl", "name": "Acme", "country": "NL"}],
                "stores": [
                    {
                        "id": "woo-nl",
                        "company_id": "acme-nl",
                        "marketplace": "woocommerce",
                        "invoice_granularity": "per_order",
                        "location_fields": ["_atum_location"],
                    }
                ],
            },
            {},
        )
        assert config.stores["woo-nl"].location_fields == ("_atum_location",)

    @pytest.mark.parametrize(
        ("locations", "expected"), [(("12", "12"), "12"), (("12", "14"), None)]
    )
    def test_a_location_on_the_line_items_counts_when_they_agree(
        self, locations: tuple[str, str], expected: str | None
    ) -> None:
        items = [
            dict(template, meta_data=[{"id": 1, "key": "mw_warehouse", "value": where}])
            for template, where in zip((woo.MUG, woo.LAMP), locations, strict=True)
        ]
        shipped = normalise(woo.order(1001, status="completed", line_items=items))[-1]
        assert isinstance(shipped.payload, ShipmentSent)
        assert shipped.payload.shipment.location_id == expected

    @pytest.mark.parametrize(
        ("status", "reason"),
        [("cancelled", "cancelled in WooCommerce"), ("failed", "payment failed in WooCommerce")],
    )
    def test_cancelled_and_failed_call_the_whole_order_off(self, status: str, reason: str) -> None:
        cancelled = normalise(woo.order(1001, status=status, paid=None))[-1]
        assert isinstance(cancelled.payload, OrderCancelled)
        cancellation = cancelled.payload.cancellation
        assert cancellation.whole_order
        assert (cancellation.cancellation_id, cancellation.reason) == ("status", reason)
        assert cancellation.cancelled_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        # the time is in the id: cancelling again after a withdrawal is a new event
        assert (
            cancelled.event_id
            == "woocommerce:woo-nl:1001:cancellation:status@2026-11-02T09:00:00+00:00"
        )

    def test_refunded_without_itemised_refunds_refunds_everything(self) -> None:
        refunded = normalise(woo.order(1001, status="refunded"))[-1]
        assert isinstance(refunded.payload, RefundIssued)
        refund = refunded.payload.refund
        assert refund.refund_id == "status-refunded"
        assert [(x.line_id, x.quantity) for x in refund.lines] == [
            ("10011", 2),
            ("10012", 1),
            ("shipping:9", 1),
        ]
        assert refund.amount == Decimal("0.00")

    def test_refunded_with_itemised_refunds_leaves_them_to_the_refunds_endpoint(self) -> None:
        listed = [{"id": 726, "reason": "", "total": "-108.15"}]
        document = woo.order(
            1001, status="refunded", completed="2026-11-03T14:00:00", refunds=listed
        )
        events = normalise(document)
        assert kinds(events) == [DetailsReported, RESTORED, PaymentCaptured, ShipmentSent]
        assert wc.listed_refund_ids(woo.body(document)) == ("726",)

    def test_refunded_after_completion_keeps_the_shipment(self) -> None:
        # WooCommerce never retries: the `completed` delivery may be the one that was lost.
        document = woo.order(1001, status="refunded", completed="2026-11-03T14:00:00")
        assert kinds(normalise(document)) == [
            DetailsReported,
            RESTORED,
            PaymentCaptured,
            ShipmentSent,
            RefundIssued,
        ]


class TestTopics:
    def test_deleted_carries_only_the_id_and_calls_the_order_off(self) -> None:
        (event,) = normalise({"id": 1001}, topic="order.deleted")
        assert isinstance(event.payload, OrderCancelled)
        cancellation = event.payload.cancellation
        assert (cancellation.cancellation_id, cancellation.reason) == (
            "deleted",
            "deleted in WooCommerce",
        )
        assert cancellation.whole_order
        assert cancellation.cancelled_at == RECEIVED  # the body has no time of its own
        assert event.ref.uuid == order_uuid("woo-nl", Marketplace.WOOCOMMERCE, "1001")
        assert event.ref == normalise(woo.order(1001))[0].ref

    def test_trash_seen_by_the_poll_is_the_same_fact_as_the_deleted_webhook(self) -> None:
        (deleted,) = normalise({"id": 1001}, topic="order.deleted")
        trashed = normalise(woo.order(1001, status="trash", paid=None), topic="order.polled")[-1]
        assert isinstance(trashed.payload, OrderCancelled)
        assert isinstance(deleted.payload, OrderCancelled)
        # one fact: the lifecycle merges cancellations by their id
        assert trashed.payload.cancellation.cancellation_id == "deleted"
        assert deleted.payload.cancellation.cancellation_id == "deleted"

    def test_restored_reports_the_order_again(self) -> None:
        document = woo.order(1001, modified="2026-11-04T10:00:00")
        restored = normalise(document, topic="order.restored")
        assert kinds(restored) == [DetailsReported, *REVIVED, PaymentCaptured]
        assert details_of(restored).as_of == datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
        withdrawn = {
            e.payload.withdrawal.cancellation_id: e.payload.withdrawal
            for e in restored
            if isinstance(e.payload, CancellationWithdrawn)
        }
        assert set(withdrawn) == {"deleted", "status"}
        assert {w.withdrawn_at for w in withdrawn.values()} == {details_of(restored).as_of}

    def test_created_and_updated_with_the_same_data_are_the_same_events(self) -> None:
        document = woo.order(1001, status="completed")
        created = normalise(document, topic="order.created")
        updated = normalise(document, topic="order.updated")
        assert [e.event_id for e in created] == [e.event_id for e in updated]

    def test_a_polled_order_collapses_with_the_webhook_and_says_where_it_came_from(self) -> None:
        document = woo.order(1001, status="completed")
        webhook = normalise(document)
        polled = wc.normalise(wc.polled_delivery(STORE.id, document, RECEIVED), STORE)
        assert [e.event_id for e in polled] == [e.event_id for e in webhook]
        assert [e.payload for e in polled] == [e.payload for e in webhook]
        assert webhook[0].source == "webhook:d-1"
        assert polled[0].source.startswith("poll:1001:order.polled:2026-11-02T09:00:00:")

    @pytest.mark.parametrize(
        ("topic", "body", "reason"),
        [
            ("order.updated", b"{not json", "not JSON"),
            ("order.updated", b"[1, 2]", "not a JSON object"),
            ("order.updated", orjson.dumps({**woo.order(1), "line_items": []}), "line_items"),
            (
                "order.updated",
                orjson.dumps({**woo.order(1), "date_modified_gmt": None}),
                "modified",
            ),
            (
                "order.updated",
                orjson.dumps({**woo.order(1), "date_created_gmt": "yesterday"}),
                "ISO",
            ),
            ("order.updated", orjson.dumps({**woo.order(1), "currency": ""}), "currency"),
            ("order.updated", orjson.dumps({**woo.order(1), "id": None}), r"\$\.id"),
            ("order.updated", orjson.dumps({**woo.order(1), "billing": "Sanne"}), "billing"),
            (
                "order.updated",
                orjson.dumps({**woo.order(1), "line_items": [{**woo.MUG, "total": "abc"}]}),
                "total",
            ),
            (
                "order.updated",
                orjson.dumps({**woo.order(1), "line_items": [{**woo.MUG, "quantity": -1}]}),
                "quantity",
            ),
            (
                "order.updated",
                orjson.dumps({**woo.order(1), "line_items": [{**woo.MUG, "quantity": "2"}]}),
                "quantity",
            ),
            ("order.deleted", b"{}", r"\$\.id is missing"),
            ("product.updated", orjson.dumps({"id": 1}), "not handled"),
            ("action.woocommerce_payment_complete", orjson.dumps({"arg": 1}), "not handled"),
        ],
    )
    def test_what_cannot_be_understood_says_why(self, topic: str, body: bytes, reason: str) -> None:
        with pytest.raises(NormalisationError, match=reason):
            normalise(body, topic=topic)


class TestRefundEvents:
    def test_the_documented_refunds_response(self) -> None:
        events = wc.refund_events(
            "723", orjson.dumps(woo.DOCUMENTED_REFUNDS), STORE, received_at=RECEIVED
        )
        money_only, one_unit = (event.payload for event in events)
        assert isinstance(money_only, RefundIssued)
        assert isinstance(one_unit, RefundIssued)
        assert (money_only.refund.refund_id, money_only.refund.lines) == ("726", ())
        assert money_only.refund.amount == Decimal("10.00")
        assert money_only.refund.refunded_at == datetime(2017, 3, 21, 20, 7, 11, tzinfo=UTC)
        assert money_only.refund.reason is None
        assert [(x.line_id, x.quantity) for x in one_unit.refund.lines] == [("311", 1)]
        assert one_unit.refund.amount == Decimal("0.00")  # all of it was for the unit
        assert [e.event_id for e in events] == [
            "woocommerce:woo-nl:723:refund:726",
            "woocommerce:woo-nl:723:refund:724",
        ]
        assert events[0].ref.uuid == order_uuid("woo-nl", Marketplace.WOOCOMMERCE, "723")
        assert events[0].source == "poll:refunds"

    def test_units_and_the_shipping_refund(self) -> None:
        refund = {
            "id": 9001,
            "date_created_gmt": "2026-11-05T10:00:00",
            "amount": "17.05",
            "reason": "Beschadigd ontvangen",
            "line_items": [woo.refund_line(10011, 1, "-10.00", "-2.10")],
            "shipping_lines": [
                {
                    "id": 510,
                    "method_title": "PostNL Standaard",
                    "total": "-4.09",
                    "total_tax": "-0.86",
                    "meta_data": [{"id": 511, "key": "_refunded_item_id", "value": "9"}],
                }
            ],
        }
        (event,) = wc.refund_events("1001", [refund], STORE, received_at=RECEIVED)
        assert isinstance(event.payload, RefundIssued)
        money_back = event.payload.refund
        assert [(x.line_id, x.quantity) for x in money_back.lines] == [("10011", 1)]
        assert money_back.amount == Decimal("4.95")  # the shipping, VAT included
        assert money_back.reason == "Beschadigd ontvangen"

    def test_money_on_a_line_without_units_is_money(self) -> None:
        goodwill = woo.refund_line(10011, 0, "-4.13", "-0.87")
        refund = {"id": 9002, "date_created_gmt": "2026-11-05T10:00:00", "amount": "5.00"}
        (event,) = wc.refund_events(
            "1001", [{**refund, "line_items": [goodwill]}], STORE, received_at=RECEIVED
        )
        assert isinstance(event.payload, RefundIssued)
        assert (event.payload.refund.lines, event.payload.refund.amount) == ((), Decimal("5.00"))

    def test_the_same_refund_fetched_twice_is_one_event(self) -> None:
        body = orjson.dumps(woo.DOCUMENTED_REFUNDS)
        first = wc.refund_events("723", body, STORE, received_at=RECEIVED)
        later = wc.refund_events(
            "723", body, STORE, received_at=RECEIVED + timedelta(hours=1), source="poll:again"
        )
        assert [e.event_id for e in first] == [e.event_id for e in later]
        assert [e.payload for e in first] == [e.payload for e in later]

    def test_no_refunds(self) -> None:
        assert wc.refund_events("723", b"[]", STORE, received_at=RECEIVED) == []

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{oops", "JSON"),
            (b'{"id": 726}', "list"),
            (orjson.dumps([{"id": 1, "amount": "1.00"}]), "date_created_gmt"),
            (orjson.dumps([{"id": 1, "date_created_gmt": "2026-11-05T10:00:00"}]), "amount"),
        ],
    )
    def test_what_cannot_be_understood_says_why(self, body: bytes, reason: str) -> None:
        with pytest.raises(NormalisationError, match=reason):
            wc.refund_events("723", body, STORE, received_at=RECEIVED)

    def test_listed_refund_ids(self) -> None:
        listed = [{"id": 726, "reason": "", "total": "-10.00"}, {"id": 724, "total": "-9.00"}]
        assert wc.listed_refund_ids(woo.body(woo.order(723, refunds=listed))) == ("726", "724")
        assert wc.listed_refund_ids(woo.body(woo.order(723))) == ()
        assert wc.listed_refund_ids(b"{oops") == ()


class TestPolling:
    def test_orders_request(self) -> None:
        cursor = datetime(2026, 11, 2, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
        url, query = wc.orders_request("https://winkel-demo.example/", cursor, 2, 50)
        assert url == "https://winkel-demo.example/wp-json/wc/v3/orders"
        assert query == {
            "modified_after": "2026-11-02T09:30:15",  # UTC, whole seconds, no offset
            "dates_are_gmt": "true",
            "status": "any",
            "orderby": "modified",
            "order": "asc",
            "page": "2",
            "per_page": "50",
        }

    @pytest.mark.parametrize(
        ("moment", "page", "per_page"),
        [
            (datetime(2026, 11, 2), 1, 100),  # no time zone: which one?
            (datetime(2026, 11, 2, tzinfo=UTC), 0, 100),
            (datetime(2026, 11, 2, tzinfo=UTC), 1, 101),  # WooCommerce refuses more than 100
            (datetime(2026, 11, 2, tzinfo=UTC), 1, 0),
        ],
    )
    def test_orders_request_refuses(self, moment: datetime, page: int, per_page: int) -> None:
        with pytest.raises(ValueError):
            wc.orders_request("https://winkel-demo.example", moment, page, per_page)

    def test_refunds_request_asks_for_more_than_the_default_ten_page_by_page(self) -> None:
        assert wc.refunds_request("https://winkel-demo.example", "723") == (
            "https://winkel-demo.example/wp-json/wc/v3/orders/723/refunds",
            {"per_page": "100", "page": "1"},
        )
        assert wc.refunds_request("https://winkel-demo.example", "723", 2)[1]["page"] == "2"
        with pytest.raises(ValueError, match="page"):
            wc.refunds_request("https://winkel-demo.example", "723", 0)

    def test_refund_pages_follow_x_wp_totalpages(self) -> None:
        refunds = [{"id": n} for n in range(100)]
        first = wc.parse_refunds_page({"X-WP-TotalPages": "2"}, orjson.dumps(refunds), 1)
        assert (len(first.refunds), first.next_page) == (100, 2)
        last = wc.parse_refunds_page({"x-wp-totalpages": "2"}, b'[{"id": 100}]', 2)
        assert (last.refunds, last.next_page) == (({"id": 100},), None)
        assert wc.refund_ids([*first.refunds, *last.refunds])[-2:] == ("99", "100")

    def test_refund_pages_without_the_header_go_on_while_pages_are_full(self) -> None:
        full = orjson.dumps([{"id": n} for n in range(100)])
        assert wc.parse_refunds_page({}, full, 1).next_page == 2
        assert wc.parse_refunds_page({}, b'[{"id": 1}]', 2).next_page is None
        assert wc.parse_refunds_page({}, b"[]", 1).next_page is None

    @pytest.mark.parametrize("body", [b"<html>", b'{"code":"x"}', b"[1, 2]"])
    def test_an_unexpected_refunds_answer(self, body: bytes) -> None:
        with pytest.raises(wc.ApiResponseError):
            wc.parse_refunds_page({}, body, 1)

    def test_a_webhook_listing_refunds_asks_for_them(self) -> None:
        listed = [{"id": 7231, "reason": "", "total": "-12.10"}, {"id": 7232, "total": "-1.00"}]
        body = orjson.dumps(woo.order(723, refunds=listed))
        assert wc.refunds_to_fetch("order.updated", body) == ("723", ("7231", "7232"))
        assert wc.refunds_to_fetch("order.updated", orjson.dumps(woo.order(724))) is None
        assert wc.refunds_to_fetch("order.deleted", body) is None
        assert wc.refunds_to_fetch("order.updated", b"not json") is None

    def test_basic_auth(self) -> None:
        assert wc.basic_auth("ck_winkel", "cs_geheim") == f"Basic {BASIC_TOKEN}"

    def test_a_page_with_more_to_come(self) -> None:
        orders = [
            woo.order(1001, modified="2026-11-02T09:00:00"),
            woo.order(1002, modified="2026-11-02T09:05:00"),
        ]
        page = wc.parse_orders_page(
            {"x-wp-total": "5", "x-wp-totalpages": "3"}, orjson.dumps(orders), 1
        )
        assert [o["id"] for o in page.orders] == [1001, 1002]
        assert (page.total, page.total_pages, page.next_page) == (5, 3, 2)
        assert page.latest_modified == datetime(2026, 11, 2, 9, 5, tzinfo=UTC)

    def test_the_last_page(self) -> None:
        headers = {"X-WP-Total": "5", "X-WP-TotalPages": "3"}
        page = wc.parse_orders_page(headers, orjson.dumps([woo.order(1005)]), 3)
        assert page.next_page is None

    def test_nothing_changed(self) -> None:
        headers = {"X-WP-Total": "0", "X-WP-TotalPages": "0"}
        page = wc.parse_orders_page(headers, b"[]", 1)
        assert (page.orders, page.next_page, page.latest_modified) == ((), None, None)

    def test_without_paging_headers_it_goes_on_until_an_empty_page(self) -> None:
        assert wc.parse_orders_page({}, orjson.dumps([woo.order(1)]), 4).next_page == 5
        assert wc.parse_orders_page({}, b"[]", 5).next_page is None

    @pytest.mark.parametrize(
        ("headers", "body"),
        [
            ({}, b"<html>maintenance</html>"),
            ({}, b'{"code":"woocommerce_rest_cannot_view"}'),
            ({"X-WP-TotalPages": "many"}, b"[]"),
            ({}, orjson.dumps([{"id": 1, "date_modified_gmt": "soon"}])),
        ],
    )
    def test_an_unexpected_answer(self, headers: dict[str, str], body: bytes) -> None:
        with pytest.raises(wc.ApiResponseError):
            wc.parse_orders_page(headers, body, 1)

    def test_next_cursor_moves_by_time_and_starts_again_at_page_one(self) -> None:
        start = wc.PollCursor(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
        page = wc.OrdersPage((), 250, 3, 2, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        overlap = timedelta(minutes=5)
        assert wc.next_cursor(start, page, overlap) == (
            wc.PollCursor(datetime(2026, 11, 2, 8, 55, tzinfo=UTC), 1),
            True,
        )

    def test_next_cursor_turns_the_page_in_a_burst(self) -> None:
        start = wc.PollCursor(datetime(2026, 11, 2, 8, 58, tzinfo=UTC))
        page = wc.OrdersPage((), 250, 3, 2, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        assert wc.next_cursor(start, page, timedelta(minutes=5)) == (
            wc.PollCursor(start.modified_after, 2),
            True,
        )

    def test_next_cursor_when_caught_up(self) -> None:
        start = wc.PollCursor(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), 2)
        last = wc.OrdersPage((), 150, 2, None, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        assert wc.next_cursor(start, last, timedelta(minutes=5)) == (
            wc.PollCursor(datetime(2026, 11, 2, 8, 55, tzinfo=UTC), 1),
            False,
        )
        empty = wc.OrdersPage((), 0, 0, None, None)
        assert wc.next_cursor(start, empty) == (wc.PollCursor(start.modified_after, 1), False)

    def test_a_polled_order_dedupes_like_a_webhook(self) -> None:
        document = woo.order(1001)
        first = wc.polled_delivery(STORE.id, document, RECEIVED)
        again = wc.polled_delivery(STORE.id, document, RECEIVED + timedelta(minutes=5))
        assert first.delivery_id == again.delivery_id
        assert (first.topic, first.marketplace) == ("order.polled", Marketplace.WOOCOMMERCE)
        changed = wc.polled_delivery(STORE.id, woo.order(1001, status="completed"), RECEIVED)
        assert changed.delivery_id != first.delivery_id


class TestThroughTheLifecycle:
    """The events make sense to the engine: what is invoiced is what the customer paid."""

    COMPANY = Company("acme-nl", "Acme Webwinkel B.V.", "NL", "NL004495445B01", True)

    def run(self, events: list[OrderEvent]) -> list[Trigger]:
        state, triggers = None, []
        for event in events:
            transition = lifecycle.apply(state, event, STORE, self.COMPANY)
            state, triggers = transition.state, [*triggers, *transition.triggers]
        return triggers

    def test_completed_invoices_the_order_total_and_refunded_credits_all_of_it(self) -> None:
        completed = "2026-11-03T10:00:00"
        events = normalise(woo.order(1001, status="completed", completed=completed))
        events += normalise(
            woo.order(1001, status="refunded", completed=completed, modified="2026-11-05T10:00:00")
        )
        invoice, credit_note = self.run(events)
        assert (invoice.kind, invoice.totals.gross) == (TriggerKind.INVOICE, Decimal("108.15"))
        assert (credit_note.kind, credit_note.totals.gross) == (
            TriggerKind.CREDIT_NOTE,
            Decimal("108.15"),
        )

    def test_an_itemised_refund_credits_the_unit_and_the_shipping(self) -> None:
        events = normalise(woo.order(1001, status="completed"))
        refund = {
            "id": 9001,
            "date_created_gmt": "2026-11-05T10:00:00",
            "amount": "17.05",
            "line_items": [woo.refund_line(10011, 1, "-10.00", "-2.10")],
        }
        events += wc.refund_events("1001", [refund], STORE, received_at=RECEIVED)
        _, credit_note = self.run(events)
        assert credit_note.totals.gross == Decimal("17.05")

    def test_a_deleted_order_restored_and_completed_is_invoiced(self) -> None:
        events = normalise(woo.order(1001, status="processing"))
        events += normalise({"id": 1001}, topic="order.deleted")
        assert self.run(events) == []  # trashed: nothing to invoice
        restored = woo.order(1001, status="completed", modified="2026-11-04T10:00:00")
        (invoice,) = self.run([*events, *normalise(restored, topic="order.restored")])
        assert (invoice.kind, invoice.totals.gross) == (TriggerKind.INVOICE, Decimal("108.15"))

    def test_an_order_cancelled_for_want_of_payment_and_then_paid_is_invoiced(self) -> None:
        # WooCommerce's hold-stock timeout cancels an unpaid order; the late payment revives it.
        events = normalise(woo.order(1001, status="pending", paid=None))
        events += normalise(
            woo.order(1001, status="cancelled", paid=None, modified="2026-11-02T10:00:00")
        )
        assert self.run(events) == []
        paid = woo.order(
            1001, status="processing", paid="2026-11-02T11:00:00", modified="2026-11-02T11:00:00"
        )
        completed = woo.order(
            1001,
            status="completed",
            paid="2026-11-02T11:00:00",
            modified="2026-11-03T09:00:00",
            completed="2026-11-03T09:00:00",
        )
        (invoice,) = self.run([*events, *normalise(paid), *normalise(completed)])
        assert invoice.kind is TriggerKind.INVOICE
        # a retried, stale "cancelled" delivery afterwards changes nothing
        stale = normalise(
            woo.order(1001, status="cancelled", paid=None, modified="2026-11-02T10:00:00")
        )
        assert self.run([*events, *normalise(paid), *normalise(completed), *stale]) == [invoice]

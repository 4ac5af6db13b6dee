"""bol.com: push signatures, token cache, request builders, normalisation, rate limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import orjson
import pytest

from engine.dev.fakes.bol import SigningKey, throwaway_signing_key
from engine.domain import lifecycle
from engine.domain.config import Company, InvoiceGranularity, Store
from engine.domain.exceptions import ConfigError, NormalisationError, SignatureError
from engine.domain.marketplaces import bol
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ReturnReceived,
    ReturnRequested,
    ShipmentSent,
)
from models.order import Marketplace, OrderState, Stage
from models.raw import RawDelivery
from tests import bol_payloads as p

STORE = Store("bol-nl", "acme-nl", Marketplace.BOL, InvoiceGranularity.PER_SHIPMENT)
COMPANY = Company("acme-nl", "Acme Webwinkel B.V.", "NL", "NL004495445B01", True)
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
T = TypeVar("T")


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return throwaway_signing_key()


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.generate("1")


def order_events(document: object, source: str = "poll") -> list[OrderEvent]:
    return bol.normalise_order(p.body(document), STORE, RECEIVED, source)


def of_type(events: list[OrderEvent], kind: type[T]) -> list[T]:
    return [e.payload for e in events if isinstance(e.payload, kind)]


def details_of(events: list[OrderEvent]) -> DetailsReported:
    (details,) = of_type(events, DetailsReported)
    return details


class TestSignature:
    BODY = p.body(p.push())

    def test_a_signed_push_verifies_against_the_pem_key(self, key: SigningKey) -> None:
        bol.verify(self.BODY, key.headers(self.BODY), [key.public_pem])

    def test_bols_base64_der_key_form_verifies_too(self, key: SigningKey) -> None:
        bol.verify(self.BODY, key.headers(self.BODY), [key.public_base64])

    def test_a_base64_key_wrapped_over_lines_verifies(self, key: SigningKey) -> None:
        wrapped = "\n".join(key.public_base64[i : i + 64] for i in range(0, 400, 64))
        bol.verify(self.BODY, key.headers(self.BODY), [wrapped + "\n"])

    def test_any_configured_key_may_sign_during_a_rotation(
        self, key: SigningKey, other_key: SigningKey
    ) -> None:
        keys = {"1": other_key.public_pem, "0": key.public_pem}
        bol.verify(self.BODY, key.headers(self.BODY), keys)
        bol.verify(self.BODY, other_key.headers(self.BODY), keys)
        # a key id the configuration does not know still verifies against the known keys
        bol.verify(
            self.BODY, SigningKey(key_id="9", private_key=key.private_key).headers(self.BODY), keys
        )

    def test_header_is_read_whatever_its_quoting_spacing_and_case(self, key: SigningKey) -> None:
        signature = key.signature(self.BODY)
        for value in (
            f'keyId="0",algorithm="rsa-sha256",signature="{signature}"',
            f"signature={signature} , keyId=0, algorithm=RSA-SHA256",
        ):
            bol.verify(self.BODY, {"signature": value}, [key.public_pem])

    def test_the_header_fields_are_parsed(self, key: SigningKey) -> None:
        header = bol.parse_signature_header(key.headers(self.BODY)[bol.SIGNATURE_HEADER])
        assert header.key_id == "0"
        assert header.algorithm == "rsa-sha256"
        assert len(header.signature) == 256  # a 2048-bit RSA signature

    @pytest.mark.parametrize(
        "tamper",
        [
            "body",  # the body changed after signing
            "wrong-key",  # signed by a key that is not configured
            "missing",  # no Signature header at all
            "not-base64",
            "no-signature-field",
            "algorithm",  # an algorithm we do not accept
            "no-keys",  # the store has no key configured
        ],
    )
    def test_refused(self, tamper: str, key: SigningKey, other_key: SigningKey) -> None:
        body, headers, keys = self.BODY, dict(key.headers(self.BODY)), [key.public_pem]
        if tamper == "body":
            body = p.body(p.push(resource_id="1043965711"))
        elif tamper == "wrong-key":
            headers = other_key.headers(body)
        elif tamper == "missing":
            del headers[bol.SIGNATURE_HEADER]
        elif tamper == "not-base64":
            headers[bol.SIGNATURE_HEADER] = 'keyId=0, algorithm="rsa-sha256", signature=%%%'
        elif tamper == "no-signature-field":
            headers[bol.SIGNATURE_HEADER] = 'keyId=0, algorithm="rsa-sha256"'
        elif tamper == "algorithm":
            value = headers[bol.SIGNATURE_HEADER].replace("rsa-sha256", "hmac-sha256")
            headers[bol.SIGNATURE_HEADER] = value
        elif tamper == "no-keys":
            keys = []
        with pytest.raises(SignatureError):
            bol.verify(body, headers, keys)

    def test_an_unusable_configured_key_is_a_configuration_error(self, key: SigningKey) -> None:
        with pytest.raises(ConfigError):
            bol.verify(self.BODY, key.headers(self.BODY), ["not a key"])

    def test_keys_from_one_environment_variable(
        self, key: SigningKey, other_key: SigningKey
    ) -> None:
        assert bol.parse_public_keys(key.public_pem + other_key.public_pem) == (
            key.public_pem.strip(),
            other_key.public_pem.strip(),
        )
        assert bol.parse_public_keys(f"{key.public_base64}, {other_key.public_base64}") == (
            key.public_base64,
            other_key.public_base64,
        )

    def test_the_signature_keys_endpoint_is_read(self, key: SigningKey) -> None:
        document = {
            "signatureKeys": [
                {"id": "0", "type": "RSA", "publicKey": key.public_base64},
                {"id": "7", "type": "EC", "publicKey": "ignored"},
            ]
        }
        assert bol.parse_signature_keys(p.body(document)) == {"0": key.public_base64}


class TestNotification:
    def test_the_dedupe_key_is_resource_id_type_and_timestamp(self) -> None:
        body = p.body(p.push())
        assert (
            bol.delivery_id({}, body) == "ORDER:1043965710:ORDER_CHANGED:2026-11-02T10:00:03+01:00"
        )
        assert bol.delivery_id({}, body) == bol.delivery_id({}, p.body(p.push()))  # a redelivery
        later = p.body(p.push(timestamp="2026-11-02T10:05:00+01:00"))
        assert bol.delivery_id({}, later) != bol.delivery_id({}, body)

    def test_an_order_push_names_the_order_to_fetch(self) -> None:
        body = p.body(p.push())
        assert bol.topic(body) == "ORDER:ORDER_CHANGED"
        assert bol.external_order_id("ORDER:ORDER_CHANGED", body) == "1043965710"
        assert bol.notification_order_ids(body) == ["1043965710"]
        (fetch,) = bol.notification_fetches(body)
        assert fetch.path == "/retailer/orders/1043965710"
        assert fetch.headers["Accept"] == bol.MEDIA_TYPE

    def test_a_shipment_push_fetches_the_shipment_and_names_no_order(self) -> None:
        body = p.body(p.push("SHIPMENT", "541757635", "SHIPMENT_CREATED"))
        assert bol.notification_order_ids(body) == []
        assert bol.external_order_id("SHIPMENT:SHIPMENT_CREATED", body) is None
        assert [r.path for r in bol.notification_fetches(body)] == ["/retailer/shipments/541757635"]

    def test_process_status_pushes_fetch_nothing(self) -> None:
        body = p.body(p.push("PROCESS_STATUS", "1234", "SUCCESS"))
        assert bol.notification_fetches(body) == []

    @pytest.mark.parametrize(
        "raw",
        [b"not json", b"[]", b"{}", p.body({"timestamp": "x", "event": {"resource": "ORDER"}})],
    )
    def test_what_is_not_a_push_has_no_delivery_id(self, raw: bytes) -> None:
        assert bol.delivery_id({}, raw) is None
        assert bol.notification_fetches(raw) == []

    def test_a_push_normalises_to_nothing_it_is_only_a_signal(self) -> None:
        body = p.body(p.push())
        delivery = RawDelivery(
            Marketplace.BOL, STORE.id, "d", "ORDER:ORDER_CHANGED", RECEIVED, {}, body
        )
        assert bol.normalise(delivery, STORE) == []


class TestToken:
    def test_the_request_carries_basic_credentials_and_the_grant(self) -> None:
        url, headers, form = bol.token_request("client-1", "s3cr:et")
        assert url == "https://login.bol.com/token"
        assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == (
            b"client-1:s3cr:et"
        )
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert form == b"grant_type=client_credentials"

    def test_a_token_is_reused_for_its_lifetime_minus_the_margin(self) -> None:
        answer = {"access_token": "eyJ.a.b", "token_type": "Bearer", "expires_in": 299}
        cache = bol.TokenCache.from_response(p.body(answer), NOW)
        assert cache.expires_at == NOW + timedelta(seconds=299)
        assert cache.valid(NOW)
        assert cache.valid(NOW + timedelta(seconds=268))
        assert not cache.valid(NOW + timedelta(seconds=269))  # 30 s margin by default
        assert cache.valid(NOW + timedelta(seconds=290), margin=timedelta(seconds=5))
        assert not cache.valid(NOW + timedelta(seconds=299), margin=timedelta(0))

    def test_an_empty_token_is_never_valid(self) -> None:
        assert not bol.TokenCache("", NOW + timedelta(hours=1)).valid(NOW)

    @pytest.mark.parametrize(
        "answer",
        [
            {"token_type": "Bearer", "expires_in": 299},
            {"access_token": "x", "token_type": "mac", "expires_in": 299},
            {"access_token": "x", "token_type": "Bearer"},
        ],
    )
    def test_an_unusable_token_answer_says_why(self, answer: dict[str, object]) -> None:
        with pytest.raises(NormalisationError):
            bol.TokenCache.from_response(p.body(answer), NOW)

    def test_requests_are_authorised_with_the_cached_token(self) -> None:
        cache = bol.TokenCache("eyJ.a.b", NOW + timedelta(minutes=5))
        request = bol.authorised(bol.order_request("1043965710"), cache)
        assert request.headers == {"Accept": bol.MEDIA_TYPE, "Authorization": "Bearer eyJ.a.b"}


class TestRequests:
    def test_the_orders_poll(self) -> None:
        path, query, headers = bol.orders_request("FBB", page=2, change_interval_minute=6)
        assert path == "/retailer/orders"
        assert query == {
            "page": "2",
            "fulfilment-method": "FBB",
            "status": "ALL",
            "change-interval-minute": "6",
        }
        assert headers == {"Accept": "application/vnd.retailer.v10+json"}

    def test_the_history_form_of_the_orders_poll(self) -> None:
        request = bol.orders_request("FBR", status="OPEN", latest_change_date="2026-11-01")
        assert request.query["latest-change-date"] == "2026-11-01"
        assert "change-interval-minute" not in request.query

    @pytest.mark.parametrize(("page", "interval"), [(0, 5), (1, 0)])
    def test_nonsense_parameters_are_refused(self, page: int, interval: int) -> None:
        with pytest.raises(ValueError):
            bol.orders_request("FBR", page=page, change_interval_minute=interval)

    def test_the_change_interval_exceeds_the_poll_interval_by_a_minute(self) -> None:
        assert bol.change_interval_for(timedelta(minutes=5)) == 6
        assert bol.change_interval_for(timedelta(seconds=61)) == 3
        assert bol.change_interval_for(timedelta(seconds=20)) == 2

    def test_shipments_and_returns(self) -> None:
        assert bol.shipments_request("FBR", order_id="1043965710").query == {
            "page": "1",
            "fulfilment-method": "FBR",
            "order-id": "1043965710",
        }
        assert bol.shipment_request("541757635").path == "/retailer/shipments/541757635"
        assert bol.returns_request("FBB", handled=True).query["handled"] == "true"
        assert bol.return_request("21925").path == "/retailer/returns/21925"

    def test_a_short_page_is_the_last(self) -> None:
        assert bol.next_page(1, 50) == 2
        assert bol.next_page(2, 49) is None
        assert bol.next_page(3, 0) is None


class TestOrdersPage:
    def test_reduced_orders_become_refs_with_a_change_key(self) -> None:
        changed = p.item(
            p.MUG, quantityShipped=1, latestChangedDateTime="2026-11-02T15:00:00+01:00"
        )
        page = p.reduced_orders(p.order(items=[changed, p.LAMP]), p.order("1043965711"))
        first, second = bol.parse_orders_page(p.body(page))
        assert first.order_id == "1043965710"
        assert first.latest_changed_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
        assert first.change_key == "1043965710@2026-11-02T14:00:00+00:00"
        assert first.shipped_units == 1
        assert [i.fulfilment_status for i in first.items] == ["OPEN", "OPEN"]
        assert second.items[0].order_item_id == "6107434013"

    def test_bol_answers_an_empty_page_with_an_empty_object(self) -> None:
        assert bol.parse_orders_page(b"{}") == []

    def test_unknown_statuses_and_methods_are_kept_not_refused(self) -> None:
        page = p.reduced_orders(p.order())
        page["orders"][0]["orderItems"][0].update(
            fulfilmentStatus="PENDING", fulfilmentMethod="VVB"
        )
        (ref,) = bol.parse_orders_page(p.body(page))
        assert (ref.items[0].fulfilment_status, ref.items[0].fulfilment_method) == (
            "PENDING",
            "VVB",
        )


class TestNormaliseOrder:
    def test_prices_include_vat_and_are_split_per_line(self) -> None:
        events = order_events(p.order())
        details = details_of(events).details
        mug, lamp = details.lines
        assert (mug.line_id, mug.sku, mug.quantity) == ("6107434013", "MUG-BLUE", 2)
        assert (mug.gross, mug.vat, mug.net) == (
            Decimal("24.20"),
            Decimal("4.20"),
            Decimal("20.00"),
        )
        assert (lamp.gross, lamp.vat, lamp.net) == (
            Decimal("79.00"),
            Decimal("13.71"),
            Decimal("65.29"),
        )
        assert {line.vat_rate for line in details.lines} == {Decimal("0.21")}
        assert details.currency == "EUR"
        assert details.name == "1043965710"
        assert details.placed_at == datetime(2026, 11, 2, 8, 55, tzinfo=UTC)
        assert details.as_of == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def test_total_price_is_after_discounts_and_is_preferred(self) -> None:
        discounted = p.item(p.MUG, totalPrice=21.78, discounts=[{"title": "Actie", "amount": 2.42}])
        (mug,) = details_of(order_events(p.order(items=[discounted]))).details.lines
        assert (mug.gross, mug.vat, mug.net) == (
            Decimal("21.78"),
            Decimal("3.78"),
            Decimal("18.00"),
        )

    def test_without_total_price_the_discounts_are_taken_off_the_units(self) -> None:
        older = {k: v for k, v in p.MUG.items() if k != "totalPrice"}
        older["discounts"] = [{"title": "Actie", "amount": 2.42}]
        (mug,) = details_of(order_events(p.order(items=[older]))).details.lines
        assert mug.gross == Decimal("21.78")

    def test_a_visible_order_is_paid_when_placed(self) -> None:
        (paid,) = of_type(order_events(p.order()), PaymentCaptured)
        assert paid.paid_at == datetime(2026, 11, 2, 8, 55, tzinfo=UTC)

    def test_vat_and_kvk_numbers_mark_a_business_customer(self) -> None:
        document = p.order(billing_details=p.business_billing())
        customer = details_of(order_events(document)).details.customer
        assert customer.name == "Bakker Interieur B.V."
        assert customer.vat_id == p.DEMO_VAT_NUMBER
        assert customer.is_business
        assert customer.country == "NL"

    def test_a_kvk_number_alone_is_enough(self) -> None:
        billing = {**p.CUSTOMER_ADDRESS, "kvkNumber": "0412345678", "countryCode": "BE"}
        customer = details_of(order_events(p.order(billing_details=billing))).details.customer
        assert customer.is_business
        assert customer.vat_id is None

    def test_missing_billing_details_fall_back_to_the_recipient(self) -> None:
        customer = details_of(order_events(p.order(without_billing=True))).details.customer
        assert (customer.name, customer.country, customer.is_business) == (
            "Sanne de Vries",
            "NL",
            False,
        )
        assert customer.email == p.CUSTOMER_ADDRESS["email"]

    def test_a_pick_up_point_is_not_the_customer(self) -> None:
        belgian = {**p.CUSTOMER_ADDRESS, "countryCode": "BE", "city": "Antwerpen"}
        document = p.order(
            pickup_point=True,
            shipment_details={**p.PICKUP_POINT_ADDRESS, "company": "Primera"},
            billing_details=belgian,
        )
        customer = details_of(order_events(document)).details.customer
        assert customer.name == "Sanne de Vries"  # not "PostNL Punt ..." nor the shop's company
        assert not customer.is_business
        assert customer.country == "BE"  # the customer's country, not the pick-up point's

    def test_a_pick_up_point_without_billing_details_still_normalises(self) -> None:
        document = p.order(
            pickup_point=True, shipment_details=p.PICKUP_POINT_ADDRESS, without_billing=True
        )
        customer = details_of(order_events(document)).details.customer
        assert (customer.name, customer.country) == ("Sanne de Vries", "NL")

    def test_unknown_statuses_and_extra_fields_are_ignored(self) -> None:
        odd = p.item(
            p.MUG,
            fulfilment={**p.MUG["fulfilment"], "method": "VVB", "timeFrameType": "MIDNIGHT"},
            brandNewField={"x": 1},
            additionalServices=[{"serviceType": "PLACEMENT_AND_INSTALLATION"}],
        )
        document = {**p.order(items=[odd]), "orderStatus": "SOMETHING_NEW", "extra": [1]}
        assert details_of(order_events(document)).details.lines[0].sku == "MUG-BLUE"

    def test_an_offer_without_reference_falls_back_to_the_ean(self) -> None:
        plain = p.item(p.MUG, offer={"offerId": "x"})
        (mug,) = details_of(order_events(p.order(items=[plain]))).details.lines
        assert mug.sku == "8712345000019"

    def test_a_cancelled_item_is_cancelled_per_line(self) -> None:
        cancelled = p.item(
            p.LAMP,
            quantityCancelled=1,
            cancellationRequest=True,
            latestChangedDateTime="2026-11-02T10:30:00+01:00",
        )
        events = order_events(p.order(items=[p.MUG, cancelled]))
        (cancellation,) = of_type(events, OrderCancelled)
        assert cancellation.cancellation.lines[0].line_id == "6107434014"
        assert cancellation.cancellation.lines[0].quantity == 1
        assert cancellation.cancellation.reason == "requested by customer"
        assert not cancellation.cancellation.whole_order

    def test_a_cancellation_request_alone_changes_nothing_yet(self) -> None:
        asked = p.item(p.LAMP, cancellationRequest=True)
        events = order_events(p.order(items=[p.MUG, asked]))
        assert of_type(events, OrderCancelled) == []
        assert bol.pending_cancellation_requests(p.body(p.order(items=[p.MUG, asked]))) == [
            "6107434014"
        ]

    def test_every_item_cancelled_calls_the_order_off(self) -> None:
        items = [p.item(i, quantityCancelled=i["quantity"]) for i in (p.MUG, p.LAMP)]
        cancellations = of_type(order_events(p.order(items=items)), OrderCancelled)
        assert [c.cancellation.whole_order for c in cancellations] == [False, False, True]

    def test_a_partly_shipped_order_with_the_rest_cancelled_is_not_called_off(self) -> None:
        items = [
            p.item(p.MUG, quantityShipped=1, quantityCancelled=1),
            p.item(p.LAMP, quantityCancelled=1),
        ]
        cancellations = of_type(order_events(p.order(items=items)), OrderCancelled)
        assert [c.cancellation.whole_order for c in cancellations] == [False, False]

    def test_a_push_fetch_and_a_poll_of_one_change_are_the_same_events(self) -> None:
        polled = order_events(p.order(), source="poll")
        pushed = order_events(p.order(), source="webhook:ORDER:1043965710:x:y")
        assert [e.event_id for e in polled] == [e.event_id for e in pushed]
        assert polled[0].ref.uuid == pushed[0].ref.uuid

    def test_a_later_change_is_a_new_snapshot_but_the_same_facts(self) -> None:
        before = order_events(p.order(items=[p.MUG, p.item(p.LAMP, quantityCancelled=1)]))
        changed = p.item(
            p.MUG, quantityShipped=1, latestChangedDateTime="2026-11-02T16:00:00+01:00"
        )
        after = order_events(p.order(items=[changed, p.item(p.LAMP, quantityCancelled=1)]))
        assert before[0].event_id != after[0].event_id  # details@<new as_of>
        assert [e.event_id for e in before[1:]] == [e.event_id for e in after[1:]]
        assert before[0].event_id == "bol:bol-nl:1043965710:details@2026-11-02T09:00:00+00:00"

    @pytest.mark.parametrize(
        ("document", "reason"),
        [
            (b"{not json", "not JSON"),
            (b"[]", "not a JSON object"),
            (p.body(p.order(items=[])), "orderItems"),
            (p.body({**p.order(), "orderPlacedDateTime": None}), "orderPlacedDateTime"),
            (p.body(p.order(items=[p.item(p.MUG, totalPrice="abc")])), "totalPrice"),
            (p.body(p.order(items=[p.item(p.MUG, quantity=-1)])), "quantity"),
            (
                p.body(
                    p.order(
                        shipment_details={**p.CUSTOMER_ADDRESS, "countryCode": "DE"},
                        billing_details={**p.CUSTOMER_ADDRESS, "countryCode": "DE"},
                    )
                ),
                "no VAT rate",
            ),
        ],
    )
    def test_what_cannot_be_understood_says_why(self, document: bytes, reason: str) -> None:
        with pytest.raises(NormalisationError, match=reason):
            bol.normalise_order(document, STORE, RECEIVED)


class TestShipments:
    MUG3 = p.item(p.MUG, quantity=3, totalPrice=36.30)

    def test_one_order_item_over_two_shipments(self) -> None:
        first = p.shipment("541757635", "1043965710", [(self.MUG3, 2), (p.LAMP, 1)])
        second = p.shipment(
            "541757636", "1043965710", [(self.MUG3, 1)], at="2026-11-03T11:00:00+01:00"
        )
        (a,) = bol.parse_shipments(p.body(first), STORE, RECEIVED)
        (b,) = bol.parse_shipments(p.body(second), STORE, RECEIVED)
        assert isinstance(a.payload, ShipmentSent) and isinstance(b.payload, ShipmentSent)
        assert [(x.line_id, x.quantity) for x in a.payload.shipment.lines] == [
            ("6107434013", 2),
            ("6107434014", 1),
        ]
        assert [(x.line_id, x.quantity) for x in b.payload.shipment.lines] == [("6107434013", 1)]
        assert a.event_id == "bol:bol-nl:1043965710:shipment:541757635"
        assert b.payload.shipment.shipped_at == datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
        assert a.payload.shipment.location_id == "FBR"

    def test_partial_shipments_drive_the_lifecycle_to_two_shipment_invoices(self) -> None:
        document = p.order(items=[self.MUG3, p.LAMP])
        first = p.shipment("541757635", "1043965710", [(self.MUG3, 2), (p.LAMP, 1)])
        second = p.shipment(
            "541757636", "1043965710", [(self.MUG3, 1)], at="2026-11-03T11:00:00+01:00"
        )
        events = [
            *order_events(document),
            *bol.parse_shipments(p.body(first), STORE, RECEIVED),
            *bol.parse_shipments(p.body(second), STORE, RECEIVED),
        ]
        state: OrderState | None = None
        stages, invoices = [], 0
        for event in events:
            transition = lifecycle.apply(state, event, STORE, COMPANY)
            state = transition.state
            stages.append(state.stage)
            invoices += len(transition.triggers)
        assert stages[-2] is Stage.PARTIALLY_SHIPPED
        assert state is not None and state.stage is Stage.INVOICED
        assert invoices == 2  # a per-shipment store: one invoice per bol shipment

    def test_an_fbb_shipment_is_located_at_bol(self) -> None:
        fbb = p.shipment("541757700", "1043965710", [(p.MUG, 2)], method="FBB")
        (event,) = bol.parse_shipments(p.body(fbb), STORE, RECEIVED)
        assert isinstance(event.payload, ShipmentSent)
        assert event.payload.shipment.location_id == "FBB"

    def test_before_quantity_shipped_existed_the_quantity_is_the_shipments(self) -> None:
        older = p.shipment("541757637", "1043965710", [(p.MUG, 1)], with_quantity_shipped=False)
        (event,) = bol.parse_shipments(p.body(older), STORE, RECEIVED)
        assert isinstance(event.payload, ShipmentSent)
        assert event.payload.shipment.lines[0].quantity == 1

    def test_a_list_page_without_units_asks_for_the_detail(self) -> None:
        page = p.reduced_shipments(p.shipment("541757635", "1043965710", [(p.MUG, 2)]))
        (ref,) = bol.parse_shipments_page(p.body(page))
        assert (ref.shipment_id, ref.order_id) == ("541757635", "1043965710")
        with pytest.raises(NormalisationError, match="fetch GET /retailer/shipments/541757635"):
            bol.parse_shipments(p.body(page), STORE, RECEIVED)

    def test_a_fetched_shipment_document_normalises(self) -> None:
        document = p.body(p.shipment("541757635", "1043965710", [(p.MUG, 2)]))
        delivery = RawDelivery(
            Marketplace.BOL, STORE.id, "s", bol.SHIPMENT_DOCUMENT_TOPIC, RECEIVED, {}, document
        )
        assert bol.external_order_id(bol.SHIPMENT_DOCUMENT_TOPIC, document) == "1043965710"
        (event,) = bol.normalise(delivery, STORE)
        assert event.source == "poll:s"


class TestReturns:
    ITEMS = {"1043965710": bol.order_items(p.body(p.order()))}

    def parse(self, document: object) -> bol.ParsedReturns:
        return bol.parse_returns(p.body(document), STORE, RECEIVED, self.ITEMS)

    def test_a_registered_return_is_requested_on_the_line_with_that_ean(self) -> None:
        parsed = self.parse(p.return_("21925", "31234567", "1043965710", "8712345000019"))
        (event,) = parsed.events
        assert isinstance(event.payload, ReturnRequested)
        request = event.payload.request
        assert [(x.line_id, x.quantity) for x in request.lines] == [("6107434013", 1)]
        assert request.reason == "Product defect / Werkt niet: Oor brak eraf"
        assert event.event_id == "bol:bol-nl:1043965710:return-request:31234567"
        assert parsed.unplaced == ()

    def test_a_received_return_is_credited(self) -> None:
        document = p.return_(
            "21925",
            "31234567",
            "1043965710",
            "8712345000019",
            results=[p.processing("RETURN_RECEIVED")],
        )
        requested, received = self.parse(document).events
        assert isinstance(requested.payload, ReturnRequested)
        assert isinstance(received.payload, ReturnReceived)
        assert received.payload.received.at == datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
        assert received.payload.received.lines[0].line_id == "6107434013"

    def test_a_return_approved_anyway_is_credited(self) -> None:
        document = p.return_(
            "21925",
            "31234567",
            "1043965710",
            "8712345000019",
            results=[p.processing("STILL_APPROVED")],
        )
        assert len(of_type(list(self.parse(document).events), ReturnReceived)) == 1

    @pytest.mark.parametrize(
        "result",
        [
            p.processing("EXCHANGE_PRODUCT"),
            p.processing("RETURN_DOES_NOT_MEET_CONDITIONS"),
            p.processing("REPAIR_PRODUCT"),
            p.processing("CUSTOMER_KEEPS_PRODUCT_PAID"),
            p.processing("RETURN_RECEIVED", result="REJECTED"),
            p.processing("SOMETHING_NEW"),
        ],
    )
    def test_other_handling_results_credit_nothing(self, result: dict[str, object]) -> None:
        document = p.return_("21925", "31234567", "1043965710", "8712345000019", results=[result])
        events = list(self.parse(document).events)
        assert of_type(events, ReturnReceived) == []
        assert len(of_type(events, ReturnRequested)) == 1

    def test_a_list_page_of_returns(self) -> None:
        one = p.return_("21925", "31234567", "1043965710", "8712345000019")
        two = p.return_("21926", "31234568", "1043965710", "8712345000040")
        parsed = self.parse({"returns": [one, two]})
        assert len(parsed.events) == 2
        assert bol.return_order_ids(p.body({"returns": [one, two]})) == ["1043965710"]
        assert self.parse({}).events == ()

    def test_a_return_whose_order_is_not_known_is_left_unplaced(self) -> None:
        document = p.return_("21927", "31234569", "1043965799", "8712345000019")
        parsed = self.parse(document)
        assert parsed.events == ()
        (unplaced,) = parsed.unplaced
        assert (unplaced.order_id, unplaced.reason) == ("1043965799", "order not fetched")
        stranger = p.return_("21928", "31234570", "1043965710", "0000000000000")
        assert self.parse(stranger).unplaced[0].reason == "EAN not in the order"

    def test_a_return_envelope_on_the_raw_topic(self) -> None:
        document = p.return_(
            "21925",
            "31234567",
            "1043965710",
            "8712345000019",
            results=[p.processing("RETURN_RECEIVED")],
        )
        envelope = p.body({"return": document, "orders": [p.order()]})
        delivery = RawDelivery(
            Marketplace.BOL, STORE.id, "r", bol.RETURN_DOCUMENT_TOPIC, RECEIVED, {}, envelope
        )
        assert len(bol.normalise(delivery, STORE)) == 2
        lonely = p.body({"return": document, "orders": []})
        with pytest.raises(NormalisationError, match="31234567"):
            bol.normalise(
                RawDelivery(
                    Marketplace.BOL, STORE.id, "r", bol.RETURN_DOCUMENT_TOPIC, RECEIVED, {}, lonely
                ),
                STORE,
            )


class TestRateLimits:
    def test_the_budget_headers_are_read_whatever_their_case(self) -> None:
        limit = bol.RateLimit.from_headers(
            {"X-RateLimit-Limit": "7", "x-ratelimit-remaining": "0", "X-RATELIMIT-RESET": "42"}
        )
        assert limit == bol.RateLimit(limit=7, remaining=0, reset_seconds=42.0)
        assert limit.exhausted

    def test_missing_or_odd_headers_are_unknown(self) -> None:
        limit = bol.RateLimit.from_headers({"x-ratelimit-limit": "many"})
        assert limit == bol.RateLimit(None, None, None)
        assert not limit.exhausted

    def test_a_429_waits_for_retry_after(self) -> None:
        assert bol.retry_after(429, {"Retry-After": "17", "x-ratelimit-reset": "40"}) == 17.0

    def test_a_429_without_retry_after_waits_for_the_reset(self) -> None:
        assert bol.retry_after(429, {"x-ratelimit-reset": "40"}) == 40.0

    def test_a_429_that_says_nothing_backs_off_by_default(self) -> None:
        assert bol.retry_after(429, {}) == bol.DEFAULT_BACKOFF_SECONDS

    def test_retry_after_as_an_http_date(self) -> None:
        headers = {"Retry-After": "Mon, 02 Nov 2026 12:00:30 GMT"}
        assert bol.retry_after(429, headers, now=NOW) == 30.0

    def test_spending_the_last_of_the_budget_waits_before_the_next_call(self) -> None:
        headers = {
            "x-ratelimit-limit": "8",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "12",
        }
        assert bol.retry_after(200, headers) == 12.0

    def test_budget_left_means_go(self) -> None:
        headers = {
            "x-ratelimit-limit": "8",
            "x-ratelimit-remaining": "3",
            "x-ratelimit-reset": "12",
        }
        assert bol.retry_after(200, headers) is None
        assert bol.retry_after(200, {}) is None


def test_fetched_order_documents_are_normalised_from_the_raw_topic() -> None:
    document = p.body(p.order())
    assert bol.external_order_id(bol.ORDER_DOCUMENT_TOPIC, document) == "1043965710"
    delivery = RawDelivery(
        Marketplace.BOL, STORE.id, "o", bol.ORDER_DOCUMENT_TOPIC, RECEIVED, {}, document
    )
    assert [e.type for e in bol.normalise(delivery, STORE)] == [
        "details_reported",
        "payment_captured",
    ]
    with pytest.raises(NormalisationError, match="not handled"):
        bol.normalise(
            RawDelivery(Marketplace.BOL, STORE.id, "x", "odd", RECEIVED, {}, b"{}"), STORE
        )


def test_order_items_index_returns_by_ean() -> None:
    refs = bol.order_items(orjson.dumps(p.order()))
    assert [(r.order_item_id, r.ean, r.quantity) for r in refs] == [
        ("6107434013", "8712345000019", 2),
        ("6107434014", "8712345000040", 1),
    ]

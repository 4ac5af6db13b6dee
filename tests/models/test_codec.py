"""Kafka documents round-trip exactly, and malformed ones fail with the field's path."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from engine.identity import order_uuid
from models.codec import (
    DecodeError,
    decode_dead_letter,
    decode_event,
    decode_raw,
    decode_state,
    encode_dead_letter,
    encode_event,
    encode_raw,
    encode_state,
)
from models.events import CancellationWithdrawn, DetailsReported, OrderEvent, ShipmentSent
from models.order import (
    Cancellation,
    Customer,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentScope,
    IssuedInvoice,
    LineQuantity,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    OrderState,
    Refund,
    Return,
    Shipment,
    Stage,
    Withdrawal,
)
from models.raw import DeadLetter, RawDelivery

AT = datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=UTC)
REF = OrderRef(order_uuid("s", Marketplace.SHOPIFY, "1"), Marketplace.SHOPIFY, "s", "1")
LINE = OrderLine(
    "1", "SKU", "Mug", 2, Decimal("20.00"), Decimal("4.20"), Decimal("24.20"), Decimal("0.21")
)
DETAILS = OrderDetails(
    "#1", "EUR", Customer("Sanne", "NL", "NL123", True, "s@example.com"), (LINE,), AT, AT
)
SHIPMENT = Shipment("9", AT, (LineQuantity("1", 2),), "70001")


@pytest.mark.parametrize(
    "payload",
    [
        DetailsReported(DETAILS),
        DetailsReported(replace(DETAILS, defaulted=("$.shipping_lines[0].id: missing",))),
        ShipmentSent(SHIPMENT),
        ShipmentSent(replace(SHIPMENT, confirms=(LineQuantity("1", 1),))),
        CancellationWithdrawn(Withdrawal("status", AT, "processing in WooCommerce")),
    ],
)
def test_events_round_trip(payload: DetailsReported | ShipmentSent | CancellationWithdrawn) -> None:
    event = OrderEvent("e-1", REF, AT, AT, "webhook:d-1", payload)
    assert decode_event(encode_event(event)) == event


def test_money_is_written_as_decimal_strings_never_floats() -> None:
    document = orjson.loads(
        encode_event(OrderEvent("e", REF, AT, AT, "t", DetailsReported(DETAILS)))
    )
    line = document["payload"]["details"]["lines"][0]
    assert (line["net"], line["vat_rate"]) == ("20.00", "0.21")
    assert document["occurred_at"] == "2026-11-02T09:30:00.123456Z"


def test_state_round_trips() -> None:
    invoice = Document(
        REF.uuid,
        DocumentKind.INVOICE,
        DocumentScope.ORDER,
        "order:0",
        AT,
        (DocumentLine("1", 2, Decimal("20.00"), Decimal("4.20"), Decimal("24.20")),),
    )
    credit = Document(
        REF.uuid,
        DocumentKind.CREDIT_NOTE,
        DocumentScope.SHIPMENT,
        "return:r1",
        AT,
        (DocumentLine("1", 1, Decimal("10.00"), Decimal("2.10"), Decimal("12.10")),),
        corrects=REF.uuid,
        shipment_id="9",
    )
    state = OrderState(
        ref=REF,
        stage=Stage.RETURNED,
        stage_since=AT,
        details=DETAILS,
        paid_at=AT,
        shipments=(SHIPMENT,),
        cancellations=(Cancellation("c", AT, None, (LineQuantity("1", 1),)),),
        withdrawals=(Withdrawal("status", AT, None),),
        return_requests=(Return("r1", AT, (LineQuantity("1", 1),), "too small"),),
        returns=(Return("r1", AT, (LineQuantity("1", 1),)),),
        refunds=(Refund("f", AT, (), Decimal("4.95"), "shipping"),),
        documents=(invoice, credit),
        issued=(IssuedInvoice(REF.uuid, "2026-0001", AT),),
        last_changed_at=AT,
        applied_event_ids=("a", "b"),
    )
    assert decode_state(encode_state(state)) == state
    # a state written before withdrawals existed reads as having none
    older = orjson.loads(encode_state(state))
    del older["state"]["withdrawals"]
    assert decode_state(orjson.dumps(older)) == replace(state, withdrawals=())


def test_states_written_before_confirmations_and_defaults_read_as_having_none() -> None:
    state = OrderState(REF, Stage.SHIPPED, details=DETAILS, shipments=(SHIPMENT,))
    older = orjson.loads(encode_state(state))
    del older["state"]["details"]["defaulted"]
    del older["state"]["shipments"][0]["confirms"]
    assert decode_state(orjson.dumps(older)) == state


@pytest.mark.parametrize("body", [b'{"id": 1}', b"\xff\xfe not utf-8 \x00"])
def test_raw_deliveries_keep_their_bytes_exactly(body: bytes) -> None:
    delivery = RawDelivery(
        Marketplace.SHOPIFY,
        "s",
        "d-1",
        "orders/create",
        AT,
        {"X-Shopify-Topic": "orders/create"},
        body,
    )
    assert decode_raw(encode_raw(delivery)) == delivery


def test_dead_letters_round_trip() -> None:
    letter = DeadLetter("t:0:5", "winkel.raw.shopify", 0, 5, b"k", "body is not JSON", AT, b"\x00x")
    assert decode_dead_letter(encode_dead_letter(letter)) == letter


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("event_id"), r"\$.event_id is missing"),
        (lambda d: d.update(schema="other/1"), "expected schema"),
        (lambda d: d["payload"]["details"]["lines"][0].update(net="1,5"), r"lines\[0\].net"),
        (lambda d: d.update(occurred_at="2026-11-02T09:30:00"), "no UTC offset"),
        (lambda d: d.update(type="teleported"), "unknown event type"),
    ],
)
def test_malformed_events_name_what_is_wrong(mutate: object, message: str) -> None:
    document = orjson.loads(
        encode_event(OrderEvent("e", REF, AT, AT, "t", DetailsReported(DETAILS)))
    )
    mutate(document)  # type: ignore[operator]
    with pytest.raises(DecodeError, match=message):
        decode_event(orjson.dumps(document))

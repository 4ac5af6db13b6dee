"""JSON documents on Kafka <-> model dataclasses.

Encoding is orjson with `Decimal` as a string (money never passes through float). Decoding is
strict: a missing or mistyped field raises `DecodeError` with the field's path, which the agents
turn into a dead letter instead of a crash.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from uuid import UUID

import orjson

from models.commands import ORDER_COMMAND_SCHEMA, OperatorAction, OperatorCommand
from models.events import (
    EVENT_TYPES,
    ORDER_EVENT_SCHEMA,
    CancellationWithdrawn,
    DetailsReported,
    EventPayload,
    InvoiceIssued,
    OperatorStatusChanged,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentSent,
)
from models.exceptions import InputError
from models.order import (
    Cancellation,
    Customer,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentScope,
    IssuedInvoice,
    LineKind,
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
from models.raw import RAW_SCHEMA, DeadLetter, RawDelivery
from models.trigger import (
    ANALYTICS_SCHEMA,
    AUDIT_SCHEMA,
    DEAD_LETTER_SCHEMA,
    TRIGGER_SCHEMA,
    AuditEntry,
    OrderSummary,
    Trigger,
    VatTreatment,
)

STATE_SCHEMA = "winkel.order-state/1"

T = TypeVar("T")
Json = dict[str, Any]


class DecodeError(InputError, ValueError):
    """A document does not have the shape its schema promises."""


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(document: object) -> bytes:
    """Encode a document (dataclasses, UUIDs, UTC datetimes and Decimals allowed)."""
    return orjson.dumps(document, default=_default, option=orjson.OPT_UTC_Z)


def loads_object(data: bytes) -> Json:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DecodeError(f"expected a JSON object, got {type(document).__name__}")
    return document


class _Reader:
    """Typed access to one JSON object, naming the path of whatever is wrong."""

    def __init__(self, document: Mapping[str, Any], path: str = "$") -> None:
        self._doc = document
        self._path = path

    def _get(self, key: str) -> Any:
        try:
            return self._doc[key]
        except KeyError:
            raise DecodeError(f"{self._path}.{key} is missing") from None

    def _typed(self, key: str, kind: type[T]) -> T:
        value = self._get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DecodeError(f"{self._path}.{key} must be {kind.__name__}")
        return value

    def text(self, key: str) -> str:
        return self._typed(key, str)

    def opt_text(self, key: str) -> str | None:
        return None if self._doc.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        return self._typed(key, int)

    def flag(self, key: str) -> bool:
        return self._typed(key, bool)

    def opt_flag(self, key: str) -> bool | None:
        return None if self._doc.get(key) is None else self.flag(key)

    def decimal(self, key: str) -> Decimal:
        raw = self.text(key)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise DecodeError(f"{self._path}.{key} is not a decimal: {raw!r}") from None
        if not value.is_finite():
            raise DecodeError(f"{self._path}.{key} is not finite")
        return value

    def uuid(self, key: str) -> UUID:
        try:
            return UUID(self.text(key))
        except ValueError:
            raise DecodeError(f"{self._path}.{key} is not a UUID") from None

    def time(self, key: str) -> datetime:
        return parse_utc(self.text(key), f"{self._path}.{key}")

    def opt_time(self, key: str) -> datetime | None:
        return None if self._doc.get(key) is None else self.time(key)

    def mapping(self, key: str) -> dict[str, Any]:
        return self._typed(key, dict)

    def obj(self, key: str) -> _Reader:
        return _Reader(self._typed(key, dict), f"{self._path}.{key}")

    def opt_obj(self, key: str) -> _Reader | None:
        return None if self._doc.get(key) is None else self.obj(key)

    def objs(self, key: str) -> list[_Reader]:
        items = self._typed(key, list)
        readers = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise DecodeError(f"{self._path}.{key}[{index}] must be an object")
            readers.append(_Reader(item, f"{self._path}.{key}[{index}]"))
        return readers

    def opt_objs(self, key: str) -> list[_Reader]:
        return [] if self._doc.get(key) is None else self.objs(key)

    def opt_texts(self, key: str) -> list[str]:
        return [] if self._doc.get(key) is None else self.texts(key)

    def texts(self, key: str) -> list[str]:
        items = self._typed(key, list)
        if not all(isinstance(item, str) for item in items):
            raise DecodeError(f"{self._path}.{key} must hold strings")
        return items

    def amount_pairs(self, key: str) -> list[tuple[str, Decimal]]:
        """`[[name, "1.23"], ...]`, or nothing where the key is absent."""
        if self._doc.get(key) is None:
            return []
        pairs = []
        for index, pair in enumerate(self._typed(key, list)):
            where = f"{self._path}.{key}[{index}]"
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise DecodeError(f"{where} must be [name, amount]")
            pairs.append((pair[0], _Reader({"amount": pair[1]}, where).decimal("amount")))
        return pairs

    def enum(self, key: str, kind: Callable[[str], T]) -> T:
        raw = self.text(key)
        try:
            return kind(raw)
        except ValueError:
            raise DecodeError(f"{self._path}.{key} has unknown value {raw!r}") from None

    def expect_schema(self, schema: str) -> None:
        found = self._doc.get("schema")
        if found != schema:
            raise DecodeError(f"expected schema {schema!r}, found {found!r}")


def parse_utc(raw: str, where: str = "time") -> datetime:
    """Parse an ISO-8601 time that carries an offset, returned in UTC."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise DecodeError(f"{where} is not an ISO-8601 time: {raw!r}") from None
    if value.tzinfo is None:
        raise DecodeError(f"{where} has no UTC offset: {raw!r}")
    return value.astimezone(UTC)


# --- order parts ---------------------------------------------------------------------------


def _ref(r: _Reader) -> OrderRef:
    return OrderRef(
        uuid=r.uuid("uuid"),
        marketplace=r.enum("marketplace", Marketplace),
        store_id=r.text("store_id"),
        external_order_id=r.text("external_order_id"),
    )


def _customer(r: _Reader) -> Customer:
    return Customer(
        name=r.text("name"),
        country=r.opt_text("country"),
        vat_id=r.opt_text("vat_id"),
        is_business=r.flag("is_business"),
        email=r.opt_text("email"),
    )


def _line(r: _Reader) -> OrderLine:
    return OrderLine(
        line_id=r.text("line_id"),
        sku=r.text("sku"),
        description=r.text("description"),
        quantity=r.integer("quantity"),
        net=r.decimal("net"),
        vat=r.decimal("vat"),
        gross=r.decimal("gross"),
        vat_rate=r.decimal("vat_rate"),
        kind=r.enum("kind", LineKind),
    )


def _quantities(r: _Reader, key: str) -> tuple[LineQuantity, ...]:
    return tuple(
        LineQuantity(line_id=item.text("line_id"), quantity=item.integer("quantity"))
        for item in r.objs(key)
    )


def _shipment(r: _Reader) -> Shipment:
    return Shipment(
        shipment_id=r.text("shipment_id"),
        shipped_at=r.time("shipped_at"),
        lines=_quantities(r, "lines"),
        location_id=r.opt_text("location_id"),
        # absent from documents written before operator shipments were reconciled
        confirms=tuple(
            LineQuantity(line_id=item.text("line_id"), quantity=item.integer("quantity"))
            for item in r.opt_objs("confirms")
        ),
        # absent from documents written before tracking and per-shipment origins were kept
        carrier=r.opt_text("carrier"),
        tracking_numbers=tuple(r.opt_texts("tracking_numbers")),
        ship_from_country=r.opt_text("ship_from_country"),
    )


def _withdrawal(r: _Reader) -> Withdrawal:
    return Withdrawal(r.text("cancellation_id"), r.time("withdrawn_at"), r.opt_text("reason"))


def _cancellation(r: _Reader) -> Cancellation:
    return Cancellation(
        cancellation_id=r.text("cancellation_id"),
        cancelled_at=r.time("cancelled_at"),
        reason=r.opt_text("reason"),
        lines=_quantities(r, "lines"),
    )


def _return(r: _Reader) -> Return:
    return Return(
        return_id=r.text("return_id"),
        at=r.time("at"),
        lines=_quantities(r, "lines"),
        reason=r.opt_text("reason"),
    )


def _refund(r: _Reader) -> Refund:
    return Refund(
        refund_id=r.text("refund_id"),
        refunded_at=r.time("refunded_at"),
        lines=_quantities(r, "lines"),
        amount=r.decimal("amount"),
        reason=r.opt_text("reason"),
    )


def _issued(r: _Reader) -> IssuedInvoice:
    return IssuedInvoice(
        trigger_id=r.uuid("trigger_id"),
        invoice_number=r.text("invoice_number"),
        invoice_date=r.time("invoice_date"),
    )


def _document(r: _Reader) -> Document:
    corrects = r.opt_text("corrects")
    return Document(
        trigger_id=r.uuid("trigger_id"),
        kind=r.enum("kind", DocumentKind),
        scope=r.enum("scope", DocumentScope),
        cause=r.text("cause"),
        created_at=r.time("created_at"),
        lines=tuple(
            DocumentLine(
                line_id=item.text("line_id"),
                quantity=item.integer("quantity"),
                net=item.decimal("net"),
                vat=item.decimal("vat"),
                gross=item.decimal("gross"),
            )
            for item in r.objs("lines")
        ),
        corrects=None if corrects is None else r.uuid("corrects"),
        shipment_id=r.opt_text("shipment_id"),
        company_id=r.opt_text("company_id"),
        ship_from_country=r.opt_text("ship_from_country"),  # absent before origins per shipment
    )


def _details(r: _Reader) -> OrderDetails:
    return OrderDetails(
        name=r.text("name"),
        currency=r.text("currency"),
        customer=_customer(r.obj("customer")),
        lines=tuple(_line(item) for item in r.objs("lines")),
        placed_at=r.time("placed_at"),
        as_of=r.time("as_of"),
        invoiced_by_marketplace=r.opt_text("invoiced_by_marketplace"),
        ship_from_country=r.opt_text("ship_from_country"),
        costs=_costs(r),
        prices_include_vat=r.opt_flag("prices_include_vat"),
        # absent from documents written before defaulted fields were recorded
        defaulted=tuple(r.opt_texts("defaulted")),
    )


def _costs(r: _Reader) -> tuple[tuple[str, Decimal], ...]:
    """`[[type, amount], ...]`; absent in documents written before costs were known."""
    return tuple(r.amount_pairs("costs"))


# --- order events --------------------------------------------------------------------------


def encode_event(event: OrderEvent) -> bytes:
    return dumps(
        {
            "schema": ORDER_EVENT_SCHEMA,
            "type": event.type,
            "event_id": event.event_id,
            "ref": event.ref,
            "occurred_at": event.occurred_at,
            "received_at": event.received_at,
            "source": event.source,
            "payload": event.payload,
        }
    )


_PAYLOAD_DECODERS: dict[str, Callable[[_Reader], EventPayload]] = {
    EVENT_TYPES[DetailsReported]: lambda r: DetailsReported(_details(r.obj("details"))),
    EVENT_TYPES[PaymentCaptured]: lambda r: PaymentCaptured(r.time("paid_at")),
    EVENT_TYPES[ShipmentSent]: lambda r: ShipmentSent(_shipment(r.obj("shipment"))),
    EVENT_TYPES[OrderCancelled]: lambda r: OrderCancelled(_cancellation(r.obj("cancellation"))),
    EVENT_TYPES[CancellationWithdrawn]: lambda r: CancellationWithdrawn(
        _withdrawal(r.obj("withdrawal"))
    ),
    EVENT_TYPES[ReturnRequested]: lambda r: ReturnRequested(_return(r.obj("request"))),
    EVENT_TYPES[ReturnReceived]: lambda r: ReturnReceived(_return(r.obj("received"))),
    EVENT_TYPES[RefundIssued]: lambda r: RefundIssued(_refund(r.obj("refund"))),
    EVENT_TYPES[InvoiceIssued]: lambda r: InvoiceIssued(_issued(r.obj("issued"))),
    EVENT_TYPES[OperatorStatusChanged]: lambda r: OperatorStatusChanged(
        command_id=r.text("command_id"),
        operator_id=r.text("operator_id"),
        action=r.enum("action", OperatorAction),
        reason=r.text("reason"),
    ),
}


def decode_event(data: bytes) -> OrderEvent:
    r = _Reader(loads_object(data))
    r.expect_schema(ORDER_EVENT_SCHEMA)
    decode_payload = _PAYLOAD_DECODERS.get(r.text("type"))
    if decode_payload is None:
        raise DecodeError(f"unknown event type {r.text('type')!r}")
    return OrderEvent(
        event_id=r.text("event_id"),
        ref=_ref(r.obj("ref")),
        occurred_at=r.time("occurred_at"),
        received_at=r.time("received_at"),
        source=r.text("source"),
        payload=decode_payload(r.obj("payload")),
    )


# --- order state (the table value) ---------------------------------------------------------


def encode_state(state: OrderState) -> bytes:
    return dumps({"schema": STATE_SCHEMA, "state": state})


def decode_state(data: bytes) -> OrderState:
    top = _Reader(loads_object(data))
    top.expect_schema(STATE_SCHEMA)
    r = top.obj("state")
    details = r.opt_obj("details")
    return OrderState(
        ref=_ref(r.obj("ref")),
        stage=r.enum("stage", Stage),
        stage_since=r.opt_time("stage_since"),
        details=None if details is None else _details(details),
        paid_at=r.opt_time("paid_at"),
        shipments=tuple(_shipment(item) for item in r.objs("shipments")),
        cancellations=tuple(_cancellation(item) for item in r.objs("cancellations")),
        # absent from states written before withdrawals existed
        withdrawals=tuple(_withdrawal(item) for item in r.opt_objs("withdrawals")),
        return_requests=tuple(_return(item) for item in r.objs("return_requests")),
        returns=tuple(_return(item) for item in r.objs("returns")),
        refunds=tuple(_refund(item) for item in r.objs("refunds")),
        documents=tuple(_document(item) for item in r.objs("documents")),
        issued=tuple(_issued(item) for item in r.objs("issued")),
        last_changed_at=r.opt_time("last_changed_at"),
        applied_event_ids=tuple(r.texts("applied_event_ids")),
    )


# --- outbound documents --------------------------------------------------------------------


def _top_level(document: object) -> Json:
    """A dataclass's own fields as a dict; nested dataclasses are left to orjson."""
    return {f.name: getattr(document, f.name) for f in fields(document)}  # type: ignore[arg-type]


def treatment_document(treatment: VatTreatment) -> Json:
    """The trigger's `vat`; `vies` only where VIES was asked, so other triggers keep their
    bytes."""
    document = _top_level(treatment)
    if document["vies"] is None:
        del document["vies"]
    return document


def encode_trigger(trigger: Trigger) -> bytes:
    costs = [{"type": name, "amount": amount} for name, amount in trigger.costs]
    document = {"schema": TRIGGER_SCHEMA, **_top_level(trigger), "costs": costs}
    document["vat"] = treatment_document(trigger.vat)
    return dumps(document)


def encode_audit(entry: AuditEntry) -> bytes:
    return dumps({"schema": AUDIT_SCHEMA, **_top_level(entry)})


def encode_summary(summary: OrderSummary) -> bytes:
    return dumps({"schema": ANALYTICS_SCHEMA, "type": "order.summary", "order": summary})


# --- bytes inside JSON ---------------------------------------------------------------------


def _pack_bytes(data: bytes) -> dict[str, str]:
    """Bytes as readable text where they are UTF-8, base64 otherwise; lossless either way."""
    try:
        return {"encoding": "utf-8", "data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "data": base64.b64encode(data).decode("ascii")}


def _unpack_bytes(r: _Reader) -> bytes:
    encoding = r.text("encoding")
    if encoding == "utf-8":
        return r.text("data").encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(r.text("data"), validate=True)
        except ValueError:
            raise DecodeError("invalid base64 data") from None
    raise DecodeError(f"unknown byte encoding {encoding!r}")


# --- raw deliveries and dead letters -------------------------------------------------------


def encode_raw(delivery: RawDelivery) -> bytes:
    return dumps(
        {
            "schema": RAW_SCHEMA,
            "marketplace": delivery.marketplace,
            "store_id": delivery.store_id,
            "delivery_id": delivery.delivery_id,
            "topic": delivery.topic,
            "received_at": delivery.received_at,
            "headers": dict(delivery.headers),
            "body": _pack_bytes(delivery.body),
        }
    )


def decode_raw(data: bytes) -> RawDelivery:
    r = _Reader(loads_object(data))
    r.expect_schema(RAW_SCHEMA)
    headers = r.mapping("headers")
    if not all(isinstance(v, str) for v in headers.values()):
        raise DecodeError("$.headers must map names to strings")
    return RawDelivery(
        marketplace=r.enum("marketplace", Marketplace),
        store_id=r.text("store_id"),
        delivery_id=r.text("delivery_id"),
        topic=r.text("topic"),
        received_at=r.time("received_at"),
        headers=headers,
        body=_unpack_bytes(r.obj("body")),
    )


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return dumps(
        {
            "schema": DEAD_LETTER_SCHEMA,
            "dead_letter_id": letter.dead_letter_id,
            "source_topic": letter.source_topic,
            "partition": letter.partition,
            "offset": letter.offset,
            "key": None if letter.key is None else _pack_bytes(letter.key),
            "reason": letter.reason,
            "failed_at": letter.failed_at,
            "original": _pack_bytes(letter.original),
        }
    )


def decode_dead_letter(data: bytes) -> DeadLetter:
    r = _Reader(loads_object(data))
    r.expect_schema(DEAD_LETTER_SCHEMA)
    key = r.opt_obj("key")
    return DeadLetter(
        dead_letter_id=r.text("dead_letter_id"),
        source_topic=r.text("source_topic"),
        partition=r.integer("partition"),
        offset=r.integer("offset"),
        key=None if key is None else _unpack_bytes(key),
        reason=r.text("reason"),
        failed_at=r.time("failed_at"),
        original=_unpack_bytes(r.obj("original")),
    )


# --- invoice service answers ----------------------------------------------------------------

INVOICE_ISSUED_SCHEMA = "winkel.invoice-issued/1"


def encode_invoice_issued(order: UUID, issued: IssuedInvoice) -> bytes:
    return dumps({"schema": INVOICE_ISSUED_SCHEMA, "order_uuid": order, **_top_level(issued)})


def decode_invoice_issued(data: bytes) -> tuple[UUID, IssuedInvoice]:
    r = _Reader(loads_object(data))
    r.expect_schema(INVOICE_ISSUED_SCHEMA)
    return r.uuid("order_uuid"), _issued(r)


# --- operator commands ---------------------------------------------------------------------


def encode_command(command: OperatorCommand) -> bytes:
    return dumps({"schema": ORDER_COMMAND_SCHEMA, **_top_level(command)})


def decode_command(data: bytes) -> OperatorCommand:
    r = _Reader(loads_object(data))
    r.expect_schema(ORDER_COMMAND_SCHEMA)
    reason = r.text("reason").strip()
    if not reason:
        raise DecodeError("$.reason must not be empty")
    return OperatorCommand(
        command_id=r.text("command_id"),
        order_uuid=r.uuid("order_uuid"),
        operator_id=r.text("operator_id"),
        action=r.enum("action", OperatorAction),
        reason=reason,
        issued_at=r.time("issued_at"),
    )

"""The documents of agent `vat`'s two changelog tables and of its threshold analytics.

`vat-decisions` holds one `InvoiceRecord` per invoice trigger id, `vat-thresholds` one
`ThresholdState` per `company:year` (engine/domain/vat.py decides both; agents/vat.py keeps them).
A record keeps the emitted trigger as the text `models.codec.encode_trigger` wrote, so a replay
sends the same bytes again.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.domain.tax import OSS_THRESHOLD_EUR, ThresholdReached, ThresholdState
from engine.domain.vat import Counted, CreditEntry, InvoiceRecord, RecordLine
from models.codec import (
    DecodeError,
    Reader,
    decode_treatment,
    decode_trigger,
    dumps,
    encode_trigger,
    loads_object,
)
from models.trigger import ANALYTICS_SCHEMA, Trigger

RECORD_SCHEMA = "winkel.vat-record/1"
THRESHOLD_SCHEMA = "winkel.vat-threshold/1"


def encode_threshold(state: ThresholdState) -> bytes:
    return dumps({"schema": THRESHOLD_SCHEMA, "state": state})


def _threshold_of(r: Reader) -> ThresholdState:
    return ThresholdState(
        company_id=r.text("company_id"),
        year=r.integer("year"),
        total_eur=r.decimal("total_eur"),
        reached_80=r.flag("reached_80"),
        reached_100=r.flag("reached_100"),
        exceeded_this_year=r.flag("exceeded_this_year"),
        exceeded_previous_year=r.flag("exceeded_previous_year"),
        sales_counted=r.integer("sales_counted"),
        recent=tuple(r.texts("recent")),
    )


def decode_threshold(data: bytes) -> ThresholdState:
    r = Reader(loads_object(data))
    r.expect_schema(THRESHOLD_SCHEMA)
    return _threshold_of(r.obj("state"))


def _trigger_text(trigger: Trigger | None) -> str | None:
    return None if trigger is None else encode_trigger(trigger).decode("utf-8")


def _counted_doc(counted: Counted | None) -> dict[str, Any] | None:
    if counted is None:
        return None
    return {
        "key": counted.key,
        "amount_eur": counted.amount_eur,
        "sequence": counted.sequence,
        "after": counted.after,
    }


def encode_record(record: InvoiceRecord) -> bytes:
    return dumps(
        {
            "schema": RECORD_SCHEMA,
            "trigger_id": record.trigger_id,
            "company_id": record.company_id,
            "currency": record.currency,
            "treatment": record.treatment,
            "prices_include_vat": record.prices_include_vat,
            "tax_point": record.tax_point,
            "lines": record.lines,
            "trigger": _trigger_text(record.trigger),
            "counted": _counted_doc(record.counted),
            "credits": {
                credit_id: {
                    "trigger": _trigger_text(entry.trigger),
                    "counted": _counted_doc(entry.counted),
                }
                for credit_id, entry in sorted(record.credits.items())
            },
        }
    )


def _counted_of(r: Reader | None) -> Counted | None:
    if r is None:
        return None
    return Counted(
        key=r.text("key"),
        amount_eur=r.decimal("amount_eur"),
        sequence=r.integer("sequence"),
        after=_threshold_of(r.obj("after")),
    )


def _trigger_of(r: Reader, key: str) -> Trigger | None:
    text = r.opt_text(key)
    if text is None:
        return None
    try:
        return decode_trigger(text.encode("utf-8"))
    except DecodeError as exc:
        raise DecodeError(f"{key}: {exc}") from exc


def decode_record(data: bytes) -> InvoiceRecord:
    r = Reader(loads_object(data))
    r.expect_schema(RECORD_SCHEMA)
    credits = r.mapping("credits")
    return InvoiceRecord(
        trigger_id=r.uuid("trigger_id"),
        company_id=r.text("company_id"),
        currency=r.text("currency"),
        treatment=decode_treatment(r.obj("treatment")),
        prices_include_vat=r.flag("prices_include_vat"),
        tax_point=r.day("tax_point"),
        lines=tuple(
            RecordLine(
                line_id=item.text("line_id"),
                quantity=item.integer("quantity"),
                rate=item.decimal("rate"),
                home_rate=item.decimal("home_rate"),
                net=item.decimal("net"),
                vat=item.decimal("vat"),
                gross=item.decimal("gross"),
                credited_units=item.integer("credited_units"),
                credited_net=item.decimal("credited_net"),
                credited_vat=item.decimal("credited_vat"),
            )
            for item in r.objs("lines")
        ),
        trigger=_trigger_of(r, "trigger"),
        counted=_counted_of(r.opt_obj("counted")),
        credits={
            credit_id: _credit_entry(Reader(entry, f"$.credits.{credit_id}"))
            for credit_id, entry in sorted(credits.items())
            if isinstance(entry, dict)
        },
    )


def _credit_entry(r: Reader) -> CreditEntry:
    return CreditEntry(trigger=_trigger_of(r, "trigger"), counted=_counted_of(r.opt_obj("counted")))


def threshold_event(state: ThresholdState) -> bytes:
    """`vat.threshold` analytics: a company's running total for a year (the dashboard gauge)."""
    return dumps(
        {
            "schema": ANALYTICS_SCHEMA,
            "type": "vat.threshold",
            "company_id": state.company_id,
            "year": state.year,
            "total_eur": state.total_eur,
            "threshold_eur": OSS_THRESHOLD_EUR,
            "reached_80": state.reached_80,
            "reached_100": state.reached_100,
            "destination_vat": state.destination_vat_required,
            "sales_counted": state.sales_counted,
        }
    )


def reached_event(event: ThresholdReached, trigger_id: UUID) -> bytes:
    """`vat.threshold_reached` analytics: a company reached 80% or 100% of the threshold."""
    return dumps(
        {
            "schema": ANALYTICS_SCHEMA,
            "type": "vat.threshold_reached",
            "company_id": event.company_id,
            "year": event.year,
            "level": event.level.value,
            "total_eur": event.total_eur,
            "threshold_eur": OSS_THRESHOLD_EUR,
            "trigger_id": trigger_id,
        }
    )

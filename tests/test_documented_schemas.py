"""What the engine writes matches the JSON Schemas downstream teams read in docs/schemas/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from engine.domain import lifecycle
from engine.domain.config import Company, InvoiceGranularity, Store
from engine.domain.identity import order_uuid
from models.codec import encode_audit, encode_trigger
from models.events import DetailsReported, InvoiceIssued, OrderEvent, RefundIssued, ShipmentSent
from models.order import (
    Customer,
    IssuedInvoice,
    LineQuantity,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    Refund,
    Shipment,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REF = OrderRef(order_uuid("s", Marketplace.SHOPIFY, "9"), Marketplace.SHOPIFY, "s", "9")


def validator(name: str) -> Draft202012Validator:
    schema = orjson.loads((SCHEMAS / name).read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def documents() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Triggers and audit entries of an order invoiced, numbered and partly refunded."""
    line = OrderLine(
        "a", "SKU", "Mug", 3, Decimal("30.00"), Decimal("6.30"), Decimal("36.30"), Decimal("0.21")
    )
    details = OrderDetails("#9", "EUR", Customer("Sanne", "NL"), (line,), T0, T0)
    store = Store("s", "c", Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
    company = Company("c", "Acme", "NL", None, oss_registered=False)
    events = [
        OrderEvent("d", REF, T0, T0, "t", DetailsReported(details)),
        OrderEvent(
            "s",
            REF,
            T0,
            T0,
            "t",
            ShipmentSent(Shipment("1", T0 + timedelta(hours=1), (LineQuantity("a", 3),))),
        ),
    ]
    state = None
    triggers, audit = [], []
    for event in events:
        result = lifecycle.apply(state, event, store, company)
        state = result.state
        triggers += result.triggers
        audit += result.audit
    assert state is not None
    issued = IssuedInvoice(triggers[0].trigger_id, "INV-1", T0 + timedelta(days=1))
    for event in [
        OrderEvent("i", REF, T0, T0, "t", InvoiceIssued(issued)),
        OrderEvent(
            "r",
            REF,
            T0,
            T0,
            "t",
            RefundIssued(
                Refund("r", T0 + timedelta(days=2), (LineQuantity("a", 1),), Decimal("2.00"))
            ),
        ),
    ]:
        result = lifecycle.apply(state, event, store, company)
        state = result.state
        triggers += result.triggers
        audit += result.audit
    assert [t.kind.value for t in triggers] == ["invoice", "credit_note"]
    return (
        [orjson.loads(encode_trigger(t)) for t in triggers],
        [orjson.loads(encode_audit(a)) for a in audit],
    )


TRIGGERS, AUDIT = documents()


@pytest.mark.parametrize("document", TRIGGERS, ids=lambda d: d["kind"])
def test_triggers_match_the_documented_schema(document: dict[str, Any]) -> None:
    validator("trigger.schema.json").validate(document)


@pytest.mark.parametrize("document", AUDIT, ids=lambda d: d["to_stage"])
def test_audit_entries_match_the_documented_schema(document: dict[str, Any]) -> None:
    validator("audit.schema.json").validate(document)


def test_the_schema_rejects_a_float_amount() -> None:
    broken = dict(TRIGGERS[0], totals={"net": 1.5, "vat": "0.00", "gross": "1.50"})
    assert list(validator("trigger.schema.json").iter_errors(broken))

"""Agent `vat` glue (agents/vat.py `step`): tables, replays and lost writes, without a broker.

The tables are plain dicts here (the agent only uses get and item assignment); the topics are
names, so the test reads what would be sent where.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from agents import vat as agent
from engine import vat
from engine.exceptions import WinkelError
from engine.tax.vies import ViesAnswer
from models.order import Customer, DocumentLine
from tests.engine.test_triggers_vat import (
    CONSUMER_BE,
    MUG,
    NL_SELLER,
    credit_draft,
    invoice_draft,
    line,
    order,
)

D = Decimal


def wiring() -> Any:
    return SimpleNamespace(
        config=SimpleNamespace(companies={NL_SELLER.id: NL_SELLER}),
        vat_decisions={},
        vat_thresholds={},
        invoice_triggers="invoices",
        credit_note_triggers="credit-notes",
        analytics="analytics",
    )


def sent(sends: list[tuple[Any, bytes, bytes]], topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(value) for target, _, value in sends if target == topic]


def threshold_total(w: Any) -> Decimal:
    return vat.decode_threshold(w.vat_thresholds[b"acme:2026"]).total_eur


def test_an_invoice_is_decided_once_and_replayed_identically() -> None:
    w = wiring()
    _, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    first = agent.step(w, vat.encode_draft(draft))
    (invoice,) = sent(first, "invoices")
    assert invoice["vat"]["scheme"] == "domestic"
    assert threshold_total(w) == D("20.00")  # 24.20 incl. 21%: net 20.00
    (gauge,) = sent(first, "analytics")
    assert (gauge["type"], gauge["company_id"], gauge["total_eur"]) == (
        "vat.threshold",
        "acme",
        "20.00",
    )
    again = agent.step(w, vat.encode_draft(draft))  # at-least-once: the same draft again
    assert [value for target, _, value in again] == [
        value for target, _, value in first if target == "invoices"
    ]
    assert threshold_total(w) == D("20.00")  # not counted twice


def test_a_lost_threshold_write_is_restored_on_replay() -> None:
    w = wiring()
    _, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    agent.step(w, vat.encode_draft(draft))
    w.vat_thresholds.clear()  # the worker died after the record's write, before this one
    again = agent.step(w, vat.encode_draft(draft))
    assert threshold_total(w) == D("20.00")
    assert [t for t, _, _ in again] == ["analytics", "invoices"]


def test_a_lost_record_write_does_not_count_the_sale_twice() -> None:
    w = wiring()
    _, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    first = agent.step(w, vat.encode_draft(draft))
    w.vat_decisions.clear()  # the record's write was lost, the threshold's landed
    again = agent.step(w, vat.encode_draft(draft))
    assert threshold_total(w) == D("20.00")
    assert sent(again, "invoices") == sent(first, "invoices")


def test_crossing_the_threshold_switches_to_destination_vat_and_reports_it() -> None:
    w = wiring()
    big = line("9", "PIANO", 1, "9990.00", "0.00", include=False)
    _, draft = invoice_draft(order((big,), CONSUMER_BE, include=False, external="1"))
    first = agent.step(w, vat.encode_draft(draft))
    assert sent(first, "invoices")[0]["vat"]["scheme"] == "domestic"
    assert [a["level"] for a in sent(first, "analytics") if "level" in a] == ["80_percent"]
    small = line("8", "MUG", 1, "20.00", "0.00", include=False)
    _, draft = invoice_draft(order((small,), CONSUMER_BE, include=False, external="2"))
    second = agent.step(w, vat.encode_draft(draft))
    (invoice,) = sent(second, "invoices")
    # the crossing sale itself: Belgian 21% on 20.00 = 4.20
    assert (invoice["vat"]["scheme"], invoice["vat"]["country"]) == ("oss", "BE")
    assert invoice["totals"] == {"net": "20.00", "vat": "4.20", "gross": "24.20"}
    assert [a["level"] for a in sent(second, "analytics") if "level" in a] == ["100_percent"]
    assert threshold_total(w) == D("10010.00")


def test_credit_notes_reuse_the_recorded_invoice_and_replay_identically() -> None:
    w = wiring()
    state, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    (invoice,) = sent(agent.step(w, vat.encode_draft(draft)), "invoices")
    returned = credit_draft(
        state,
        (DocumentLine("1", 2, D("20.00"), D("4.20"), D("24.20")),),
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    first = agent.step(w, vat.encode_draft(returned))
    (credit,) = sent(first, "credit-notes")
    assert credit["totals"] == invoice["totals"]
    assert credit["vat"]["tax_point"] == invoice["vat"]["tax_point"]
    assert threshold_total(w) == D("0.00")
    again = agent.step(w, vat.encode_draft(returned))
    assert sent(again, "credit-notes") == [credit]
    assert threshold_total(w) == D("0.00")


def test_a_credit_note_for_an_invoice_from_before_the_vat_step_keeps_its_figures() -> None:
    w = wiring()
    state, _ = invoice_draft(order((MUG,), CONSUMER_BE))
    returned = credit_draft(
        state, (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),), datetime.now(UTC)
    )
    (credit,) = sent(agent.step(w, vat.encode_draft(returned)), "credit-notes")
    assert credit["lines"][0]["net"] == "10.00"
    assert credit["lines"][0]["vat"] == "2.10"


def test_vies_s_answer_decides_the_reverse_charge_and_a_replay_keeps_it() -> None:
    w = wiring()
    business = Customer("Weber GmbH", "DE", vat_id="DE136695976", is_business=True)
    _, draft = invoice_draft(order((MUG,), business))
    refused = ViesAnswer("DE136695976", False, "WAPI000000000009")
    (invoice,) = sent(agent.step(w, vat.encode_draft(draft), refused), "invoices")
    assert invoice["vat"]["scheme"] == "domestic"
    assert invoice["vat"]["vies"]["consultation_id"] == "WAPI000000000009"
    # replayed (no VIES question is asked for a decided draft): the same trigger
    (again,) = sent(agent.step(w, vat.encode_draft(draft)), "invoices")
    assert again == invoice


async def test_vies_is_not_asked_while_the_config_has_it_off() -> None:
    w = wiring()
    w.config.vat = SimpleNamespace(vies=False)
    business = Customer("Weber GmbH", "DE", vat_id="DE136695976", is_business=True)
    _, draft = invoice_draft(order((MUG,), business))
    assert await agent.Vies(w).answer(vat.encode_draft(draft)) is None


def test_an_unknown_company_is_refused() -> None:
    w = wiring()
    _, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    other = replace(draft, trigger=replace(draft.trigger, company_id="nobody"))
    with pytest.raises(WinkelError, match="unknown company"):
        agent.step(w, vat.encode_draft(other))


def test_the_gauge_row_of_a_threshold_event() -> None:
    from engine import readmodel as rm

    event = vat.threshold_event(
        vat.ThresholdState("acme", 2026, total_eur=D("8123.40"), sales_counted=7)
    )
    row = rm.threshold_row(event)
    assert row is not None
    assert (row.field, row.counted) == ("acme:2026", 7)
    assert orjson.loads(row.document)["total_eur"] == "8123.40"
    assert rm.threshold_row(orjson.dumps({"type": "order.summary"})) is None
    with pytest.raises(rm.NotProjectable):
        rm.threshold_row(orjson.dumps({"type": "vat.threshold", "company_id": "acme"}))

"""The VAT step's bytes, against outputs recorded before its codec moved to `models`.

Each scenario drives agent `vat` (agents/vat.py `step`, no broker: tables are dicts) through
invoices, replays, lost writes, credit notes, VIES answers and the OSS threshold, and lists every
byte string that left it: the encoded drafts, what it sent where, and what its two tables hold.
`vat_recorded.json` holds that list as the code produced it before the move (commit "layers:
moves only"); the test demands the same bytes, in the same order.

To re-record after an intended change of the documents: `python -m tests.agents.test_vat_recorded`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents import vat as agent
from engine.domain.config import Company
from engine.domain.tax.vies import ViesAnswer
from models.codec import encode_vat_draft
from models.order import Customer, DocumentLine, LineKind
from models.trigger import VatDraft
from tests.engine.test_triggers_vat import (
    CONSUMER_BE,
    CONSUMER_NL,
    MUG,
    NL_OSS,
    NL_SELLER,
    SHIPPING,
    credit_draft,
    invoice_draft,
    line,
    order,
)

RECORDED = Path(__file__).with_name("vat_recorded.json")
D = Decimal
CHECKED = datetime(2026, 11, 3, 14, 0, 5, tzinfo=UTC)
DE_BUSINESS = Customer("Weber GmbH", "DE", vat_id="DE 136 695 976", is_business=True)

Entry = list[str]


class Draft:
    """A stand-in for the faust record a draft came in (a batch's table writes name it)."""


class Run:
    """One wiring of the agent and the log of every byte string it produced."""

    #: True: the drafts go through agent `vat`'s batches (`agents.vat.Pending`): applied one by
    #: one to the tables as the batch has left them, each changed key written at the batch's
    #: end, or where the scenario looks at the tables (a batch boundary)
    batched = False

    def __init__(self, company: Company = NL_SELLER) -> None:
        self._wiring: Any = SimpleNamespace(
            config=SimpleNamespace(companies={company.id: company}),
            vat_decisions={},
            vat_thresholds={},
            invoice_triggers="invoices",
            credit_note_triggers="credit-notes",
            analytics="analytics",
        )
        self.log: list[Entry] = []
        self.pending: tuple[agent.Pending, agent.Pending] | None = None

    @property
    def wiring(self) -> Any:
        self._store()
        return self._wiring

    def _store(self) -> None:
        for table in self.pending or ():
            table.store()
        self.pending = None

    def _target(self) -> Any:
        if not self.batched:
            return self._wiring
        if self.pending is None:
            self.pending = (
                agent.Pending(self._wiring.vat_decisions),
                agent.Pending(self._wiring.vat_thresholds),
            )
        decisions, thresholds = self.pending
        decisions.event = thresholds.event = Draft()
        return SimpleNamespace(
            **{**vars(self._wiring), "vat_decisions": decisions, "vat_thresholds": thresholds}
        )

    def step(self, draft: VatDraft, vies: ViesAnswer | None = None) -> None:
        encoded = encode_vat_draft(draft)
        self.log.append(["draft", encoded.decode()])
        for topic, key, value in agent.step(self._target(), encoded, vies):
            self.log.append(["send", topic, key.decode(), value.decode()])

    def tables(self) -> list[Entry]:
        rows = []
        for name in ("vat_decisions", "vat_thresholds"):
            table: dict[bytes, bytes] = getattr(self.wiring, name)
            rows += [["table", name, k.decode(), v.decode()] for k, v in sorted(table.items())]
        return self.log + rows


def consumer_in_belgium() -> list[Entry]:
    run = Run()
    state, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    run.step(draft)
    run.step(draft)  # at-least-once: the same draft again
    run.wiring.vat_thresholds.clear()  # a lost threshold write, restored by the replay
    run.step(draft)
    returned = credit_draft(
        state,
        (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),),
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    run.step(returned)
    run.step(returned)
    return run.tables()


def threshold_crossed() -> list[Entry]:
    run = Run()
    piano = line("9", "PIANO", 1, "9990.00", "0.00", include=False)
    run.step(invoice_draft(order((piano,), CONSUMER_BE, include=False, external="1"))[1])
    mug = line("8", "MUG", 1, "20.00", "0.00", include=False)
    run.step(invoice_draft(order((mug,), CONSUMER_BE, include=False, external="2"))[1])
    return run.tables()


def vies_answers() -> list[Entry]:
    run = Run()
    confirmed = ViesAnswer("DE136695976", True, "WAPI000000000001", CHECKED)
    state, draft = invoice_draft(order((MUG, SHIPPING), DE_BUSINESS, external="1"))
    run.step(draft, confirmed)
    run.step(draft)
    run.step(
        credit_draft(
            state,
            (DocumentLine("1", 1, D("10.00"), D("0.00"), D("10.00")),),
            datetime(2026, 11, 9, tzinfo=UTC),
        )
    )
    refused = ViesAnswer("DE136695976", False, "WAPI000000000002", CHECKED)
    run.step(invoice_draft(order((MUG,), DE_BUSINESS, external="2"))[1], refused)
    down = ViesAnswer("DE136695976", None, error="MS_UNAVAILABLE")
    run.step(invoice_draft(order((MUG,), DE_BUSINESS, external="3"))[1], down)
    return run.tables()


def apportioned_shipping() -> list[Entry]:
    run = Run()
    book = line("2", "BOOK-NL", 1, "20.00", "1.65")
    lamp = line("3", "LAMP", 1, "60.00", "10.41")
    state, draft = invoice_draft(
        order((book, lamp, SHIPPING), CONSUMER_NL), categories={"BOOK-NL": "reduced"}
    )
    run.step(draft)
    run.step(
        credit_draft(
            state,
            (DocumentLine("s", 0, D("2.00"), D("0.00"), D("2.00")),),
            datetime(2026, 11, 10, tzinfo=UTC),
            cause="refund:7",
        )
    )
    run.step(
        credit_draft(
            state,
            (DocumentLine("s", 1, D("4.09"), D("0.86"), D("4.95")),),
            datetime(2026, 11, 11, tzinfo=UTC),
            cause="cancellation:c1",
        )
    )
    exclusive = (
        line("2", "BOOK-NL", 1, "24.95", "2.25", include=False),
        line("3", "LAMP", 1, "60.00", "12.60", include=False),
        line("s", "SHIPPING", 1, "4.09", "0.86", include=False, kind=LineKind.SHIPPING),
    )
    run.step(
        invoice_draft(
            order(exclusive, CONSUMER_NL, include=False, external="2"),
            categories={"BOOK-NL": "reduced"},
        )[1]
    )
    return run.tables()


def elsewhere() -> list[Entry]:
    run = Run(NL_OSS)
    run.step(invoice_draft(order((MUG, SHIPPING), CONSUMER_BE, external="1"), NL_OSS)[1])
    swiss = order((MUG, SHIPPING), Customer("Anna Meier", "CH"), external="2")
    run.step(invoice_draft(swiss, NL_OSS)[1])
    lamp = line("3", "LAMP", 1, "1000.00", "210.00", include=False)
    swedish = order((lamp,), Customer("Erik Berg", "SE"), include=False, currency="SEK")
    shipped = datetime(2026, 10, 24, 10, 0, tzinfo=UTC)  # a Saturday: Friday's ECB rate
    run.step(invoice_draft(swedish, NL_OSS, shipped)[1])
    return run.tables()


def marketplace_invoices() -> list[Entry]:
    run = Run()
    state = order((MUG,), CONSUMER_BE)
    assert state.details is not None
    state = replace(state, details=replace(state.details, invoiced_by_marketplace="amazon_vcs"))
    state, draft = invoice_draft(state)
    run.step(draft)
    run.step(draft)
    part = (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),)
    run.step(credit_draft(state, part, datetime(2026, 11, 20, tzinfo=UTC)))
    # a credit note for an invoice from before the VAT step: the lifecycle's figures, as sent
    earlier, _ = invoice_draft(order((MUG,), CONSUMER_BE, external="2"))
    run.step(credit_draft(earlier, part, datetime(2026, 11, 21, tzinfo=UTC)))
    return run.tables()


SCENARIOS: dict[str, Callable[[], list[Entry]]] = {
    f.__name__: f
    for f in (
        consumer_in_belgium,
        threshold_crossed,
        vies_answers,
        apportioned_shipping,
        elsewhere,
        marketplace_invoices,
    )
}


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "in batches"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_vat_step_emits_the_recorded_bytes(
    name: str, batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Run, "batched", batched)
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))[name]
    produced = SCENARIOS[name]()
    assert len(produced) == len(recorded)
    for mine, theirs in zip(produced, recorded, strict=True):
        assert mine == theirs


def test_the_scenarios_reach_every_kind_of_output() -> None:
    kinds = {
        (entry[0], entry[1]) if entry[0] != "draft" else ("draft", "")
        for name in SCENARIOS
        for entry in json.loads(RECORDED.read_text(encoding="utf-8"))[name]
    }
    assert kinds == {
        ("draft", ""),
        ("send", "invoices"),
        ("send", "credit-notes"),
        ("send", "analytics"),
        ("table", "vat_decisions"),
        ("table", "vat_thresholds"),
    }


if __name__ == "__main__":
    document = {name: scenario() for name, scenario in sorted(SCENARIOS.items())}
    RECORDED.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")

"""Invoice and credit-note drafts -> VAT decided, recorded once, final triggers out.

Drafts arrive on `winkel.vat.drafts` keyed by company id, so each company's OSS threshold state
(table `vat-thresholds`, key `company:year`) and its invoice decisions (table `vat-decisions`,
key invoice trigger id) live in one partition, next to the drafts that change them. Decisions
are pure (`engine.domain.vat`); this agent reads and writes the two tables and sends the results:
triggers keyed by order UUID, threshold analytics keyed by company id.

At-least-once: a replayed draft finds its record and sends the recorded trigger again, byte
for byte; a threshold write lost in a crash is restored from the record; the threshold state
remembers the ids it counted, so nothing counts twice.

Drafts are taken in batches (`BATCH_SIZE`, `BATCH_SECONDS`) and applied one by one, in their
partition's order, to the tables as the batch has left them (`Pending`): the same decisions, in
the same OSS threshold order, as one at a time. Each key the batch changed is written to its
table once, after every record the batch produced has reached the broker (`flush`, as agent
`orders` does): a crash before the writes replays the batch, which finds nothing recorded and
sends the same bytes again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import redis.asyncio as aioredis

from agents import faustfix
from agents._deadletter import guarded
from agents._outputs import send_all
from engine.domain import vat
from engine.domain.exceptions import WinkelError
from engine.domain.tax import ThresholdState
from engine.domain.tax.vies import ViesAnswer
from engine.shell import vat_tables
from engine.shell.vies import CachedVies, ViesClient, lookup_bounded
from models.codec import DecodeError, decode_vat_draft, encode_trigger
from models.order import DocumentKind
from models.trigger import Trigger

if TYPE_CHECKING:
    from agents.wiring import Wiring

log = logging.getLogger(__name__)

Send = tuple[Any, bytes, bytes]


def _threshold(wiring: Wiring, key: str) -> ThresholdState | None:
    stored = wiring.vat_thresholds.get(key.encode())
    return None if stored is None else vat_tables.decode_threshold(stored)


def _write_threshold(wiring: Wiring, key: str, state: ThresholdState) -> Send:
    wiring.vat_thresholds[key.encode()] = vat_tables.encode_threshold(state)
    return (wiring.analytics, state.company_id.encode(), vat_tables.threshold_event(state))


def _restore(wiring: Wiring, counted: vat.Counted | None) -> list[Send]:
    """Write back a threshold state whose write a crash lost (see `engine.domain.vat.restore`)."""
    if counted is None:
        return []
    after = vat.restore(_threshold(wiring, counted.key), counted)
    return [] if after is None else [_write_threshold(wiring, counted.key, after)]


def _trigger_send(target: Any, order_key: bytes, trigger: Trigger | None) -> list[Send]:
    """The trigger the VAT step decided, encoded for its topic; nothing when there is none."""
    return [] if trigger is None else [(target, order_key, encode_trigger(trigger))]


def step(wiring: Wiring, value: bytes, vies: ViesAnswer | None = None) -> list[Send]:
    """Apply one draft to the tables; returns what to send, in order.

    `vies`: VIES's answer on the customer's number (`vies_answer`), when it was asked.
    """
    draft = decode_vat_draft(value)
    trigger = draft.trigger
    company = wiring.config.companies.get(trigger.company_id)
    if company is None:
        raise WinkelError(f"unknown company {trigger.company_id!r}")
    order_key = str(trigger.order_uuid).encode()
    if trigger.kind is DocumentKind.INVOICE:
        target, record_key = wiring.invoice_triggers, str(trigger.trigger_id)
        stored = wiring.vat_decisions.get(record_key.encode())
        if stored is not None:  # a replay: the recorded decision, the recorded trigger
            record = vat_tables.decode_record(stored)
            sends = _restore(wiring, record.counted)
            return sends + _trigger_send(target, order_key, record.trigger)
        year = draft.tax_point.year
        state = vat.opening_state(
            company.id,
            year,
            _threshold(wiring, vat.threshold_key(company.id, year)),
            _threshold(wiring, vat.threshold_key(company.id, year - 1)),
        )
        outcome = vat.invoice(draft, company, state, vies=vies)
    else:
        target = wiring.credit_note_triggers
        if trigger.corrects is None:
            raise WinkelError(f"credit note {trigger.trigger_id} corrects no invoice")
        record_key = str(trigger.corrects.invoice_trigger_id)
        stored = wiring.vat_decisions.get(record_key.encode())
        if stored is None:
            # An invoice emitted before the VAT step was switched on: the credit note keeps
            # the figures that invoice had (the marketplace's tax lines).
            log.info("credit note %s: invoice %s has no VAT record", trigger.trigger_id, record_key)
            return [(target, order_key, encode_trigger(trigger))]
        record = vat_tables.decode_record(stored)
        entry = record.credits.get(str(trigger.trigger_id))
        if entry is not None:
            sends = _restore(wiring, entry.counted)
            return sends + _trigger_send(target, order_key, entry.trigger)
        counted_in = None if record.counted is None else _threshold(wiring, record.counted.key)
        outcome = vat.credit(draft, record, counted_in)
    wiring.vat_decisions[record_key.encode()] = vat_tables.encode_record(outcome.record)
    sends = []
    if outcome.threshold_key is not None and outcome.threshold is not None:
        sends.append(_write_threshold(wiring, outcome.threshold_key, outcome.threshold))
        sends.extend(
            (
                wiring.analytics,
                company.id.encode(),
                vat_tables.reached_event(reached, trigger.trigger_id),
            )
            for reached in outcome.reached
        )
    if outcome.trigger is not None:
        sends.extend(_trigger_send(target, order_key, outcome.trigger))
    else:
        log.info("%s %s: the marketplace invoices, no trigger", trigger.kind, trigger.trigger_id)
    return sends


class Vies:
    """The agent's VIES client and cache, built on first use inside the agent's loop."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.cached: CachedVies | None = None

    def _client(self) -> CachedVies:
        if self.cached is None:
            settings = self.wiring.config.vat
            session = aiohttp.ClientSession()
            client = ViesClient(session, settings.vies_url, settings.vies_timeout_seconds)
            self.cached = CachedVies(client, aioredis.from_url(self.wiring.config.redis_url))
        return self.cached

    async def answer(self, value: bytes, decisions: Any = None) -> ViesAnswer | None:
        """VIES's answer for a draft that needs one (`engine.domain.vat.vies_question`); None when
        VIES is off, not needed, or the draft was decided before (a replay asks nothing).

        `decisions`: the decisions table as the batch has left it (default: the table)."""
        if decisions is None:
            decisions = self.wiring.vat_decisions
        if not self.wiring.config.vat.vies:
            return None
        try:
            draft = decode_vat_draft(value)
        except DecodeError:
            return None  # the step dead-letters it
        number = vat.vies_question(draft)
        trigger = draft.trigger
        if number is None or decisions.get(str(trigger.trigger_id).encode()):
            return None
        company = self.wiring.config.companies.get(trigger.company_id)
        requester = None if company is None else company.vat_id
        patience = self.wiring.config.vat.vies_timeout_seconds
        return await lookup_bounded(self._client(), number, requester, patience)


#: Up to this many drafts per batch ...
BATCH_SIZE = 200
#: ... gathered for at most this long (what a quiet moment adds to a draft's latency).
BATCH_SECONDS = 0.01


class Pending:
    """A table as a batch has left it: reads see the batch's own writes first; `written` holds
    each changed key's last value with the record that wrote it (whose partition the key's is),
    for the one table write per key at the flush."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.written: dict[bytes, tuple[bytes, Any]] = {}
        #: the record being applied (set by the agent before each step)
        self.event: Any = None

    def get(self, key: bytes) -> bytes | None:
        pending = self.written.get(key)
        if pending is not None:
            return pending[0]
        stored: bytes | None = self.table.get(key)
        return stored

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.written[key] = (value, self.event)

    def store(self) -> None:
        for key, (value, event) in self.written.items():
            with faustfix.as_current(event):
                self.table[key] = value


class Batch:
    """One batch of drafts: the two tables as it has left them, and what it sends."""

    def __init__(self, wiring: Wiring) -> None:
        self.thresholds = Pending(wiring.vat_thresholds)
        self.decisions = Pending(wiring.vat_decisions)
        self.wiring = dataclasses.replace(
            wiring, vat_thresholds=self.thresholds, vat_decisions=self.decisions
        )
        self.sends: list[Send] = []

    def at(self, event: Any) -> None:
        self.thresholds.event = self.decisions.event = event

    async def flush(self) -> None:
        """Send every record, wait until the broker has them all, then write the tables (the
        table is what a replay trusts: written first, a crash would lose the records)."""
        await send_all(self.wiring.app, self.sends)
        self.decisions.store()
        self.thresholds.store()


async def _decided(vies: Vies, batch: Batch, value: bytes) -> list[Send]:
    return step(batch.wiring, value, await vies.answer(value, batch.decisions))


def register(wiring: Wiring) -> None:
    vies = Vies(wiring)

    @wiring.app.agent(wiring.vat_drafts, name="vat")
    async def decide(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            batch = Batch(wiring)
            for event in events:
                batch.at(event)
                # the table reads go to the partition of the draft at hand
                with faustfix.as_current(event):
                    # A VAT question the rules cannot answer (an unknown rate, a currency
                    # without an ECB rate): the draft waits in the dead letters for a person.
                    work = functools.partial(_decided, vies, batch, event.value)
                    sends = await guarded(wiring.dead_letter, event, "VAT step", work)
                if sends is not None:
                    batch.sends.extend(sends)
            await batch.flush()

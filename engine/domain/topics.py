"""Kafka topic names (contract, docs/design.md "Topics")."""

from __future__ import annotations

from models.order import Marketplace

ORDER_EVENTS = "winkel.orders.events"
ORDER_COMMANDS = "winkel.orders.commands"
INVOICES_ISSUED = "winkel.invoices.issued"
INVOICE_TRIGGERS = "winkel.triggers.invoice"
CREDIT_NOTE_TRIGGERS = "winkel.triggers.credit-note"
ANALYTICS = "winkel.analytics"
AUDIT = "winkel.audit"
DEAD_LETTER = "winkel.deadletter"
#: Internal: invoice and credit-note drafts from agent `orders` to agent `vat`, keyed by company
#: id, so one company's OSS threshold is kept in one table partition (docs/topics.md).
VAT_DRAFTS = "winkel.vat.drafts"
#: Internal: an order event whose delivery was not keyed by its order (agent `orders` applies
#: it when it reads it here, under its order's key, in the order's partition; docs/topics.md).
ORDERS_REKEYED = "winkel.orders.rekeyed"

#: The worker's Kafka consumer group, which is also the faust app id (agents/app.py). Here, not
#: in the faust app, so that the web reads the group's lag without importing faust.
CONSUMER_GROUP = "winkel-orders"

#: The per-order table's changelog (faust names it `<app id>-<table>-changelog`). Created with
#: the contract topics so a worker on a fresh broker never races faust's own declaration.
ORDERS_CHANGELOG = "winkel-orders-orders-changelog"
#: The `vat` agent's tables: threshold state per company and year, decision per invoice.
VAT_THRESHOLDS_CHANGELOG = "winkel-orders-vat-thresholds-changelog"
VAT_DECISIONS_CHANGELOG = "winkel-orders-vat-decisions-changelog"
#: Compacted changelog topics created up front with the contract topics.
CHANGELOGS = (ORDERS_CHANGELOG, VAT_THRESHOLDS_CHANGELOG, VAT_DECISIONS_CHANGELOG)


def raw(marketplace: Marketplace) -> str:
    return f"winkel.raw.{marketplace.value}"


ALL = (
    *(raw(marketplace) for marketplace in Marketplace),
    ORDER_EVENTS,
    ORDERS_REKEYED,
    ORDER_COMMANDS,
    INVOICES_ISSUED,
    INVOICE_TRIGGERS,
    CREDIT_NOTE_TRIGGERS,
    ANALYTICS,
    AUDIT,
    DEAD_LETTER,
    VAT_DRAFTS,
)

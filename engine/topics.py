"""Kafka topic names (contract, DESIGN.md "Topics")."""

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


#: The per-order table's changelog (faust names it `<app id>-<table>-changelog`). Created with
#: the contract topics so a worker on a fresh broker never races faust's own declaration.
ORDERS_CHANGELOG = "winkel-orders-orders-changelog"


def raw(marketplace: Marketplace) -> str:
    return f"winkel.raw.{marketplace.value}"


ALL = (
    *(raw(marketplace) for marketplace in Marketplace),
    ORDER_EVENTS,
    ORDER_COMMANDS,
    INVOICES_ISSUED,
    INVOICE_TRIGGERS,
    CREDIT_NOTE_TRIGGERS,
    ANALYTICS,
    AUDIT,
    DEAD_LETTER,
)

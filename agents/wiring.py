"""What the agents are given: the faust app, its topics and tables, and the configuration.

Its own module (not agents/app.py) so that the agents import it and agents/app.py imports the
agents, and no import runs in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from engine.domain.config import Config


@dataclass(frozen=True)
class Wiring:
    """What the agents need: the app, its topics and tables, and the configuration."""

    app: faust.App
    config: Config
    order_events: Any  # the log of normalised events (agent `orders` writes, no agent reads)
    orders_rekeyed: Any
    order_inputs: Any  # raw deliveries, order events, operator commands, invoices issued
    invoice_triggers: Any
    credit_note_triggers: Any
    audit: Any
    analytics: Any
    dead_letter: Any
    orders: Any
    # The VAT step (agents/vat.py): drafts keyed by company, and its two tables.
    vat_drafts: Any = None
    vat_thresholds: Any = None
    vat_decisions: Any = None

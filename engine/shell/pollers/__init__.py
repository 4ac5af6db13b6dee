"""Marketplace pollers (imperative shell): one loop per store that needs one, inside the worker.

bol.com is polled (pushes only ask for a prompt fetch); WooCommerce is swept with
`modified_after` because it never retries a webhook; Shopify is reconciled behind its webhooks.
Each loop holds a Redis lease for its store, so with several workers exactly one polls a store.
The decisions are pure (engine.domain.polling); this package moves the bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.app import Wiring


def register(wiring: Wiring) -> None:
    """Run the pollers as a task of the faust worker (so `winkel worker` and `winkel run` poll)."""
    if not any(store.polled for store in wiring.config.stores.values()):
        return

    @wiring.app.task  # type: ignore[untyped-decorator]
    async def poll_marketplaces() -> None:
        from engine.shell.pollers.runner import run

        await run(wiring.config)

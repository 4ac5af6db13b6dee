"""Runs the marketplace pollers (engine/shell/pollers) as a task of the faust worker, so
`winkel worker` and `winkel run` poll."""

from __future__ import annotations

from agents.wiring import Wiring
from engine.shell.pollers.runner import run


def register(wiring: Wiring) -> None:
    """One poll loop per polled store; nothing when no store is polled."""
    if not any(store.polled for store in wiring.config.stores.values()):
        return

    @wiring.app.task  # type: ignore[untyped-decorator]
    async def poll_marketplaces() -> None:
        await run(wiring.config)

"""Ending the web process's background tasks (cleanup contexts) without hanging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, patience: float = 1.0) -> None:
    """Cancel `tasks` and wait until every one has ended.

    A library may swallow a cancellation that lands inside its own timeout (redis-py's
    `PubSub.get_message(timeout=...)` does, redis/redis-py#2551), and the task then runs on.
    So a task still running after `patience` seconds is cancelled again instead of being
    waited for forever, which hung the web process's shutdown.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=patience)
        for task in done:
            if not task.cancelled() and (error := task.exception()) is not None:
                log.error("background task %s ended with %r", task.get_name(), error)

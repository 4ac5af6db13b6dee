"""Background tasks end at shutdown even when something inside them swallows a cancel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from web.tasks import stop_tasks


async def _swallows_the_first_cancel() -> None:
    swallowed = False
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True  # as a library's timeout handling may do


async def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_ends() -> None:
    stubborn = asyncio.create_task(_swallows_the_first_cancel())
    plain = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks([stubborn, plain], patience=0.05), 5)
    assert stubborn.cancelled() and plain.cancelled()


async def test_a_task_that_failed_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="web.tasks"):
        await stop_tasks([task])
    assert "broken" in caplog.text

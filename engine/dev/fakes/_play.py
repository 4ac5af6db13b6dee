"""What the bol and Amazon fakes share: a clock tests move by hand, and the demo loop that
serves a fake and plays order stories into it in real time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
from aiohttp import web

Step = TypeVar("Step")


@dataclass
class FakeClock:
    """A clock tests move by hand; a fake built with `clock=...` reads it."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class StoryShop:
    """A generator of order stories; `seed` makes the traffic repeatable."""

    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    cancel_share: float = 0.1
    split_share: float = 0.3
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - repeatable traffic, not secrets


def wall_clock() -> datetime:
    return datetime.now(UTC)


async def serve_and_play(
    app: web.Application,
    host: str,
    port: int,
    story: Callable[[int], list[Step]],
    play: Callable[[Step, datetime], Iterable[tuple[bytes, Mapping[str, str]]]],
    url: str | None,
    *,
    seed: int,
    steps_per_second: float,
    first_order: int,
    in_flight: int,
) -> None:
    """Serve `app` on host:port and play `in_flight` order stories (`story(number)`) into it
    step by step, forever: each step happens "now" (`play(step, now)` applies it and returns
    the notifications the marketplace would send), which are POSTed to `url`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    pick = random.Random(seed)  # noqa: S311 - repeatable traffic, not secrets
    stories: list[list[Step]] = []
    number = first_order
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                while len(stories) < in_flight:
                    stories.append(story(number))
                    number += 1
                chosen = pick.choice(stories)
                step = chosen.pop(0)
                if not chosen:
                    stories.remove(chosen)
                for body, headers in play(step, wall_clock()):
                    if url is None:
                        continue
                    try:
                        async with session.post(url, data=body, headers=dict(headers)):
                            pass
                    except OSError:
                        pass  # the poll finds the change anyway
                await asyncio.sleep(1.0 / steps_per_second)
    finally:
        await runner.cleanup()

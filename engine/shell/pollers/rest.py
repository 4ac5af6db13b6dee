"""What the Shopify and WooCommerce pollers share: a store read over a REST API with one fixed
credential (an access token, a consumer key and secret), and its GET with the 429 wait."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

import aiohttp
import redis.asyncio as aioredis

from engine.domain.config import Store
from engine.shell.pollers.sink import PollError, Sink

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
MAX_ATTEMPTS = 5
#: Seconds to wait after a 429 that names no `Retry-After`.
DEFAULT_RETRY_AFTER = 2.0


@dataclass
class RestPoller(ABC):
    store: Store
    session: aiohttp.ClientSession
    redis: aioredis.Redis
    sink: Sink
    #: The value of `CREDENTIAL_HEADER` on every request.
    credential: str
    base_url: str

    #: Its name in logs ("Shopify", "WooCommerce") and the header that carries the credential.
    NAME: ClassVar[str]
    CREDENTIAL_HEADER: ClassVar[str]

    @classmethod
    @abstractmethod
    def credential_of(cls, store: Store, env: Mapping[str, str]) -> str:
        """The store's credential from the environment (`ConfigError` naming what is unset)."""

    @classmethod
    def create(
        cls,
        store: Store,
        env: Mapping[str, str],
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        sink: Sink,
    ) -> Self:
        credential = cls.credential_of(store, env)
        assert store.api_base_url is not None  # `polled` says so
        return cls(store, session, redis, sink, credential, store.api_base_url)

    async def get(self, url: str, query: Mapping[str, str] | None) -> tuple[dict[str, str], bytes]:
        """The headers and body of a 200; after a 429 it waits `Retry-After` and tries again;
        `PollError` for any other answer."""
        for _ in range(MAX_ATTEMPTS):
            async with self.session.get(
                url,
                params=None if query is None else dict(query),
                headers={self.CREDENTIAL_HEADER: self.credential, "Accept": "application/json"},
                timeout=REQUEST_TIMEOUT,
            ) as reply:
                body = await reply.read()
                if reply.status == 429:
                    wait = _seconds(reply.headers.get("Retry-After"))
                    log.warning("%s 429 for %s: waiting %.1f s", self.NAME, self.store.id, wait)
                    await asyncio.sleep(wait)
                    continue
                if reply.status != 200:
                    raise PollError(f"GET {url} answered {reply.status}: {body[:200]!r}")
                return dict(reply.headers.items()), body
        raise PollError(f"GET {url}: still throttled after {MAX_ATTEMPTS} attempts")


def _seconds(raw: str | None) -> float:
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER

"""What the bol and Amazon clients share: one OAuth access token per account, the rate holds,
both kept in Redis so that every process of every worker honours them, and one GET/retry loop
(`OAuthClient`).

bol IP-blocks callers that ask for tokens too often and Amazon's LWA is rate-limited too, so a
token is fetched by one process (a Redis lock) and reused by every process until shortly before
it expires. A rate hold is a deadline per account and bucket (a bol path bucket, an SP-API
operation): no process calls that bucket before it has passed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

import aiohttp
import orjson
import redis.asyncio as aioredis

from engine.domain.config import Store
from engine.shell.pollers.sink import PollError, text
from engine.shell.pollers.status import StatusBoard

log = logging.getLogger(__name__)

TOKEN_LOCK_MS = 15_000
MAX_ATTEMPTS = 5
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


class AccessToken(Protocol):
    """A token endpoint's answer as the pure marketplace modules parse it (`TokenCache`)."""

    @property
    def token(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class SharedToken:
    """One account's access token, cached in Redis under `key` until `margin` before expiry.

    `fetch` asks the token endpoint (raising `PollError` with the marketplace's own reading of
    a refusal); `name` says whose token it is in errors ("the LWA token", "the bol token").
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        fetch: Callable[[], Awaitable[AccessToken]],
        margin: timedelta,
        name: str,
    ) -> None:
        self.redis, self.key, self.fetch, self.margin, self.name = redis, key, fetch, margin, name

    async def get(self) -> str:
        """A valid token: the cached one, or a new one fetched by this or another process."""
        deadline = time.monotonic() + TOKEN_LOCK_MS / 1000 * 2
        while True:
            raw = await self.redis.get(self.key)
            if raw:
                cached = orjson.loads(raw)
                expires_at = datetime.fromisoformat(cached["expires_at"])
                if cached["token"] and datetime.now(UTC) < expires_at - self.margin:
                    return str(cached["token"])
            lock = f"{self.key}:lock"
            me = secrets.token_hex(8)
            if await self.redis.set(lock, me, nx=True, px=TOKEN_LOCK_MS):
                try:
                    return await self._fetch_and_keep()
                finally:
                    if text(await self.redis.get(lock)) == me:
                        await self.redis.delete(lock)
            if time.monotonic() > deadline:
                raise PollError(f"timed out waiting for another process to fetch {self.name}")
            await asyncio.sleep(0.2)

    async def forget(self) -> None:
        """Drop the cached token (revoked or expired early): the next `get` fetches a new one."""
        await self.redis.delete(self.key)

    async def _fetch_and_keep(self) -> str:
        answer = await self.fetch()
        now = datetime.now(UTC)
        keep_ms = int((answer.expires_at - self.margin - now).total_seconds() * 1000)
        if keep_ms > 0:
            document = {"token": answer.token, "expires_at": answer.expires_at.isoformat()}
            await self.redis.set(self.key, orjson.dumps(document), px=keep_ms)
        return answer.token


class RateHolds:
    """Per-bucket deadlines under `prefix`; `name`, when given, logs each wait under that name."""

    def __init__(self, redis: aioredis.Redis, prefix: str, name: str | None = None) -> None:
        self.redis, self.prefix, self.name = redis, prefix, name

    async def wait(self, bucket: str) -> None:
        """Return once no hold on `bucket` is left (checked again at least every 5 s)."""
        key = f"{self.prefix}:{bucket}"
        while True:
            until = await self.redis.get(key)
            if until is None:
                return
            wait = float(until) - time.time()
            if wait <= 0:
                return
            if self.name is not None:
                log.info("%s budget for %s spent: waiting %.1f s", self.name, bucket, wait)
            await asyncio.sleep(min(wait, 5.0))

    async def hold(self, bucket: str, seconds: float) -> None:
        """Keep every process from calling `bucket` for `seconds`."""
        if seconds <= 0:
            return
        until = time.time() + seconds
        await self.redis.set(
            f"{self.prefix}:{bucket}", f"{until:.3f}", px=max(1, int(seconds * 1000))
        )


class ApiRequest(Protocol):
    """A GET as the pure marketplace modules build it: path (from the API base URL), query and
    headers."""

    @property
    def path(self) -> str: ...

    @property
    def query(self) -> Mapping[str, str]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class TokenRequest(Protocol):
    """A token endpoint's POST as the pure marketplace modules build it."""

    @property
    def url(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...


Request = TypeVar("Request", bound=ApiRequest)


class OAuthClient(ABC, Generic[Request]):
    """GETs against a marketplace API with one access token per account, shared through
    Redis (`SharedToken`), and one rate hold per bucket (`RateHolds`): after an answer that
    asks for a wait, no process calls that bucket before it is over.

    A marketplace's client says where its API and token endpoint are, how a request is
    signed and which bucket it spends, and how long to wait after an answer (`backoff`).
    """

    #: Its name in logs and errors ("bol", "Amazon"), and its token's ("the LWA token").
    NAME: ClassVar[str]
    TOKEN_NAME: ClassVar[str]
    API_BASE_URL: ClassVar[str]
    TOKEN_URL: ClassVar[str]
    TOKEN_MARGIN: ClassVar[timedelta]
    #: The status of an answer to an expired or revoked token (one retry with a new one).
    TOKEN_REFUSED_STATUS: ClassVar[int]
    #: Redis keys: `<prefix>:token:<account>`, `<prefix>:rate:<account>:<bucket>`.
    KEY_PREFIX: ClassVar[str]
    #: Whether each wait for a rate hold is logged.
    LOG_HOLDS: ClassVar[bool] = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        store: Store,
        env: Mapping[str, str],
        status: StatusBoard | None = None,
    ) -> None:
        self.session, self.redis, self.status = session, redis, status
        self.base_url = (store.api_base_url or self.API_BASE_URL).rstrip("/")
        self.token_url = store.token_url or self.TOKEN_URL
        self.client_id = store.env_value(env, store.client_id_env, "client_id_env")
        self.client_secret = store.env_value(env, store.client_secret_env, "client_secret_env")
        #: What names the account besides the client id (Amazon's refresh token).
        self.account_credentials = self.account_of(store, env)
        account = hashlib.sha256(
            "|".join((self.token_url, self.client_id, *self.account_credentials)).encode()
        ).hexdigest()[:20]
        self.shared_token = SharedToken(
            redis,
            f"{self.KEY_PREFIX}:token:{account}",
            self.fetch_token,
            self.TOKEN_MARGIN,
            self.TOKEN_NAME,
        )
        self.holds = RateHolds(
            redis, f"{self.KEY_PREFIX}:rate:{account}", self.NAME if self.LOG_HOLDS else None
        )

        #: bucket -> the rate the last answer reported (SP-API's usage plans; a 429 reports none).
        self.rates: dict[str, float] = {}

    def account_of(self, store: Store, env: Mapping[str, str]) -> tuple[str, ...]:
        """Credentials besides the client id that name the account, from the environment."""
        return ()

    async def token(self) -> str:
        return await self.shared_token.get()

    @abstractmethod
    async def fetch_token(self) -> AccessToken:
        """Ask the token endpoint for a new token (`post_token`); `PollError` if refused."""

    async def post_token(self, request: TokenRequest) -> tuple[int, bytes]:
        """The token endpoint's status and body."""
        async with self.session.post(
            request.url, data=request.body, headers=dict(request.headers), timeout=REQUEST_TIMEOUT
        ) as reply:
            return reply.status, await reply.read()

    @abstractmethod
    def authorised(self, request: Request, token: str) -> Request:
        """The request with the access token in its headers."""

    @abstractmethod
    def bucket(self, request: Request) -> str:
        """The rate bucket a request spends (a path bucket, an operation)."""

    @abstractmethod
    def label(self, request: Request) -> str:
        """The request in errors and logs."""

    @abstractmethod
    def backoff(
        self, request: Request, status: int, headers: Mapping[str, str], attempt: int
    ) -> tuple[float | None, bool]:
        """After an answer other than the token's refusal: seconds every process keeps off
        the request's bucket (None: none), and whether to try again."""

    async def get(self, request: Request) -> bytes | None:
        """The body of a 200, None for a 404; a `PollError` for anything else."""
        bucket, label = self.bucket(request), self.label(request)
        for attempt in range(MAX_ATTEMPTS):
            await self.holds.wait(bucket)
            signed = self.authorised(request, await self.token())
            async with self.session.get(
                f"{self.base_url}{signed.path}",
                params=dict(signed.query),
                headers=dict(signed.headers),
                timeout=REQUEST_TIMEOUT,
            ) as reply:
                body = await reply.read()
                status = reply.status
                headers = dict(reply.headers.items())
            if status == self.TOKEN_REFUSED_STATUS and attempt == 0:
                await self.shared_token.forget()  # expired or revoked early: one retry
                continue
            wait, again = self.backoff(request, status, headers, attempt)
            if wait is not None:
                await self.holds.hold(bucket, wait)
            if status == 200:
                return body
            if status == 404:
                return None
            if not again:
                raise PollError(f"{label} answered {status}: {body[:200]!r}")
            if status == 429:
                log.warning("%s 429 on %s: retrying after %.1f s", self.NAME, label, wait or 0)
                if self.status is not None:
                    await self.status.throttled(wait or 0.0)
        raise PollError(f"{label}: still refused after {MAX_ATTEMPTS} attempts")

"""Hostile requests against the real web process, and the books they must balance.

`requests()` is a hypothesis strategy of whole HTTP requests, written byte by byte (so header
values may be any bytes, not only what an HTTP library agrees to send): the four webhook routes
with validly signed, wrongly signed and unsigned deliveries whose bodies are real marketplace
documents with hostile values planted in them, random JSON, random bytes, `Content-Encoding`
that does not match the body, non-UTF-8 header bytes; and the operator API with and without
tokens. `Campaign` sends them and keeps the figures; `Campaign.account` then reads Kafka and
checks every accepted body: order events, a dead letter with its reason, or a prompt (bol and
Amazon notifications only ask for a fetch), never an internal error.

Used by tests/fuzz/test_fuzz.py (a bounded run in the normal test command) and by
`scripts/fuzz` (10,000+ requests, figures printed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import gzip
import hashlib
import hmac
import json
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from engine.dev.fakes.bol import SigningKey
from engine.domain.config import Config
from models.codec import decode_dead_letter, decode_event, decode_raw
from tests import amazon_payloads, bol_payloads, shopify_payloads, woocommerce_payloads
from tests.support import (
    OPERATOR_TOKEN,
    SECRET,
    VIEWER_TOKEN,
    WOOCOMMERCE_SECRET,
    read_topic,
)

SHOPIFY, WOOCOMMERCE, BOL, AMAZON = "fuzz-shopify", "fuzz-woo", "fuzz-bol", "fuzz-amazon"
AMAZON_SECRET = "fuzz-amazon-relay-secret"
BOL_KEY = SigningKey.generate("fuzz-0")
#: The fuzzed stores, appended to the test config (bol's API is a closed port: polls fail fast).
STORES = f"""
[[stores]]
id = "{SHOPIFY}"
company_id = "acme-nl"
marketplace = "shopify"
shop_domain = "acme.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"

[[stores]]
id = "{WOOCOMMERCE}"
company_id = "acme-nl"
marketplace = "woocommerce"
webhook_secret_env = "TEST_WOOCOMMERCE_SECRET"

[[stores]]
id = "{BOL}"
company_id = "acme-nl"
marketplace = "bol"
client_id_env = "FUZZ_BOL_CLIENT_ID"
client_secret_env = "FUZZ_BOL_CLIENT_SECRET"
public_keys_env = "FUZZ_BOL_PUBLIC_KEYS"
api_base_url = "http://127.0.0.1:9"
token_url = "http://127.0.0.1:9/token"
poll_interval_seconds = 3600

[[stores]]
id = "{AMAZON}"
company_id = "acme-nl"
marketplace = "amazon"
webhook_secret_env = "FUZZ_AMAZON_RELAY_SECRET"
"""
ENV = {
    "FUZZ_BOL_CLIENT_ID": "fuzz-client",
    "FUZZ_BOL_CLIENT_SECRET": "fuzz-secret",
    "FUZZ_BOL_PUBLIC_KEYS": BOL_KEY.public_pem,
    "FUZZ_AMAZON_RELAY_SECRET": AMAZON_SECRET,
}
FUZZED_STORES = frozenset({SHOPIFY, WOOCOMMERCE, BOL, AMAZON})


@dataclass(frozen=True)
class Request:
    route: str  # shopify | woocommerce | bol | amazon | api
    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    signed: bool

    def wire(self) -> bytes:
        head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
            self.method,
            self.target,
        )
        if not any(name.lower() == b"content-length" for name, _ in self.headers):
            head += b"Content-Length: %d\r\n" % len(self.body)
        head += b"".join(name + b": " + value + b"\r\n" for name, value in self.headers)
        return head + b"\r\n" + self.body


# --- hostile values -----------------------------------------------------------------------

#: Values that cannot be right somewhere in an order: planted where a real value was.
NASTY_VALUES: list[Any] = [
    "-0",
    "",
    " ",
    "ZZ",
    "\u0000",
    "\ud7ff\u202e",
    "../../token",
    "%2e%2e%2f",
    -1,
    -(10**6),
    0,
    10**30,
    "1e400",
    "NaN",
    "-Infinity",
    1e308,
    -1e-308,
    "9" * 400,
    True,
    None,
    [],
    {},
    [1, [2, [3]]],
    {"$ref": "#"},
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "\u00e9\u00e8\u4e2d\U0001f600",
]
header_bytes = st.binary(min_size=0, max_size=40).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def dumps(value: Any) -> bytes:
    """JSON of any generated value: orjson, or the standard library where orjson refuses (big
    integers, lone surrogates), which is hostile input too."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value).encode()


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _planted(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    planted = copy.deepcopy(document)
    target = planted
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return planted


@st.composite
def _document_body(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """The document as it is, with hostile values planted, replaced by random JSON, or bytes."""
    kind = draw(st.sampled_from(["as-is", "planted", "planted", "planted", "json", "bytes"]))
    if kind == "json":
        return dumps(draw(json_values))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    for _ in range(draw(st.integers(0 if kind == "as-is" else 1, 3)) if kind != "as-is" else 0):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        value = draw(st.sampled_from(NASTY_VALUES) | json_values)
        try:
            document = _planted(document, path, value)
        except (TypeError, orjson.JSONEncodeError):
            continue
    return dumps(document)


def _base_document(route: str, n: int) -> dict[str, Any]:
    if route == "shopify":
        return shopify_payloads.order(890000 + n)
    if route == "woocommerce":
        return woocommerce_payloads.order(890000 + n)
    if route == "bol":
        return bol_payloads.push(
            resource_id=str(1_089_000_000 + n), timestamp=f"2026-11-02T10:00:{n % 60:02d}+01:00"
        )
    return amazon_payloads.notification(
        notification_id=str(uuid.uuid4()), order_id=f"028-{n % 10_000_000:07d}-0000001"
    )


def _signature_headers(route: str, body: bytes, signing: str) -> list[tuple[bytes, bytes]]:
    if signing == "missing":
        return []
    if route == "shopify":
        secret = SECRET.encode() if signing == "valid" else b"forged"
        value = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        return [(b"X-Shopify-Hmac-Sha256", value)]
    if route == "woocommerce":
        secret = WOOCOMMERCE_SECRET.encode() if signing == "valid" else b"forged"
        value = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        return [(b"X-WC-Webhook-Signature", value)]
    if route == "bol":
        signed = body if signing == "valid" else body + b" "
        value = f'keyId=fuzz-0, algorithm="rsa-sha256", signature={BOL_KEY.signature(signed)}'
        return [(b"Signature", value.encode())]
    token = AMAZON_SECRET if signing == "valid" else "forged-token"
    return [(b"X-Winkel-Token", token.encode())]


def _marketplace_headers(route: str, body: bytes, n: int) -> list[tuple[bytes, bytes]]:
    if route == "shopify":
        return [
            (b"Content-Type", b"application/json"),
            (b"X-Shopify-Topic", b"orders/create"),
            (b"X-Shopify-Webhook-Id", str(uuid.uuid4()).encode()),
            (b"X-Shopify-Event-Id", str(uuid.uuid4()).encode()),
            (b"X-Shopify-Shop-Domain", b"acme.myshopify.com"),
            (b"X-Shopify-Triggered-At", b"2026-11-02T09:00:00.000Z"),
        ]
    if route == "woocommerce":
        return [
            (b"Content-Type", b"application/json"),
            (b"X-WC-Webhook-Source", woocommerce_payloads.SOURCE.encode()),
            (b"X-WC-Webhook-Topic", b"order.updated"),
            (b"X-WC-Webhook-Resource", b"order"),
            (b"X-WC-Webhook-Event", b"updated"),
            (b"X-WC-Webhook-ID", b"7"),
            (b"X-WC-Webhook-Delivery-ID", uuid.uuid4().hex.encode()),
        ]
    return [(b"Content-Type", b"application/json")]


WEBHOOK_TOPICS = {
    "shopify": [b"orders/create", b"orders/paid", b"refunds/create", b"fulfillments/create"],
    "woocommerce": [b"order.created", b"order.deleted", b"order.polled", b"product.updated"],
}


@st.composite
def webhook_requests(draw: st.DrawFn, route: str) -> Request:
    n = draw(st.integers(0, 999_999))
    body = draw(_document_body(_base_document(route, n)))
    signing = draw(st.sampled_from(["valid", "valid", "valid", "invalid", "missing"]))
    headers = _marketplace_headers(route, body, n)
    if route in WEBHOOK_TOPICS and draw(st.booleans()):
        topic_name = b"X-Shopify-Topic" if route == "shopify" else b"X-WC-Webhook-Topic"
        topic = draw(st.sampled_from(WEBHOOK_TOPICS[route]))
        headers = [(k, topic if k == topic_name else v) for k, v in headers]
    # Hostile header bytes: replace some headers' values, add strange ones.
    for index in draw(st.lists(st.integers(0, max(0, len(headers) - 1)), max_size=2)):
        if headers:
            headers[index] = (headers[index][0], draw(header_bytes))
    wire_body = body
    encoding = draw(st.sampled_from([None, None, None, b"gzip", b"deflate", b"br", b"x\xff"]))
    if encoding is not None:
        headers.append((b"Content-Encoding", encoding))
        if encoding == b"gzip" and draw(st.booleans()):
            wire_body = gzip.compress(body)
    signature = _signature_headers(route, body if wire_body == body else wire_body, signing)
    if signature and draw(st.integers(0, 9)) == 0:  # a signature header of hostile bytes
        signature = [(signature[0][0], draw(header_bytes) + "\u00e9".encode())]
    stores = {"shopify": SHOPIFY, "woocommerce": WOOCOMMERCE, "bol": BOL, "amazon": AMAZON}
    store = stores[route].encode()
    if draw(st.integers(0, 19)) == 0:
        store = draw(st.sampled_from([b"nope", b"%2e%2e", b"fuzz-shopify%00", b"..", b"\xff"]))
    target = b"/webhooks/%s/%s" % (route.encode(), store)
    return Request(
        route,
        b"POST",
        target,
        tuple(headers + signature),
        wire_body,
        signing == "valid",
    )


API_TARGETS = [
    b"/api/orders",
    b"/api/orders?q=%s",
    b"/api/orders?limit=%s",
    b"/api/orders?stage=%s&marketplace=%s",
    b"/api/orders/%s",
    b"/api/orders/%s/status",
    b"/api/deadletters",
    b"/api/deadletters?limit=%s",
    b"/api/deadletters/%s/replay",
    b"/api/pollers",
    b"/api/vat/thresholds",
    b"/api/stats",
    b"/api/session",
    b"/api/ws-ticket",
    b"/api/openapi.json",
    b"/healthz",
    b"/metrics",
    b"/ws",
]
url_piece = st.one_of(
    st.sampled_from([b"", b"0", b"-1", b"99999999999999999999", b"%ff", b"..%2f", b"a%00b"]),
    st.uuids().map(lambda u: str(u).encode()),
    st.binary(max_size=12).map(lambda raw: "".join(f"%{b:02x}" for b in raw).encode()),
)


@st.composite
def api_requests(draw: st.DrawFn) -> Request:
    template = draw(st.sampled_from(API_TARGETS))
    target = template
    while b"%s" in target:
        target = target.replace(b"%s", draw(url_piece), 1)
    method = draw(st.sampled_from([b"GET", b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS"]))
    token = draw(
        st.sampled_from(
            [None, OPERATOR_TOKEN.encode(), VIEWER_TOKEN.encode(), b"wrong", b"\xff\xfe\xc3"]
        )
    )
    headers: list[tuple[bytes, bytes]] = [(b"Content-Type", b"application/json")]
    if token is not None:
        headers.append((b"Authorization", b"Bearer " + token))
    if draw(st.integers(0, 4)) == 0:
        headers.append((b"Content-Encoding", draw(st.sampled_from([b"gzip", b"br", b"\xe9"]))))
    body = draw(
        st.one_of(
            st.just(b""),
            json_values.map(dumps),
            st.fixed_dictionaries(
                {
                    "action": st.sampled_from(["cancel", "mark_shipped", "nope"]) | json_values,
                    "reason": st.text(max_size=600) | json_values,
                }
            ).map(dumps),
            st.binary(max_size=100),
        )
    )
    return Request("api", method, target, tuple(headers), body, token is not None)


def requests() -> st.SearchStrategy[Request]:
    return st.one_of(
        webhook_requests("shopify"),
        webhook_requests("woocommerce"),
        webhook_requests("bol"),
        webhook_requests("amazon"),
        api_requests(),
    )


# --- sending and the books -----------------------------------------------------------------


def send(port: int, request: Request, timeout: float = 30.0) -> tuple[int, bytes]:
    """Status and body of one request over a fresh connection (0: no answer at all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        # The server may answer (413, 400) and close before it has read everything.
        with contextlib.suppress(OSError):
            connection.sendall(request.wire())
        received = bytearray()
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except OSError:
            pass
    if not received.startswith(b"HTTP/1."):
        return 0, bytes(received)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@dataclass
class Campaign:
    port: int
    statuses: Counter[int] = field(default_factory=Counter)
    by_route: Counter[tuple[str, int]] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[Request, int, bytes]] = field(default_factory=list)
    unanswered: list[Request] = field(default_factory=list)
    accepted_unsigned: list[Request] = field(default_factory=list)

    def run(self, request: Request) -> None:
        status, body = send(self.port, request)
        self.statuses[status] += 1
        self.by_route[request.route, status // 100 * 100] += 1
        if status == 0:
            self.unanswered.append(request)
        elif status >= 500:
            self.server_errors.append((request, status, body[:300]))
        elif request.route != "api" and 200 <= status < 300 and b'"accepted"' in body:
            self.accepted[request.route] += 1
            if not request.signed:
                self.accepted_unsigned.append(request)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def fives(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass
class Books:
    """Every raw record of the fuzzed stores, and what became of it."""

    raw: int = 0
    with_events: int = 0
    dead_letters: int = 0
    prompts: int = 0
    nothing_by_design: int = 0
    crashes: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


RAW_TOPICS = ("winkel.raw.shopify", "winkel.raw.woocommerce", "winkel.raw.bol", "winkel.raw.amazon")


async def account(bootstrap: str, config: Config) -> Books:
    """Read the raw topics, the order events and the dead letters and balance them."""
    from agents.normalize import NORMALISERS

    books = Books()
    sources: set[str] = set()
    for record in await read_topic(bootstrap, "winkel.orders.events"):
        if record.value is not None:
            event = decode_event(record.value)
            if event.ref.store_id in FUZZED_STORES:
                sources.add(event.source)
    letters: dict[tuple[str, int, int], str] = {}
    for record in await read_topic(bootstrap, "winkel.deadletter"):
        if record.value is not None:
            letter = decode_dead_letter(record.value)
            letters[letter.source_topic, letter.partition, letter.offset] = letter.reason
    for topic in RAW_TOPICS:
        for record in await read_topic(bootstrap, topic):
            if record.value is None:
                continue
            delivery = decode_raw(record.value)
            if delivery.store_id not in FUZZED_STORES or delivery.topic.endswith("polled"):
                continue
            books.raw += 1
            where = f"{topic}:{record.partition}:{record.offset}"
            reason = letters.get((topic, record.partition, record.offset))
            if reason is not None:
                if reason.startswith("internal error"):
                    books.crashes.append(f"{where}: {reason}")
                else:
                    books.dead_letters += 1
                    books.reasons[reason.split(":")[0][:60]] += 1
                continue
            if f"webhook:{delivery.delivery_id}" in sources:
                books.with_events += 1
                continue
            if delivery.marketplace.value in {"bol", "amazon"}:
                books.prompts += 1  # a notification: it asks for a fetch, by design no facts
                continue
            store = config.stores[delivery.store_id]
            try:
                events = NORMALISERS[delivery.marketplace](delivery, store)
            except Exception:  # the worker will dead-letter it: not yet accounted
                events = None
            if events == []:
                books.nothing_by_design += 1  # e.g. a draft order, an unfinished fulfilment
                continue
            books.unaccounted.append(f"{where}: {delivery.delivery_id}")
    return books


def report(campaign: Campaign, books: Books | None) -> str:
    lines = [
        f"requests: {campaign.total}",
        f"statuses: {dict(sorted(campaign.statuses.items()))}",
        f"5xx: {campaign.fives}",
        f"no answer: {len(campaign.unanswered)}",
        f"accepted (2xx, stored): {sum(campaign.accepted.values())} {dict(campaign.accepted)}",
        f"accepted without a valid signature or token: {len(campaign.accepted_unsigned)}",
    ]
    for route in ("shopify", "woocommerce", "bol", "amazon", "api"):
        row = {
            f"{status // 100}xx": n
            for (r, status), n in sorted(campaign.by_route.items())
            if r == route
        }
        lines.append(f"  {route}: {row}")
    if books is not None:
        lines += [
            f"raw records of the fuzzed stores: {books.raw}",
            f"  with order events: {books.with_events}",
            f"  dead-lettered with a reason: {books.dead_letters}",
            f"  prompts (bol/Amazon notifications, fetch only): {books.prompts}",
            f"  no events by design: {books.nothing_by_design}",
            f"  crashes (internal error): {len(books.crashes)}",
            f"  unaccounted: {len(books.unaccounted)}",
            f"  top dead-letter reasons: {books.reasons.most_common(8)}",
        ]
    for request, status, body in campaign.server_errors[:5]:
        lines.append(f"5xx example: {status} {request.method!r} {request.target!r} {body!r}")
    return "\n".join(lines)


async def settle(bootstrap: str, config: Config, expected_raw: int, patience: float) -> Books:
    """The books once the worker has processed every raw record (or `patience` ran out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        books = await account(bootstrap, config)
        done = books.raw >= expected_raw and not books.unaccounted
        if done or loop.time() > deadline:
            return books
        await asyncio.sleep(2.0)

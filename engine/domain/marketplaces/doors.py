"""The webhook doors of the four marketplaces, all of one shape (`WebhookDoor`).

One ingest handler (web/ingest.py) serves every marketplace by asking its door, in this
order: is it a ping; is it authentic (`verify`, 401); is it a delivery this door takes at all
(`check`, 400 with the reason); which delivery, topic and order it is; and, once kept, what
the store's poller should fetch now (`after_accept`). The doors are pure: the handler does
the I/O. They live apart from the marketplace modules because they also speak `polling`'s
fetch requests, and `polling` builds on those modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.domain import polling
from engine.domain.config import Store
from engine.domain.exceptions import InputError
from engine.domain.marketplaces import amazon, amazon_relay, bol, shopify, woocommerce
from models.order import Marketplace
from models.raw import RawDelivery


@dataclass(frozen=True, slots=True)
class PromptFetch:
    """What a kept delivery asks the store's poller to fetch now (a Redis list the poller
    waits on); the poll is the backstop when the ask is lost."""

    fetch: polling.PushFetch
    #: The delivery id the poller writes once it has fetched this: no ask when it is done.
    unless_delivered: str | None = None


class WebhookDoor(Protocol):
    """How one marketplace's webhooks are recognised, checked and identified."""

    @property
    def marketplace(self) -> Marketplace: ...

    @property
    def kept_headers(self) -> tuple[str, ...]:
        """The request headers kept with the delivery (each checked to be plain text)."""

    @property
    def engine_topics(self) -> frozenset[str]:
        """Topics only the engine's own pollers write: a webhook naming one is refused."""

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        """A handshake answered 200, unsigned and unstored (WooCommerce's ping)."""

    def verify(
        self, headers: Mapping[str, str], body: bytes, store: Store, keys: Sequence[bytes]
    ) -> None:
        """`SignatureError` (401) unless the delivery is authentic and from this store."""

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        """`InputError` (400, its text the answer) for a body this door never takes."""

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The marketplace's id of this delivery, the same on its retries (None: 400)."""

    def topic(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """What the delivery is (None: 400)."""

    def external_order_id(self, topic: str, body: bytes) -> str | None:
        """The marketplace's order the delivery is about, where it says so (keys the record)."""

    def after_accept(self, store: Store, delivery: RawDelivery, first: bool) -> PromptFetch | None:
        """What to ask the store's poller for once the delivery is kept (`first`: not a
        duplicate)."""


class _Door:
    """What a door does unless it says otherwise: no ping, no topics of its own, no body it
    refuses before reading its ids, nothing to fetch after."""

    engine_topics: frozenset[str] = frozenset()

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        return False

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        return None

    def after_accept(self, store: Store, delivery: RawDelivery, first: bool) -> PromptFetch | None:
        return None


class ShopifyDoor(_Door):
    """HMAC-signed bodies that carry the order itself."""

    marketplace = Marketplace.SHOPIFY
    kept_headers = shopify.KEPT_HEADERS

    def verify(
        self, headers: Mapping[str, str], body: bytes, store: Store, keys: Sequence[bytes]
    ) -> None:
        shopify.verify(body, headers, keys)
        shopify.check_source(headers, store)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return shopify.delivery_id(headers)

    def topic(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return shopify.topic(headers)

    def external_order_id(self, topic: str, body: bytes) -> str | None:
        return shopify.external_order_id(topic, body)


class WooCommerceDoor(_Door):
    """HMAC-signed bodies that carry the order itself; a refund lists only its ids."""

    marketplace = Marketplace.WOOCOMMERCE
    kept_headers = woocommerce.KEPT_HEADERS
    engine_topics = frozenset({woocommerce.POLLED_TOPIC, polling.WOOCOMMERCE_REFUNDS_TOPIC})

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        return woocommerce.is_ping(body, headers)

    def verify(
        self, headers: Mapping[str, str], body: bytes, store: Store, keys: Sequence[bytes]
    ) -> None:
        woocommerce.verify(body, headers, keys)
        woocommerce.check_source(headers, store)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return woocommerce.delivery_id(headers, body)

    def topic(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return woocommerce.topic(headers)

    def external_order_id(self, topic: str, body: bytes) -> str | None:
        return woocommerce.external_order_id(topic, body)

    def after_accept(self, store: Store, delivery: RawDelivery, first: bool) -> PromptFetch | None:
        """The order's refunds, when the webhook lists refund ids (WooCommerce bodies hold
        only their ids), duplicate or not, unless they were fetched already. Whatever the
        order's age: the poll's `modified_after` window would find an old order's refund
        late or never."""
        wanted = woocommerce.refunds_to_fetch(delivery.topic, delivery.body)
        if wanted is None or not store.polled:
            return None
        order_id, refund_ids = wanted
        return PromptFetch(
            polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, order_id),
            unless_delivered=polling.woocommerce_refunds_delivery_id(order_id, refund_ids),
        )


class BolDoor(_Door):
    """bol.com: RSA-signed pushes that name what changed and carry no order data."""

    marketplace = Marketplace.BOL
    kept_headers: tuple[str, ...] = ()

    def verify(
        self, headers: Mapping[str, str], body: bytes, store: Store, keys: Sequence[bytes]
    ) -> None:
        bol.verify(body, headers, keys)

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        notification = bol.parse_notification(body)
        if notification is None:
            raise InputError("not a bol push notification")
        # Its id would become a URL path on bol's host: a strange one is never fetched.
        bol.check_notification(notification)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return bol.delivery_id(headers, body)

    def topic(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return bol.topic(body)

    def external_order_id(self, topic: str, body: bytes) -> str | None:
        return bol.external_order_id(topic, body)

    def after_accept(self, store: Store, delivery: RawDelivery, first: bool) -> PromptFetch | None:
        notification = bol.parse_notification(delivery.body)
        fetch = None if notification is None else polling.push_fetch(notification)
        return PromptFetch(fetch) if fetch is not None and first else None


class AmazonDoor(_Door):
    """Amazon: ORDER_CHANGE notifications relayed from the seller's SQS queue with a shared
    secret. A relay may only prompt a fetch, never write order data (`amazon_relay`)."""

    marketplace = Marketplace.AMAZON
    kept_headers = amazon.KEPT_HEADERS

    def verify(
        self, headers: Mapping[str, str], body: bytes, store: Store, keys: Sequence[bytes]
    ) -> None:
        amazon.verify(body, headers, keys)

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        amazon_relay.order_change(body)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return amazon.delivery_id(headers, body)

    def topic(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return amazon.NOTIFICATION_TYPE

    def external_order_id(self, topic: str, body: bytes) -> str | None:
        return amazon.external_order_id(body)

    def after_accept(self, store: Store, delivery: RawDelivery, first: bool) -> PromptFetch | None:
        order_id = amazon.external_order_id(delivery.body)
        if order_id is None or not first:
            return None
        return PromptFetch(polling.PushFetch("ORDER", order_id))


DOORS: Mapping[Marketplace, WebhookDoor] = {
    door.marketplace: door for door in (ShopifyDoor(), WooCommerceDoor(), BolDoor(), AmazonDoor())
}

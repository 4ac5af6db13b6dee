"""The relay's door: the shared-secret check and what an ORDER_CHANGE notification names."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain.exceptions import SignatureError
from engine.domain.marketplaces._door import header_bytes, header_value, json_object
from engine.domain.marketplaces.amazon.wire import NOTIFICATION_TYPE, TOKEN_HEADER
from models.codec import DecodeError, parse_utc


def verify(body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes]) -> None:
    """Accept the relay's delivery if `X-Winkel-Token` equals one of the store's secrets.

    SP-API notifications carry no signature of their own (SQS is authenticated by IAM;
    docs/marketplaces.md §8.4), so the seller's forwarder presents a shared secret. Compared
    in constant time; several secrets are accepted while a rotation settles.
    """
    del body  # the token authenticates the sender, not the body
    presented = header_value(headers, TOKEN_HEADER)
    if not presented:
        raise SignatureError(f"missing {TOKEN_HEADER} header")
    given = header_bytes(presented.strip())
    candidates = [secret for secret in secrets if secret]
    if not candidates:
        raise SignatureError("no shared secret is configured for this store")
    matched = False
    for secret in candidates:  # no early exit: every secret is compared
        matched |= hmac.compare_digest(given, secret)
    if not matched:
        raise SignatureError(f"{TOKEN_HEADER} does not match the store's secret")


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What an `ORDER_CHANGE` notification says: which order to fetch, and why."""

    notification_id: str
    amazon_order_id: str
    event_time: datetime | None
    seller_id: str | None
    marketplace_id: str | None
    order_status: str | None
    change_type: str | None
    change_reason: str | None


def _notification_object(body: bytes) -> dict[str, Any] | None:
    document = json_object(body)
    if document is None:
        return None
    # An EventBridge rule forwards the notification as the event's `detail`.
    detail = document.get("detail")
    if "NotificationType" not in document and isinstance(detail, dict):
        return detail
    return document


def parse_notification(body: bytes) -> OrderChange | None:
    """The ORDER_CHANGE in `body`, or None if it is not one (the route answers 400 then)."""
    document = _notification_object(body)
    if document is None or document.get("NotificationType") != NOTIFICATION_TYPE:
        return None
    payload = document.get("Payload")
    metadata = document.get("NotificationMetadata")
    if not isinstance(payload, dict) or not isinstance(metadata, dict):
        return None
    change = payload.get("OrderChangeNotification")
    if not isinstance(change, dict):
        return None
    notification_id = metadata.get("NotificationId")
    order_id = change.get("AmazonOrderId")
    if not isinstance(notification_id, str) or not notification_id.strip():
        return None
    if not isinstance(order_id, str) or not order_id.strip():
        return None
    summary = change.get("Summary")
    summary = summary if isinstance(summary, dict) else {}
    trigger = change.get("OrderChangeTrigger")
    trigger = trigger if isinstance(trigger, dict) else {}

    def text(source: Mapping[str, Any], key: str) -> str | None:
        value = source.get(key)
        return value if isinstance(value, str) and value else None

    event_time: datetime | None = None
    raw_time = text(document, "EventTime")
    if raw_time is not None:
        try:
            event_time = parse_utc(raw_time, "$.EventTime")
        except DecodeError:
            event_time = None
    return OrderChange(
        notification_id=notification_id.strip(),
        amazon_order_id=order_id.strip(),
        event_time=event_time,
        seller_id=text(change, "SellerId"),
        marketplace_id=text(summary, "MarketplaceId"),
        order_status=text(summary, "OrderStatus"),
        change_type=text(change, "OrderChangeType"),
        change_reason=text(trigger, "ChangeReason"),
    )


def notification_identity(body: bytes) -> tuple[str, str] | None:
    """(NotificationId, NotificationType) of any SP-API notification, ORDER_CHANGE or not.

    The route keeps a verified notification of another type (it is dead-lettered downstream,
    never bounced: the relay would only retry it); a body without these is no delivery.
    """
    document = _notification_object(body)
    metadata = None if document is None else document.get("NotificationMetadata")
    if document is None or not isinstance(metadata, dict):
        return None
    notification_id, kind = metadata.get("NotificationId"), document.get("NotificationType")
    if not isinstance(notification_id, str) or not notification_id.strip():
        return None
    if not isinstance(kind, str) or not kind.strip():
        return None
    return notification_id.strip(), kind.strip()


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """`NotificationMetadata.NotificationId`: the same on SQS redeliveries
    (docs/marketplaces.md §8.3)."""
    del headers
    change = parse_notification(body)
    return None if change is None else change.notification_id


def external_order_id(body: bytes) -> str | None:
    change = parse_notification(body)
    return None if change is None else change.amazon_order_id

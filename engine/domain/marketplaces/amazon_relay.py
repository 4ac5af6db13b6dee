"""The Amazon relay's door: only `ORDER_CHANGE` notifications, checked against a schema.

A relayed notification may only ever prompt a fetch (the order is read from the SP-API by
the engine itself), so the route takes exactly the notification type the store subscribes to
and nothing else: no other type, and above all no order document (`orders/v0/order` is what
the engine's own fetcher writes; a relay must never be able to write one). The schema follows
`schemas/notifications/OrderChangeNotification.json` of the SP-API models in what the engine
relies on; fields Amazon adds later are allowed.
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.domain.exceptions import InputError
from engine.domain.marketplaces.amazon.door import OrderChange, parse_notification
from engine.domain.marketplaces.amazon.wire import NOTIFICATION_TYPE

#: Amazon order ids are three digits, seven digits, seven digits (`028-1234567-7654321`).
AMAZON_ORDER_ID = r"^[0-9]{3}-[0-9]{7}-[0-9]{7}$"
_PLAIN_ID = r"^[A-Za-z0-9._:-]{1,128}$"

ORDER_CHANGE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SP-API ORDER_CHANGE notification",
    "type": "object",
    "required": ["NotificationType", "Payload", "NotificationMetadata"],
    "properties": {
        "NotificationType": {"const": NOTIFICATION_TYPE},
        "NotificationVersion": {"type": "string"},
        "PayloadVersion": {"type": "string"},
        "EventTime": {"type": "string"},
        "Payload": {
            "type": "object",
            "required": ["OrderChangeNotification"],
            "properties": {
                "OrderChangeNotification": {
                    "type": "object",
                    "required": ["AmazonOrderId"],
                    "properties": {
                        "AmazonOrderId": {"type": "string", "pattern": AMAZON_ORDER_ID},
                        "SellerId": {"type": "string"},
                        "NotificationLevel": {"enum": ["OrderLevel", "OrderItemLevel"]},
                        "OrderChangeType": {"type": "string"},
                        "OrderChangeTrigger": {"type": "object"},
                        "Summary": {"type": "object"},
                    },
                }
            },
        },
        "NotificationMetadata": {
            "type": "object",
            "required": ["NotificationId"],
            "properties": {"NotificationId": {"type": "string", "pattern": _PLAIN_ID}},
        },
    },
}
_VALIDATOR = Draft202012Validator(ORDER_CHANGE_SCHEMA)


def order_change(body: bytes) -> OrderChange:
    """The `ORDER_CHANGE` in a relayed body; `InputError` saying why it is not one.

    An EventBridge rule forwards the notification as the event's `detail`; both are taken.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InputError("not an SP-API notification: the body is not JSON") from None
    if isinstance(document, dict) and "NotificationType" not in document:
        detail = document.get("detail")
        document = detail if isinstance(detail, dict) else document
    error = best_match(_VALIDATOR.iter_errors(document))
    if error is not None:
        where = error.json_path
        raise InputError(f"not an ORDER_CHANGE notification: {where}: {error.message[:200]}")
    change = parse_notification(orjson.dumps(document))
    if change is None:  # the schema and the parser disagree: refuse rather than guess
        raise InputError("not an ORDER_CHANGE notification")
    return change

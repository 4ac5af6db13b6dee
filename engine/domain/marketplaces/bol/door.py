"""The push door: RSA signatures, bol's public keys, and what a push notification names."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from engine.domain.exceptions import ConfigError, NormalisationError, SignatureError
from engine.domain.marketplaces._door import header_value, json_object
from engine.domain.marketplaces.bol.wire import (
    ORDER_DOCUMENT_TOPIC,
    SHIPMENT_DOCUMENT_TOPIC,
    SIGNATURE_ALGORITHM,
    SIGNATURE_HEADER,
    _Doc,
)


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    key_id: str | None
    algorithm: str | None
    signature: bytes


_SIGNATURE_PART = re.compile(r'\s*([A-Za-z]+)\s*=\s*("([^"]*)"|[^,]*)\s*(?:,|$)')


def parse_signature_header(value: str) -> SignatureHeader:
    """`keyId=0, algorithm="rsa-sha256", signature=<base64>`, quoted or not, in any order."""
    parts: dict[str, str] = {}
    for match in _SIGNATURE_PART.finditer(value):
        name, bare, quoted = match.group(1), match.group(2), match.group(3)
        parts[name.lower()] = (quoted if quoted is not None else bare).strip()
    encoded = parts.get("signature")
    if not encoded:
        raise SignatureError(f"{SIGNATURE_HEADER} header has no signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} signature is not base64") from None
    return SignatureHeader(parts.get("keyid") or None, parts.get("algorithm") or None, signature)


@lru_cache(maxsize=64)
def _public_key(material: bytes) -> rsa.RSAPublicKey:
    """A PEM public key, or bol's bare base64 DER (`/retailer/subscriptions/signature-keys`)."""
    try:
        if b"-----BEGIN" in material:
            key = serialization.load_pem_public_key(material)
        else:
            # base64 copied into an environment variable may be wrapped over several lines
            der = base64.b64decode(b"".join(material.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"not a usable bol public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("bol signs with RSA, but a configured public key is not an RSA key")
    return key


def load_public_key(material: str | bytes) -> rsa.RSAPublicKey:
    """Parse one configured key now, so a bad one fails at start-up rather than per delivery."""
    return _public_key((material.encode() if isinstance(material, str) else material).strip())


_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def parse_public_keys(text: str) -> tuple[str, ...]:
    """Keys from one environment variable: PEM blocks back to back, or comma-separated base64."""
    blocks = tuple(block.group(0) for block in _PEM_BLOCK.finditer(text))
    if blocks:
        return blocks
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_signature_keys(body: bytes) -> dict[str, str]:
    """`GET /retailer/subscriptions/signature-keys`: key id -> base64 public key."""
    document = _Doc.parse(body)
    keys: dict[str, str] = {}
    for entry in document.children("signatureKeys"):
        if entry.text("type", "RSA") != "RSA":
            continue
        keys[entry.ident("id")] = entry.text("publicKey")
    return keys


def verify(
    body: bytes,
    headers: Mapping[str, str],
    public_keys: Mapping[str, str | bytes] | Iterable[str | bytes],
) -> None:
    """Accept the push if its RSA-SHA256 (PKCS#1 v1.5) signature over the raw body verifies.

    `public_keys` is either key id -> key (the header's `keyId` is then tried first) or just
    the keys; any configured key may sign, so a rotation can overlap. Keys are PEM or bol's
    base64 DER. Raises `SignatureError`, or `ConfigError` for a key that cannot be parsed.
    """
    value = header_value(headers, SIGNATURE_HEADER)
    if not value:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    header = parse_signature_header(value)
    if header.algorithm is not None and header.algorithm.lower() != SIGNATURE_ALGORITHM:
        raise SignatureError(f"unsupported signature algorithm {header.algorithm!r}")
    candidates: list[str | bytes]
    if isinstance(public_keys, str | bytes):
        candidates = [public_keys]
    elif isinstance(public_keys, Mapping):
        named = public_keys.get(header.key_id) if header.key_id is not None else None
        candidates = [named] if named is not None else []
        candidates += [key for key in public_keys.values() if key is not named]
    else:
        candidates = list(public_keys)
    if not candidates:
        raise SignatureError("no bol public key is configured for this store")
    for material in candidates:
        try:
            load_public_key(material).verify(
                header.signature, body, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            continue
        return
    raise SignatureError(f"{SIGNATURE_HEADER} does not verify against any configured key")


@dataclass(frozen=True, slots=True)
class Notification:
    """`{"retailerId", "timestamp", "event": {"resource", "type", "resourceId"}}`."""

    retailer_id: str | None
    timestamp: str
    resource: str
    resource_id: str
    type: str

    @property
    def delivery_id(self) -> str:
        """bol's redelivery carries the same four values: the dedupe key
        (docs/marketplaces.md §8.3)."""
        return f"{self.resource}:{self.resource_id}:{self.type}:{self.timestamp}"

    @property
    def topic(self) -> str:
        return f"{self.resource}:{self.type}"


#: bol's order, shipment and return ids are letters and digits (`1043946570`, `A2K8290LP8`);
#: they become URL paths on bol's host, so nothing else is ever let through.
PATH_ID = re.compile(r"[A-Za-z0-9]{1,64}")
#: Resources whose pushes name something to fetch; their ids must be `PATH_ID`s.
FETCHED_RESOURCES = frozenset({"ORDER", "SHIPMENT"})
_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
#: Other resources' ids (offers are UUIDs) are never fetched but key the delivery.
_OTHER_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9T:.+Z -]{1,64}")


def path_id(value: str, what: str) -> str:
    """`value` if it is a bol id (`PATH_ID`), quoted for a URL path; else `NormalisationError`."""
    if not PATH_ID.fullmatch(value):
        raise NormalisationError(f"{what} {value[:80]!r} is not a bol id (letters and digits)")
    return urllib.parse.quote(value, safe="")


def check_notification(notification: Notification) -> None:
    """Refuse a push whose fields are not what bol sends (`NormalisationError` says which):
    resource and type are upper-case words, the time is a time, and the id of an ORDER or
    SHIPMENT (what the poller will fetch) is a bol id."""
    if not _WORD.fullmatch(notification.resource):
        raise NormalisationError(f"event.resource {notification.resource[:80]!r} is not bol's")
    if not _WORD.fullmatch(notification.type):
        raise NormalisationError(f"event.type {notification.type[:80]!r} is not bol's")
    if not _TIMESTAMP.fullmatch(notification.timestamp):
        raise NormalisationError(f"timestamp {notification.timestamp[:80]!r} is not a time")
    if notification.retailer_id is not None and not _OTHER_ID.fullmatch(notification.retailer_id):
        raise NormalisationError("retailerId is not an id")
    if notification.resource in FETCHED_RESOURCES:
        path_id(notification.resource_id, f"{notification.resource} resourceId")
    elif not _OTHER_ID.fullmatch(notification.resource_id):
        raise NormalisationError(f"resourceId {notification.resource_id[:80]!r} is not an id")


def parse_notification(body: bytes) -> Notification | None:
    """The push in `body`, or None if it is not one (the route answers 400 then)."""
    document = json_object(body)
    event = None if document is None else document.get("event")
    if document is None or not isinstance(event, dict):
        return None
    fields = (event.get("resource"), event.get("resourceId"), event.get("type"))
    timestamp = document.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        return None
    if not all(isinstance(f, str | int) and not isinstance(f, bool) and f != "" for f in fields):
        return None
    resource, resource_id, kind = (str(f) for f in fields)
    retailer = document.get("retailerId")
    return Notification(
        retailer_id=None if retailer is None else str(retailer),
        timestamp=timestamp,
        resource=resource,
        resource_id=resource_id,
        type=kind,
    )


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """bol sends no delivery id header: the id is (resource, resourceId, type, timestamp)."""
    del headers  # same shape as the other marketplaces; bol puts everything in the body
    notification = parse_notification(body)
    return None if notification is None else notification.delivery_id


def topic(body: bytes) -> str | None:
    notification = parse_notification(body)
    return None if notification is None else notification.topic


def external_order_id(delivery_topic: str, body: bytes) -> str | None:
    """The bol order a delivery is about, where it says so plainly (keys the raw record)."""
    if delivery_topic.startswith("ORDER:"):
        notification = parse_notification(body)
        return None if notification is None else notification.resource_id
    document = json_object(body)
    if document is None:
        return None
    if delivery_topic == ORDER_DOCUMENT_TOPIC:
        value = document.get("orderId")
    elif delivery_topic == SHIPMENT_DOCUMENT_TOPIC:
        order = document.get("order")
        value = order.get("orderId") if isinstance(order, dict) else None
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def notification_order_ids(body: bytes) -> list[str]:
    """The orders an ORDER push asks us to fetch (other resources name no order)."""
    notification = parse_notification(body)
    if notification is None or notification.resource != "ORDER":
        return []
    return [notification.resource_id]

"""What every webhook door shares: reading untrusted header text without ever raising.

Header values reach the door as `str`; aiohttp decodes bytes that are not UTF-8 as lone
surrogates ("surrogateescape"), which `str.encode()` and `hmac.compare_digest` on `str` refuse
with an exception. A signature check must say yes or no, never throw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from engine.domain.exceptions import SignatureError

#: Printable text without control characters; header values we keep or key by must be this.
_PLAIN = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


def header_bytes(value: str) -> bytes:
    """The header's text as bytes for comparing; any `str`, surrogates included, encodes."""
    return value.encode("utf-8", "backslashreplace")


def same_secret(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of a computed signature or secret and what the sender gave."""
    left = header_bytes(expected) if isinstance(expected, str) else expected
    right = header_bytes(given) if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def is_plain_text(value: str, limit: int = 1024) -> bool:
    """Whether a header value is text we can store and key by: valid Unicode (no bytes that
    were not UTF-8), no control characters, at most `limit` characters."""
    return len(value) <= limit and _PLAIN.fullmatch(value) is not None


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively also for plain dicts (aiohttp's are case-blind)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in `body`, or None: for a door, which must not raise on content."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def header_number(value: str | None, *, positive: bool = False) -> float | None:
    """A finite number of at least zero (`positive`: above zero) in a header, else None:
    a rate or a wait a marketplace sends, which a garbled value must never turn into an
    exception or an endless wait."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        return None
    return number


def hmac_sha256_base64(body: bytes, secret: bytes) -> str:
    """Base64 of the HMAC-SHA256 of the raw body: what Shopify and WooCommerce sign with."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def verify_hmac(
    body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes], header: str
) -> None:
    """Accept the delivery if `header` holds the body's HMAC under any current secret
    (rotations overlap); checked over the bytes as received. `SignatureError` otherwise."""
    given = header_value(headers, header)
    if not given:
        raise SignatureError(f"missing {header}")
    if not any(same_secret(hmac_sha256_base64(body, secret), given) for secret in secrets):
        raise SignatureError(f"{header} does not match the body")

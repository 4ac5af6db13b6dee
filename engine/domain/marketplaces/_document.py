"""Typed reads from a marketplace's JSON, shared by the marketplace modules.

Each module subclasses `Document` with the reads its marketplace needs (id, text, amount and
time formats differ); navigation and the body check are the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

import orjson

from engine.domain.exceptions import NormalisationError
from models.codec import DecodeError, parse_utc


class Document:
    """One JSON object and its path from the body's root; every failure names the field."""

    def __init__(self, data: Any, path: str) -> None:
        self.data = data
        self.path = path

    @classmethod
    def parse(cls, body: bytes) -> Self:
        """The body as a JSON object, or `NormalisationError` saying why it is not one."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise NormalisationError(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise NormalisationError("body is not a JSON object")
        return cls(data, "$")

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def _absent(self, value: object) -> bool:
        return value is None

    def child(self, key: str) -> Self | None:
        value = self.data.get(key)
        if self._absent(value):
            return None
        if not isinstance(value, dict):
            raise NormalisationError(f"{self.path}.{key} must be an object")
        return type(self)(value, f"{self.path}.{key}")

    def children(self, key: str) -> list[Self]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise NormalisationError(f"{self.path}.{key} must be a list of objects")
        return [type(self)(item, f"{self.path}.{key}[{index}]") for index, item in enumerate(value)]

    def time(self, key: str) -> datetime:
        """An ISO-8601 time with its offset, as UTC."""
        raw = self.data.get(key)
        if not isinstance(raw, str):
            raise NormalisationError(f"{self.path}.{key} must be an ISO-8601 time, got {raw!r}")
        try:
            return parse_utc(raw, f"{self.path}.{key}")
        except DecodeError as exc:
            raise NormalisationError(str(exc)) from None

    def opt_time(self, key: str) -> datetime | None:
        return None if self.data.get(key) in (None, "") else self.time(key)


class ApiDocument(Document):
    """A marketplace API's JSON (bol, Amazon, Shopify): text is a string, a count a whole
    number."""

    #: Whether text is read without its surrounding white space (Shopify's is kept as sent).
    STRIP_TEXT: ClassVar[bool] = True

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise NormalisationError(f"{self.path}.{key} must be text, got {value!r}")
        return value.strip() if self.STRIP_TEXT else value

    def count(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NormalisationError(f"{self.path}.{key} must be a count, got {value!r}")
        return value

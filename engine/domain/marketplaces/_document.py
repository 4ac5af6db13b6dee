"""Typed reads from a marketplace's JSON, shared by the marketplace modules.

Each module subclasses `Document` with the reads its marketplace needs (id, text, amount and
time formats differ); navigation and the body check are the same everywhere.
"""

from __future__ import annotations

from typing import Any, Self

import orjson

from engine.domain.exceptions import NormalisationError


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

"""What the OAuth marketplaces (bol, Amazon) share on the wire: an API request, the token
request, and the access token their token endpoints answer with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, NamedTuple, Self

from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._document import ApiDocument


class ApiRequest(NamedTuple):
    """A GET against a marketplace API: path (from the API base URL), query and headers."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


class TokenRequest(NamedTuple):
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class BearerToken:
    """An access token and when it expires, reused for its whole lifetime minus `MARGIN`
    (clock skew, and a request that starts just before expiry)."""

    token: str
    expires_at: datetime

    MARGIN: ClassVar[timedelta] = timedelta(seconds=60)

    def valid(self, now: datetime, margin: timedelta | None = None) -> bool:
        return bool(self.token) and now < self.expires_at - (
            self.MARGIN if margin is None else margin
        )

    @classmethod
    def from_response(cls, body: bytes, now: datetime) -> Self:
        """The token endpoint's answer: `access_token`, `token_type` bearer, `expires_in`."""
        document = ApiDocument.parse(body)
        token = document.text("access_token")
        if not token:
            raise NormalisationError("$.access_token is missing")
        if document.text("token_type", "bearer").lower() != "bearer":
            raise NormalisationError(f"unexpected token_type {document.get('token_type')!r}")
        return cls(token, now + timedelta(seconds=document.count("expires_in")))

"""The one error family of Winkel Orders.

Every error the engine raises on purpose roots at `WinkelError` and is one of two kinds, as in
httpx and eventsourcing:

- `InputError`: the input can never be right as it is. Retrying the same bytes gives the same
  answer, so the shell answers 4xx (HTTP) or dead-letters the record with the reason (streams).
- `TransientError`: a dependency (Kafka, Redis, a marketplace API) is unavailable for now. The
  same request may succeed later, so the shell answers 503 with `Retry-After` or retries.

It lives in `models`, the lowest layer, so every layer above can raise and catch it.
"""

from __future__ import annotations


class WinkelError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(WinkelError):
    """Input that can never be processed as it is: 4xx over HTTP, a dead letter in a stream."""


class TransientError(WinkelError):
    """A dependency is unavailable for now: 503 with Retry-After over HTTP, a retry in a stream.

    `dependency` names what is missing (``"kafka"``, ``"redis"``, a marketplace API) so health
    checks and logs can say it.
    """

    def __init__(self, message: str, *, dependency: str = "") -> None:
        super().__init__(message)
        self.dependency = dependency

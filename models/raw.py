"""A marketplace delivery exactly as it arrived: what `web/ingest` writes to `winkel.raw.*`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from models.order import Marketplace

RAW_SCHEMA = "winkel.raw/1"


@dataclass(frozen=True, slots=True)
class RawDelivery:
    marketplace: Marketplace
    store_id: str
    delivery_id: str
    topic: str
    received_at: datetime
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something the engine could not process, with why, and the original bytes to replay."""

    dead_letter_id: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    reason: str
    failed_at: datetime
    original: bytes

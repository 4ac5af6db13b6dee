"""Operator commands on `winkel.orders.commands`: status changes made by a person, with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

ORDER_COMMAND_SCHEMA = "winkel.order-command/1"


class OperatorAction(StrEnum):
    MARK_PAID = "mark_paid"  # payment arrived outside the marketplace (e.g. bank transfer)
    MARK_SHIPPED = "mark_shipped"  # every unit not cancelled left the warehouse
    CANCEL = "cancel"  # cancel every unit not shipped yet


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    command_id: str  # chosen by the sender; a repeated command id is applied once
    order_uuid: UUID
    operator_id: str
    action: OperatorAction
    reason: str
    issued_at: datetime

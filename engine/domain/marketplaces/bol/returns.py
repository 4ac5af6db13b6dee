"""Returns: placing bol's returned items (named by EAN) on the order's lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.domain.config import Store
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.marketplaces.bol.wire import (
    CREDITED_HANDLING_RESULTS,
    MARKETPLACE,
    REFUSED_PROCESSING_RESULTS,
    _Doc,
)
from models.events import (
    OrderEvent,
    ReturnReceived,
    ReturnRequested,
)
from models.order import (
    LineQuantity,
    Return,
)


@dataclass(frozen=True, slots=True)
class OrderItemRef:
    order_id: str
    order_item_id: str
    ean: str
    quantity: int


def order_items(order_json: bytes) -> list[OrderItemRef]:
    """An order's items by EAN: what a return (which names only order and EAN) is placed on."""
    order = _Doc.parse(order_json)
    order_id = order.ident("orderId")
    refs = []
    for item in order.children("orderItems"):
        product = item.child("product")
        refs.append(
            OrderItemRef(
                order_id,
                item.ident("orderItemId"),
                product.text("ean") if product else "",
                item.count("quantity"),
            )
        )
    return refs


@dataclass(frozen=True, slots=True)
class UnplacedReturnItem:
    """A return item whose order line is not known yet: fetch the order, then parse again."""

    rma_id: str
    order_id: str
    ean: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedReturns:
    events: tuple[OrderEvent, ...]
    unplaced: tuple[UnplacedReturnItem, ...]


def _returns(document: _Doc) -> list[_Doc]:
    """A list page (`{"returns": [...]}`), one Return, or `{}` for an empty page."""
    if "returns" in document.data or "returnId" not in document.data:
        return document.children("returns")
    return [document]


def return_order_ids(body: bytes) -> list[str]:
    """Orders whose items `parse_returns` needs for this body, in first-seen order."""
    seen: dict[str, None] = {}
    for ret in _returns(_Doc.parse(body)):
        for item in ret.children("returnItems"):
            seen.setdefault(item.ident("orderId"), None)
    return list(seen)


def _place(item: _Doc, order_items: Sequence[OrderItemRef]) -> str | None:
    """The order item a return item belongs to.

    Matched on EAN. Should one order hold the same EAN twice (two offers of one product),
    the first item with enough units is taken; an `orderItemId` on the return item wins.
    """
    given = item.opt_ident("orderItemId")
    if given is not None:
        return given
    ean = item.text("ean")
    expected = item.count("expectedQuantity", 1)
    candidates = sorted(
        (ref for ref in order_items if ref.ean == ean), key=lambda ref: ref.order_item_id
    )
    fitting = [ref for ref in candidates if ref.quantity >= expected] or candidates
    return fitting[0].order_item_id if fitting else None


def _reason(item: _Doc) -> str | None:
    reason = item.child("returnReason")
    if reason is None:
        return None
    parts = [reason.text("mainReason"), reason.text("detailedReason")]
    comments = reason.text("customerComments")
    text = " / ".join(part for part in parts if part)
    if comments:
        text = f"{text}: {comments}" if text else comments
    return text or None


def parse_returns(
    body: bytes,
    store: Store,
    received_at: datetime,
    items: Mapping[str, Sequence[OrderItemRef]],
    source: str = "poll",
) -> ParsedReturns:
    """ReturnRequested per return item (rmaId), ReturnReceived per credited processing result.

    `items` maps order id -> `order_items(...)` for every order in `return_order_ids(body)`.
    A processing result counts as received when its handlingResult is one of
    `CREDITED_HANDLING_RESULTS` and bol did not refuse it; the others close nothing here.
    """
    events: list[OrderEvent] = []
    unplaced: list[UnplacedReturnItem] = []
    for ret in _returns(_Doc.parse(body)):
        registered_at = ret.time("registrationDateTime")
        for item in ret.children("returnItems"):
            rma_id, order_id = item.ident("rmaId"), item.ident("orderId")
            known = items.get(order_id)
            line_id = _place(item, known or ())
            if line_id is None:
                why = "order not fetched" if known is None else "EAN not in the order"
                unplaced.append(UnplacedReturnItem(rma_id, order_id, item.text("ean"), why))
                continue
            order_events = OrderEvents(MARKETPLACE, store, order_id, received_at, source)
            reason = _reason(item)
            expected = item.count("expectedQuantity")
            request = Return(rma_id, registered_at, (LineQuantity(line_id, expected),), reason)
            events.append(
                order_events.make(
                    f"return-request:{rma_id}", registered_at, ReturnRequested(request)
                )
            )
            for index, result in enumerate(item.children("processingResults")):
                if result.text("handlingResult") not in CREDITED_HANDLING_RESULTS:
                    continue
                if result.text("processingResult").upper() in REFUSED_PROCESSING_RESULTS:
                    continue
                at = result.opt_time("processingDateTime")
                fact = f"{rma_id}@{at.isoformat()}" if at else f"{rma_id}#{index}"
                quantity = result.count("quantity", expected)
                received = Return(
                    fact, at or registered_at, (LineQuantity(line_id, quantity),), reason
                )
                events.append(
                    order_events.make(f"return:{fact}", received.at, ReturnReceived(received))
                )
    return ParsedReturns(tuple(events), tuple(unplaced))

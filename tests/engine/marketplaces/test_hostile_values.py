"""What the doors and normalisers do with hostile values: refuse with a reason, never raise
anything else, never let an id become a path."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.exceptions import InputError, NormalisationError, SignatureError
from engine.domain.marketplaces import _sanity, amazon, bol, shopify, woocommerce
from engine.domain.marketplaces._door import is_plain_text, same_secret
from engine.domain.money import parse_amount
from models.events import DetailsReported, ShipmentSent
from models.order import Customer, LineKind, LineQuantity, OrderDetails, OrderLine, Shipment

SECRETS = (b"s3cret",)


@given(st.text())
def test_signature_checks_say_no_and_never_throw(value: str) -> None:
    for verify, header in (
        (shopify.verify, shopify.SIGNATURE_HEADER),
        (woocommerce.verify, woocommerce.SIGNATURE_HEADER),
        (amazon.verify, amazon.TOKEN_HEADER),
        (bol.verify, bol.SIGNATURE_HEADER),
    ):
        with pytest.raises(SignatureError):
            verify(b"{}", {header: value}, SECRETS if verify is not bol.verify else ())


def test_surrogate_escaped_header_bytes_compare_without_an_exception() -> None:
    escaped = b"abc\xff".decode("utf-8", "surrogateescape")
    assert not same_secret("abc", escaped)
    assert same_secret("abc", "abc")
    assert not is_plain_text(escaped)
    assert not is_plain_text("a\x00b")
    assert is_plain_text("acme.myshopify.com")


@pytest.mark.parametrize(
    "resource_id", ["../../token", "1/2", "%2e%2e", "1 2", "", "a" * 65, "1043965710?x=1"]
)
def test_a_bol_id_that_is_not_letters_and_digits_never_becomes_a_path(resource_id: str) -> None:
    with pytest.raises(NormalisationError, match="not a bol id"):
        bol.order_request(resource_id)
    with pytest.raises(NormalisationError):
        bol.shipment_request(resource_id)
    with pytest.raises(NormalisationError):
        bol.return_request(resource_id)
    notification = bol.Notification(None, "2026-11-02T10:00:03+01:00", "ORDER", resource_id, "X")
    with pytest.raises(InputError):
        bol.check_notification(notification)


def test_real_bol_ids_pass() -> None:
    assert bol.order_request("1043965710").path == "/retailer/orders/1043965710"
    assert bol.order_request("A2K8290LP8").path == "/retailer/orders/A2K8290LP8"
    offer = bol.Notification("1", "2026-11-02T10:00:03+01:00", "OFFER", "13722de8-8182", "X")
    bol.check_notification(offer)  # not fetched: an offer's UUID is fine


def test_a_huge_amount_or_rate_is_refused_with_a_reason() -> None:
    with pytest.raises(NormalisationError, match="sane bound"):
        parse_amount("1e30", "$.total")
    assert parse_amount("999999999.99", "$.total") == Decimal("999999999.99")


def _details(country: str | None = "NL", quantity: int = 1, rate: str = "0.21") -> OrderDetails:
    moment = datetime(2026, 11, 2, tzinfo=UTC)
    line = OrderLine(
        "1",
        "SKU",
        "A thing",
        quantity,
        Decimal(10),
        Decimal(2),
        Decimal(12),
        Decimal(rate),
        LineKind.PRODUCT,
    )
    return OrderDetails("#1", "EUR", Customer("Sanne", country), (line,), moment, moment)


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (_details(country="-0"), "ISO 3166"),
        (_details(country="ZZ"), "ISO 3166"),
        (_details(quantity=-1), "quantity"),
        (_details(rate="1000"), "VAT rate"),
    ],
)
def test_the_sanity_check_names_what_cannot_be_right(details: OrderDetails, reason: str) -> None:
    with pytest.raises(NormalisationError, match=reason):
        _sanity.check(DetailsReported(details))


def test_sane_orders_and_kosovo_pass() -> None:
    _sanity.check(DetailsReported(_details()))
    _sanity.check(DetailsReported(_details(country="XK")))
    _sanity.check(DetailsReported(_details(country=None)))
    moment = datetime(2026, 11, 2, tzinfo=UTC)
    with pytest.raises(NormalisationError, match="quantity"):
        _sanity.check(ShipmentSent(Shipment("s", moment, (LineQuantity("1", -2),))))


@pytest.mark.parametrize("order_id", ["../../token", "12/34", "", "١٢"])
def test_a_woocommerce_order_id_that_is_not_a_number_never_becomes_a_path(order_id: str) -> None:
    with pytest.raises(NormalisationError, match="not a WooCommerce order id"):
        woocommerce.refunds_request("https://shop.example", order_id)
    assert woocommerce.refunds_request("https://shop.example", "4711")[0].endswith(
        "/orders/4711/refunds"
    )

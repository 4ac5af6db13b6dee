"""What the VAT step is told about the customer and the prices (docs/vat.md §2, §5).

Business detection from Shopify note attributes and WooCommerce order meta (configurable per
store), the price basis each marketplace states, and the `[vat]` configuration.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from engine.domain.config import InvoiceGranularity, Store, parse_config
from engine.domain.exceptions import ConfigError
from engine.domain.marketplaces import shopify, woocommerce
from models.events import DetailsReported
from models.order import Customer, Marketplace, OrderDetails
from models.raw import RawDelivery
from tests import shopify_payloads as shop
from tests import woocommerce_payloads as woo

RECEIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHOPIFY = Store("s", "c", Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
WOO = Store("w", "c", Marketplace.WOOCOMMERCE, InvoiceGranularity.PER_ORDER)


def details(events: list[Any]) -> OrderDetails:
    found = [e.payload.details for e in events if isinstance(e.payload, DetailsReported)]
    assert len(found) == 1
    return found[0]


def shopify_details(document: dict[str, Any], store: Store = SHOPIFY) -> OrderDetails:
    raw = RawDelivery(
        Marketplace.SHOPIFY, store.id, "d", "orders/create", RECEIVED, {}, orjson.dumps(document)
    )
    return details(shopify.normalise(raw, store))


def woo_details(document: dict[str, Any], store: Store = WOO) -> OrderDetails:
    raw = RawDelivery(
        Marketplace.WOOCOMMERCE,
        store.id,
        "d",
        "order.created",
        RECEIVED,
        {},
        orjson.dumps(document),
    )
    return details(woocommerce.normalise(raw, store))


def test_shopify_reads_the_vat_id_from_note_attributes() -> None:
    document = shop.order(1, country="de", company=None)
    document["note_attributes"] = [
        {"name": "gift_note", "value": "happy birthday"},
        {"name": "vat_number", "value": " de 136 695 976 "},
    ]
    customer = shopify_details(document).customer
    assert customer == Customer(
        name="Sanne de Vries",
        country="DE",
        vat_id="DE136695976",
        is_business=True,
        email="sanne@example.com",
    )


def test_shopify_attribute_names_are_configurable_per_store() -> None:
    document = shop.order(1, country="BE")
    document["note_attributes"] = [
        {"name": "Ondernemingsnummer", "value": "BE0428759497"},
        {"name": "Firma", "value": "Peeters BV"},
        {"name": "vat_number", "value": "BE0000000000"},  # not this store's field
    ]
    store = replace(SHOPIFY, vat_id_fields=("Ondernemingsnummer",), company_fields=("Firma",))
    customer = shopify_details(document, store).customer
    assert (customer.name, customer.vat_id, customer.is_business) == (
        "Peeters BV",
        "BE0428759497",
        True,
    )


def test_shopify_consumers_stay_consumers_and_the_price_basis_is_recorded() -> None:
    customer_details = shopify_details(shop.order(1, taxes_included=False))
    assert not customer_details.customer.is_business
    assert customer_details.customer.vat_id is None
    assert customer_details.prices_include_vat is False
    assert shopify_details(shop.order(1)).prices_include_vat is True


def test_woocommerce_vat_meta_keys_are_configurable_per_store() -> None:
    document = woo.order(1, meta_data=[{"id": 1, "key": "_eu_vat_id", "value": "de136695976"}])
    assert woo_details(document).customer.vat_id is None  # not a default key
    store = replace(WOO, vat_id_fields=("_eu_vat_id",))
    customer = woo_details(document, store).customer
    assert (customer.vat_id, customer.is_business) == ("DE136695976", True)
    assert woo_details(document).prices_include_vat is True
    assert woo_details(woo.order(2, prices_include_tax=False)).prices_include_vat is False


def test_the_vat_configuration() -> None:
    config = parse_config(
        {
            "companies": [{"id": "c", "name": "C", "country": "NL"}],
            "stores": [
                {
                    "id": "s",
                    "company_id": "c",
                    "marketplace": "shopify",
                    "vat_id_fields": ["btw"],
                }
            ],
            "vat": {"categories": {"BOOK": "reduced", "CARD": "zero"}},
        },
        {},
    )
    assert config.vat.pipeline is True
    assert dict(config.vat.categories) == {"BOOK": "reduced", "CARD": "zero"}
    assert config.stores["s"].vat_id_fields == ("btw",)
    assert config.stores["s"].company_fields == ()
    off = parse_config({"vat": {"pipeline": False}}, {})
    assert off.vat.pipeline is False
    with pytest.raises(ConfigError, match="unknown categories"):
        parse_config({"vat": {"categories": {"BOOK": "super-reduced"}}}, {})
    with pytest.raises(ConfigError, match="vat_id_fields"):
        parse_config(
            {
                "companies": [{"id": "c", "name": "C", "country": "NL"}],
                "stores": [
                    {"id": "s", "company_id": "c", "marketplace": "shopify", "vat_id_fields": "x"}
                ],
            },
            {},
        )

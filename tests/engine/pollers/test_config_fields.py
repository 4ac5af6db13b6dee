"""The pollers' store fields in the config: parsed, checked, and which stores are polled."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from engine.domain.config import DEMO_CONFIG, load_config, parse_config
from engine.domain.exceptions import ConfigError
from models.order import Marketplace


def with_store(**store: Any) -> dict[str, Any]:
    document = tomllib.loads(DEMO_CONFIG.read_text())
    document["stores"] = [
        {"id": "s1", "company_id": "winkel-nl", "invoice_granularity": "per_order", **store}
    ]
    return document


def test_a_bol_store_with_its_api_and_keys() -> None:
    config = parse_config(
        with_store(
            marketplace="bol",
            api_base_url="http://127.0.0.1:9999/",
            token_url="http://127.0.0.1:9999/token",
            client_id_env="BOL_ID",
            client_secret_env="BOL_SECRET",
            public_keys_env="BOL_KEYS",
            poll_interval_seconds=60,
        ),
        {},
    )
    store = config.stores["s1"]
    assert store.marketplace is Marketplace.BOL
    assert store.api_base_url == "http://127.0.0.1:9999"  # no trailing slash
    assert (store.client_id_env, store.client_secret_env) == ("BOL_ID", "BOL_SECRET")
    assert store.public_keys_env == "BOL_KEYS"
    assert store.poll_interval_seconds == 60.0
    assert store.polled
    assert store.env_value({"BOL_ID": " abc "}, store.client_id_env, "client_id_env") == "abc"
    with pytest.raises(ConfigError, match="BOL_SECRET is not set"):
        store.env_value({}, store.client_secret_env, "client_secret_env")


def test_woocommerce_and_shopify_are_polled_once_their_api_is_configured() -> None:
    woo = parse_config(with_store(marketplace="woocommerce"), {}).stores["s1"]
    assert not woo.polled
    polled = parse_config(
        with_store(
            marketplace="woocommerce",
            api_base_url="https://shop.example",
            consumer_key_env="CK",
            consumer_secret_env="CS",
        ),
        {},
    ).stores["s1"]
    assert polled.polled
    shopify = parse_config(
        with_store(
            marketplace="shopify",
            api_base_url="https://acme.myshopify.com",
            access_token_env="TOKEN",
        ),
        {},
    ).stores["s1"]
    assert shopify.polled


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"marketplace": "bol"}, "needs `client_id_env`"),
        ({"marketplace": "bol", "client_id_env": "X"}, "go together"),
        (
            {"marketplace": "woocommerce", "consumer_key_env": "K", "consumer_secret_env": "S"},
            "needs `api_base_url`",
        ),
        ({"marketplace": "shopify", "access_token_env": "T"}, "needs `api_base_url`"),
        (
            {
                "marketplace": "bol",
                "client_id_env": "X",
                "client_secret_env": "Y",
                "api_base_url": "ftp://x",
            },
            "http",
        ),
        (
            {
                "marketplace": "bol",
                "client_id_env": "X",
                "client_secret_env": "Y",
                "poll_interval_seconds": 0,
            },
            "positive",
        ),
        ({"marketplace": "bol", "client_id_env": "", "client_secret_env": "Y"}, "non-empty"),
    ],
)
def test_wrong_poller_fields_are_named(store: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(with_store(**store), {})


def test_the_demo_has_a_polled_bol_store() -> None:
    config = load_config(DEMO_CONFIG, env={})
    bol_stores = [s for s in config.stores.values() if s.marketplace is Marketplace.BOL]
    assert bol_stores and all(s.polled and s.api_base_url for s in bol_stores)

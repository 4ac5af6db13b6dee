"""Configuration: the shipped demo file, environment overrides, and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.domain.config import DEMO_CONFIG, InvoiceGranularity, load_config, parse_config
from engine.domain.exceptions import ConfigError


def test_the_demo_config_loads_with_contract_defaults() -> None:
    config = load_config(DEMO_CONFIG, env={})
    assert config.kafka.bootstrap == "127.0.0.1:9092"
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert (config.web_host, config.web_port) == ("127.0.0.1", 8080)
    store = config.stores["demo-shopify"]
    assert config.company_of(store).country == "NL"
    assert store.invoice_granularity is InvoiceGranularity.PER_ORDER


def test_environment_overrides_the_file() -> None:
    config = load_config(
        DEMO_CONFIG,
        env={
            "WINKEL_KAFKA_BOOTSTRAP": "kafka:9092",
            "WINKEL_REDIS_URL": "redis://cache:6379/1",
            "WINKEL_WEB_PORT": "9000",
        },
    )
    assert (config.kafka.bootstrap, config.redis_url, config.web_port) == (
        "kafka:9092",
        "redis://cache:6379/1",
        9000,
    )


def test_secrets_come_from_the_named_variable_and_may_rotate() -> None:
    store = load_config(DEMO_CONFIG, env={}).stores["demo-shopify"]
    assert store.webhook_secrets({"WINKEL_DEMO_SHOPIFY_SECRET": "new, old"}) == (b"new", b"old")
    with pytest.raises(ConfigError, match="WINKEL_DEMO_SHOPIFY_SECRET is not set"):
        store.webhook_secrets({})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"company_id": "nobody"}, "unknown company_id"),
        ({"marketplace": "etsy"}, "etsy"),
        ({"invoice_granularity": "weekly"}, "weekly"),
        ({"locations": {"1": "nobody"}}, "unknown companies"),
    ],
)
def test_a_wrong_store_is_named_in_the_error(change: dict[str, object], message: str) -> None:
    document = tomllib.loads(DEMO_CONFIG.read_text())
    document["stores"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(document, {})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_vies_is_off_unless_the_config_enables_it() -> None:
    assert parse_config({}, {}).vat.vies is False
    settings = parse_config(
        {"vat": {"vies": True, "vies_url": "http://127.0.0.1:8099/", "vies_timeout_seconds": 1}},
        {},
    ).vat
    assert (settings.vies, settings.vies_url, settings.vies_timeout_seconds) == (
        True,
        "http://127.0.0.1:8099",
        1.0,
    )
    assert parse_config({"vat": {"vies": True}}, {}).vat.vies_url == (
        "https://ec.europa.eu/taxation_customs/vies/rest-api"
    )


@pytest.mark.parametrize(
    "vat",
    [{"vies": "yes"}, {"vies_url": "ftp://vies"}, {"vies_timeout_seconds": 0}],
)
def test_vies_settings_that_cannot_work_are_refused(vat: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="vies"):
        parse_config({"vat": vat}, {})

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


# --- fail fast: every wrong type names its field, and only --demo invents secrets -----------

WRONG = [
    ('[kafka]\npartitions = "four"\n', "[kafka] partitions"),
    ("[kafka]\npartitions = 0\n", "[kafka] partitions"),
    ('[kafka]\nsession_timeout_seconds = "long"\n', "[kafka] session_timeout_seconds"),
    ('[kafka]\nidempotent_producer = "maybe"\n', "[kafka] idempotent_producer"),
    ("[redis]\ndedupe_ttl_seconds = 1.5\n", "[redis] dedupe_ttl_seconds"),
    ("[redis]\nurl = 6379\n", "[redis] url"),
    ('[web]\nport = "http"\n', "[web] port"),
    ("[operators]\ntoken_env = 1\n", "[operators] token_env"),
    ("[operators]\nviewer_token_env = []\n", "[operators] viewer_token_env"),
    ("companies = 3\n", "[[companies]]"),
    ("stores = [1, 2]\n", "[[stores]]"),
    (
        '[[companies]]\nid = "c"\nname = "C"\ncountry = "NL"\noss_registered = "yes"\n',
        "oss_registered",
    ),
    (
        '[[companies]]\nid = "c"\nname = "C"\ncountry = "NL"\n'
        '[[stores]]\nid = "s"\ncompany_id = "c"\nmarketplace = "shopify"\nlocations = 5\n',
        "locations",
    ),
]


@pytest.mark.parametrize(("text", "field"), WRONG)
def test_a_wrong_type_is_a_config_error_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(tomllib.loads(text), {})


def test_environment_overrides_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="WINKEL_WEB_PORT"):
        parse_config({}, {"WINKEL_WEB_PORT": "eighty"})
    with pytest.raises(ConfigError, match="WINKEL_WEB_PORT"):
        parse_config({}, {"WINKEL_WEB_PORT": "70000"})


def test_the_command_line_exits_2_naming_the_field_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.toml"
    path.write_text('[kafka]\npartitions = "four"\n')
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--config", str(path), "web"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "[kafka] partitions" in done.stderr
    assert "Traceback" not in done.stderr


def test_outside_the_demo_a_missing_secret_is_a_config_error_naming_it() -> None:
    from engine.cli import _checked_environment, _demo_environment
    from engine.domain.config import check_secrets

    config = load_config(DEMO_CONFIG, {})
    with pytest.raises(ConfigError, match="WINKEL_DEMO_SHOPIFY_SECRET") as missing:
        _checked_environment(config, {"WINKEL_OPERATOR_TOKEN": "t"})
    assert "WINKEL_OPERATOR_TOKEN" not in str(missing.value)
    with pytest.raises(ConfigError, match="WINKEL_OPERATOR_TOKEN"):
        check_secrets(config, {})
    invented = _demo_environment(config, {})  # only the demo invents secrets
    check_secrets(config, invented)
    bad_key = {**invented, "WINKEL_DEMO_BOL_PUBLIC_KEYS": "bm90IGEga2V5"}
    with pytest.raises(ConfigError, match="WINKEL_DEMO_BOL_PUBLIC_KEYS"):
        _checked_environment(config, bad_key)


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

"""The engine's configuration: one TOML file (`WINKEL_CONFIG`) plus environment overrides.

Parsing is pure (`parse_config`); only `load_config` touches the file system. Secrets are never
in the file: stores name the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.domain.exceptions import ConfigError
from engine.domain.stuck import DEFAULT_LIMITS, parse_limits
from models.order import Marketplace

DEMO_CONFIG = Path(__file__).with_name("demo.toml")


#: Amazon Orders API versions a store may read (docs/amazon.md).
ORDERS_API_VERSIONS = ("2026-01-01", "v0")


class InvoiceGranularity(StrEnum):
    PER_ORDER = "per_order"
    PER_SHIPMENT = "per_shipment"


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    country: str
    vat_id: str | None
    oss_registered: bool


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    company_id: str
    marketplace: Marketplace
    invoice_granularity: InvoiceGranularity
    webhook_secret_env: str | None = None
    shop_domain: str | None = None
    locations: Mapping[str, str] = field(default_factory=dict)
    #: Marketplace API access for the pollers (engine/shell/pollers); secrets by variable name only.
    #: bol: OAuth2 client credentials and the push notifications' RSA public keys;
    #: WooCommerce: REST consumer key and secret; Shopify: an Admin API access token.
    api_base_url: str | None = None
    #: WooCommerce: the site's home URL, which its webhooks name in `X-WC-Webhook-Source`; a
    #: delivery naming another site is refused (docs/topics.md). Unset: not checked.
    site_url: str | None = None
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    public_keys_env: str | None = None
    consumer_key_env: str | None = None
    consumer_secret_env: str | None = None
    access_token_env: str | None = None
    #: Seconds between two polls of this store (None: the marketplace's default).
    poll_interval_seconds: float | None = None
    #: Amazon (SP-API): the marketplace id orders are polled in (e.g. A1PA6795UKMFR9 for
    #: amazon.de), the variable holding the LWA refresh token (client id and secret come from
    #: `client_id_env` and `client_secret_env`, LWA's URL from `token_url`), and whether Amazon
    #: issues this store's invoices (VAT Calculation Service option 1): then the engine asks
    #: for no invoice. The relayed notifications' shared secret is `webhook_secret_env`.
    amazon_marketplace_id: str | None = None
    refresh_token_env: str | None = None
    amazon_issues_invoices: bool = False
    #: The country of the FBA warehouse this store's Amazon-fulfilled (AFN) orders ship from:
    #: Orders API v0 names none, and the VAT origin is the warehouse's country (docs/vat.md).
    #: Unset: AFN orders ship from the company's country, which is only right for FBA stock
    #: held there.
    fba_ship_from_country: str | None = None
    #: Amazon Orders API the poller reads: "2026-01-01" (default) or "v0" (switched off by
    #: Amazon on 2027-03-27). Switching re-invoices nothing: events keep their ids.
    orders_api_version: str = "2026-01-01"
    #: Business customers (docs/vat.md): the order fields that may hold the customer's VAT id
    #: and company name: Shopify note attribute names, WooCommerce order meta keys. Empty: the
    #: marketplace module's defaults.
    vat_id_fields: tuple[str, ...] = ()
    company_fields: tuple[str, ...] = ()
    #: WooCommerce: the order (or line item) meta keys naming the fulfilment location that
    #: `locations` maps to companies; empty: the module's defaults (`mw_warehouse`).
    location_fields: tuple[str, ...] = ()
    #: How long an order of this store may wait per stage before the stuck worklist shows it
    #: (engine/domain/stuck.py): the config's `[stuck_after]` defaults, then the store's own.
    stuck_after: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    def env_value(self, env: Mapping[str, str], variable: str | None, what: str) -> str:
        """The value of the variable the config names for `what`; an error names both."""
        if variable is None:
            raise ConfigError(f"store {self.id!r} has no {what}")
        value = env.get(variable, "").strip()
        if not value:
            raise ConfigError(f"store {self.id!r}: environment variable {variable} is not set")
        return value

    @property
    def polled(self) -> bool:
        """Whether a poll loop runs for this store (bol always; others once an API is set)."""
        if self.marketplace is Marketplace.BOL:
            return True
        if self.marketplace is Marketplace.WOOCOMMERCE:
            return self.api_base_url is not None and self.consumer_key_env is not None
        if self.marketplace is Marketplace.SHOPIFY:
            return self.api_base_url is not None and self.access_token_env is not None
        # Amazon
        return self.refresh_token_env is not None and self.amazon_marketplace_id is not None

    def webhook_secrets(self, env: Mapping[str, str]) -> tuple[bytes, ...]:
        """The store's current secrets; several (comma-separated) while a rotation settles."""
        if self.webhook_secret_env is None:
            raise ConfigError(f"store {self.id!r} has no webhook_secret_env")
        raw = env.get(self.webhook_secret_env, "")
        secrets = tuple(part.strip().encode() for part in raw.split(",") if part.strip())
        if not secrets:
            raise ConfigError(
                f"store {self.id!r}: environment variable {self.webhook_secret_env} is not set"
            )
        return secrets


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = 8
    # Tansu has no idempotent producer (docs/design.md "Tansu quirks"); Apache Kafka does.
    idempotent_producer: bool = True
    # How soon a worker that died without leaving is noticed and its partitions handed over.
    # Shorter hands over faster, but a worker starved of CPU for that long is expelled while
    # still working, and a zombie's late writes are exactly what at-least-once must survive.
    session_timeout_seconds: float = 30.0


TAX_CATEGORIES = frozenset({"standard", "reduced", "zero"})
DEFAULT_VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
DEFAULT_VIES_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class VatSettings:
    """`[vat]`: the VAT step (docs/vat.md).

    `pipeline`: triggers go through the `vat` agent (dated rates, OSS threshold, reverse
    charge); off, the orders agent emits them with the marketplace's own tax lines.
    `categories`: SKU -> `standard` | `reduced` | `zero`; unlisted SKUs are `standard`.
    `vies`: check business customers' VAT numbers in VIES before a reverse charge (`vies_url`,
    the REST interface; at most `vies_timeout_seconds`, then the checksum decides).
    """

    pipeline: bool = True
    categories: Mapping[str, str] = field(default_factory=dict)
    vies: bool = False
    vies_url: str = DEFAULT_VIES_URL
    vies_timeout_seconds: float = DEFAULT_VIES_TIMEOUT_SECONDS


def _vat(document: Mapping[str, Any]) -> VatSettings:
    vat = _table(document, "vat")
    categories = vat.get("categories", {})
    if not isinstance(categories, dict):
        raise ConfigError("[vat.categories] must be a table of SKU = category")
    wrong = {sku: c for sku, c in categories.items() if c not in TAX_CATEGORIES}
    if wrong:
        raise ConfigError(
            f"[vat.categories]: unknown categories {wrong}; use {sorted(TAX_CATEGORIES)}"
        )
    pipeline = vat.get("pipeline", True)
    if not isinstance(pipeline, bool):
        raise ConfigError("[vat] pipeline must be true or false")
    vies = vat.get("vies", False)
    if not isinstance(vies, bool):
        raise ConfigError("[vat] vies must be true or false")
    vies_url = vat.get("vies_url", DEFAULT_VIES_URL)
    if not isinstance(vies_url, str) or not vies_url.startswith(("http://", "https://")):
        raise ConfigError(f"[vat] vies_url must be an http(s) URL, got {vies_url!r}")
    timeout = vat.get("vies_timeout_seconds", DEFAULT_VIES_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError("[vat] vies_timeout_seconds must be a positive number")
    return VatSettings(
        pipeline=pipeline,
        categories={str(k): str(v) for k, v in categories.items()},
        vies=vies,
        vies_url=vies_url.rstrip("/"),
        vies_timeout_seconds=float(timeout),
    )


@dataclass(frozen=True, slots=True)
class Config:
    kafka: KafkaSettings
    redis_url: str
    web_host: str
    web_port: int
    data_dir: Path
    companies: Mapping[str, Company]
    stores: Mapping[str, Store]
    operator_token_env: str = "WINKEL_OPERATOR_TOKEN"
    viewer_token_env: str = "WINKEL_VIEWER_TOKEN"
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    max_body_bytes: int = 2 * 1024 * 1024
    vat: VatSettings = field(default_factory=VatSettings)

    def store(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def company_of(self, store: Store) -> Company:
        return self.companies[store.company_id]


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _tables(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """`[[key]]`: a list of tables."""
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"[[{key}]] must be a list of tables")
    return value


def _setting(
    table: Mapping[str, Any],
    key: str,
    default: Any,
    kind: type,
    where: str,
    env: Mapping[str, str] | None = None,
    variable: str | None = None,
) -> Any:
    """`table[key]` (or the environment variable, which wins) as `kind`; a `ConfigError`
    naming the field (or the variable) when it is of another type or out of range."""
    raw: Any = table.get(key, default)
    name = f"{where} {key}"
    if env is not None and variable is not None and env.get(variable):
        raw, name = env[variable], variable
    if kind is str:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{name} must be a non-empty string, got {raw!r}")
        return raw.strip()
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        whole = "whole " if kind is int else ""
        raise ConfigError(f"{name} must be a {whole}number, got {raw!r}") from None
    if isinstance(raw, float) and kind is int and raw != value:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}")
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _required(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: `{key}` is required and must be a string")
    return value


def _company(item: Mapping[str, Any]) -> Company:
    where = f"company {item.get('id', '?')!r}"
    vat_id = item.get("vat_id")
    if vat_id is not None and not isinstance(vat_id, str):
        raise ConfigError(f"{where}: `vat_id` must be a string")
    oss_registered = item.get("oss_registered", False)
    if not isinstance(oss_registered, bool):
        raise ConfigError(f"{where}: `oss_registered` must be true or false")
    return Company(
        id=_required(item, "id", where),
        name=_required(item, "name", where),
        country=_required(item, "country", where).upper(),
        vat_id=vat_id,
        oss_registered=oss_registered,
    )


def _store(
    item: Mapping[str, Any],
    companies: Mapping[str, Company],
    stuck_after: Mapping[str, float] = DEFAULT_LIMITS,
) -> Store:
    where = f"store {item.get('id', '?')!r}"
    company_id = _required(item, "company_id", where)
    if company_id not in companies:
        raise ConfigError(f"{where}: unknown company_id {company_id!r}")
    try:
        marketplace = Marketplace(_required(item, "marketplace", where))
        granularity = InvoiceGranularity(item.get("invoice_granularity", "per_order"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    locations = item.get("locations", {})
    if not isinstance(locations, dict) or not all(isinstance(v, str) for v in locations.values()):
        raise ConfigError(f"{where}: `locations` must be a table of location = company id")
    for key in ("webhook_secret_env", "shop_domain"):
        if item.get(key) is not None and not isinstance(item.get(key), str):
            raise ConfigError(f"{where}: `{key}` must be a string")
    unknown = {company for company in locations.values() if company not in companies}
    if unknown:
        raise ConfigError(f"{where}: locations name unknown companies {sorted(unknown)}")
    return Store(
        id=_required(item, "id", where),
        company_id=company_id,
        marketplace=marketplace,
        invoice_granularity=granularity,
        webhook_secret_env=item.get("webhook_secret_env"),
        shop_domain=item.get("shop_domain"),
        locations={str(key): str(value) for key, value in locations.items()},
        **_api_access(item, marketplace, where),
        **_amazon(item, marketplace, where),
        vat_id_fields=_field_names(item, "vat_id_fields", where),
        company_fields=_field_names(item, "company_fields", where),
        location_fields=_field_names(item, "location_fields", where),
        stuck_after=parse_limits(item.get("stuck_after"), f"{where} stuck_after", stuck_after),
    )


def _field_names(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """`vat_id_fields` / `company_fields` / `location_fields`: a list of field names (empty:
    the defaults)."""
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of field names")
    return tuple(value)


_API_TEXT_FIELDS = (
    "api_base_url",
    "site_url",
    "token_url",
    "client_id_env",
    "client_secret_env",
    "public_keys_env",
    "consumer_key_env",
    "consumer_secret_env",
    "access_token_env",
)


def _api_access(item: Mapping[str, Any], marketplace: Marketplace, where: str) -> dict[str, Any]:
    """The pollers' fields of a store, checked: URLs are http(s), credentials come in pairs."""
    found: dict[str, Any] = {}
    for key in _API_TEXT_FIELDS:
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: `{key}` must be a non-empty string")
        if key.endswith("_url") and not value.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: `{key}` must be an http(s) URL, got {value!r}")
        found[key] = value.strip().rstrip("/") if key.endswith("_url") else value.strip()
    interval = item.get("poll_interval_seconds")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ConfigError(f"{where}: `poll_interval_seconds` must be a positive number")
        found["poll_interval_seconds"] = float(interval)
    pairs = {
        Marketplace.BOL: ("client_id_env", "client_secret_env"),
        Marketplace.WOOCOMMERCE: ("consumer_key_env", "consumer_secret_env"),
    }
    pair = pairs.get(marketplace)
    if pair is not None and (pair[0] in found) != (pair[1] in found):
        raise ConfigError(f"{where}: `{pair[0]}` and `{pair[1]}` go together")
    if marketplace is Marketplace.BOL and "client_id_env" not in found:
        raise ConfigError(f"{where}: a bol store needs `client_id_env` and `client_secret_env`")
    polls = {Marketplace.WOOCOMMERCE: "consumer_key_env", Marketplace.SHOPIFY: "access_token_env"}
    if polls.get(marketplace) in found and "api_base_url" not in found:
        raise ConfigError(f"{where}: polling {marketplace.value} needs `api_base_url`")
    return found


def _amazon(item: Mapping[str, Any], marketplace: Marketplace, where: str) -> dict[str, Any]:
    """An Amazon store's fields: polling needs the marketplace id, LWA client and refresh token."""
    found: dict[str, Any] = {}
    for key in ("amazon_marketplace_id", "refresh_token_env"):
        value = item.get(key)
        if value is None:
            continue
        if marketplace is not Marketplace.AMAZON:
            raise ConfigError(f"{where}: `{key}` is for Amazon stores only")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: `{key}` must be a non-empty string")
        found[key] = value.strip()
    issues = item.get("amazon_issues_invoices")
    if issues is not None:
        if not isinstance(issues, bool):
            raise ConfigError(f"{where}: `amazon_issues_invoices` must be true or false")
        if marketplace is not Marketplace.AMAZON:
            raise ConfigError(f"{where}: `amazon_issues_invoices` is for Amazon stores only")
        found["amazon_issues_invoices"] = issues
    fba_country = item.get("fba_ship_from_country")
    if fba_country is not None:
        if marketplace is not Marketplace.AMAZON:
            raise ConfigError(f"{where}: `fba_ship_from_country` is for Amazon stores only")
        if not isinstance(fba_country, str) or not re.fullmatch(r"[A-Za-z]{2}", fba_country):
            raise ConfigError(f"{where}: `fba_ship_from_country` must be a two-letter country code")
        found["fba_ship_from_country"] = fba_country.upper()
    version = item.get("orders_api_version")
    if version is not None:
        if marketplace is not Marketplace.AMAZON:
            raise ConfigError(f"{where}: `orders_api_version` is for Amazon stores only")
        if version not in ORDERS_API_VERSIONS:
            raise ConfigError(f"{where}: `orders_api_version` must be one of {ORDERS_API_VERSIONS}")
        found["orders_api_version"] = version
    if "refresh_token_env" in found:
        missing = [k for k in ("amazon_marketplace_id",) if k not in found]
        missing += [k for k in ("client_id_env", "client_secret_env") if not item.get(k)]
        if missing:
            raise ConfigError(f"{where}: polling Amazon also needs {', '.join(missing)}")
    return found


def parse_config(document: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Build the configuration from a parsed TOML document, environment variables winning."""
    kafka = _table(document, "kafka")
    redis = _table(document, "redis")
    web = _table(document, "web")
    worker = _table(document, "worker")
    operators = _table(document, "operators")
    companies = {c.id: c for c in map(_company, _tables(document, "companies"))}
    stuck_after = parse_limits(document.get("stuck_after"), "[stuck_after]")
    stores = {
        s.id: s
        for s in (_store(item, companies, stuck_after) for item in _tables(document, "stores"))
    }
    web_port = _setting(web, "port", 8080, int, "[web]", env, "WINKEL_WEB_PORT")
    if web_port > 65535:
        raise ConfigError(f"[web] port / WINKEL_WEB_PORT must be a port number, got {web_port}")
    idempotent = kafka.get("idempotent_producer", True)
    if not isinstance(idempotent, bool):
        raise ConfigError("[kafka] idempotent_producer must be true or false")
    return Config(
        kafka=KafkaSettings(
            bootstrap=_setting(
                kafka, "bootstrap", "127.0.0.1:9092", str, "[kafka]", env, "WINKEL_KAFKA_BOOTSTRAP"
            ),
            partitions=_setting(kafka, "partitions", 8, int, "[kafka]"),
            session_timeout_seconds=_setting(
                kafka, "session_timeout_seconds", 30.0, float, "[kafka]"
            ),
            idempotent_producer=env.get("WINKEL_KAFKA_IDEMPOTENT", str(idempotent)).lower()
            in {"1", "true", "yes"},
        ),
        redis_url=_setting(
            redis, "url", "redis://127.0.0.1:6379/0", str, "[redis]", env, "WINKEL_REDIS_URL"
        ),
        web_host=_setting(web, "host", "127.0.0.1", str, "[web]", env, "WINKEL_WEB_HOST"),
        web_port=web_port,
        data_dir=Path(
            _setting(worker, "data_dir", ".winkel", str, "[worker]", env, "WINKEL_DATA_DIR")
        ),
        companies=companies,
        stores=stores,
        operator_token_env=_setting(
            operators, "token_env", "WINKEL_OPERATOR_TOKEN", str, "[operators]"
        ),
        viewer_token_env=_setting(
            operators, "viewer_token_env", "WINKEL_VIEWER_TOKEN", str, "[operators]"
        ),
        dedupe_ttl_seconds=_setting(redis, "dedupe_ttl_seconds", 7 * 24 * 3600, int, "[redis]"),
        vat=_vat(document),
    )


def secret_variables(config: Config) -> list[tuple[str, str]]:
    """(variable, what it holds) for every secret the config names and the engine will read:
    a missing one is a configuration error outside `winkel run --demo`."""
    found = [(config.operator_token_env, "[operators] token_env")]
    for store in config.stores.values():
        for field_name in (
            "webhook_secret_env",
            "client_id_env",
            "client_secret_env",
            "public_keys_env",
            "consumer_key_env",
            "consumer_secret_env",
            "access_token_env",
            "refresh_token_env",
        ):
            variable = getattr(store, field_name)
            if variable:
                found.append((variable, f"store {store.id!r} {field_name}"))
    return found


def check_secrets(config: Config, env: Mapping[str, str]) -> None:
    """`ConfigError` naming every secret variable the config names that is not set."""
    missing = [
        f"{variable} ({what})"
        for variable, what in secret_variables(config)
        if not env.get(variable, "").strip()
    ]
    if missing:
        raise ConfigError(f"environment variables not set: {', '.join(dict.fromkeys(missing))}")


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if env is None else env
    chosen = path or Path(environ.get("WINKEL_CONFIG") or DEMO_CONFIG)
    try:
        document = tomllib.loads(chosen.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {chosen} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {chosen}: {exc}") from None
    return parse_config(document, environ)

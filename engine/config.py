"""The engine's configuration: one TOML file (`WINKEL_CONFIG`) plus environment overrides.

Parsing is pure (`parse_config`); only `load_config` touches the file system. Secrets are never
in the file: stores name the environment variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.exceptions import ConfigError
from models.order import Marketplace

DEMO_CONFIG = Path(__file__).with_name("demo.toml")


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
    # Tansu has no idempotent producer (DESIGN.md); Apache Kafka does.
    idempotent_producer: bool = True
    # How soon a worker that died without leaving is noticed and its partitions handed over.
    # Shorter hands over faster, but a worker starved of CPU for that long is expelled while
    # still working, and a zombie's late writes are exactly what at-least-once must survive.
    session_timeout_seconds: float = 30.0


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
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    max_body_bytes: int = 2 * 1024 * 1024

    def store(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def company_of(self, store: Store) -> Company:
        return self.companies[store.company_id]


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _required(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: `{key}` is required and must be a string")
    return value


def _company(item: Mapping[str, Any]) -> Company:
    where = f"company {item.get('id', '?')!r}"
    return Company(
        id=_required(item, "id", where),
        name=_required(item, "name", where),
        country=_required(item, "country", where).upper(),
        vat_id=item.get("vat_id"),
        oss_registered=bool(item.get("oss_registered", False)),
    )


def _store(item: Mapping[str, Any], companies: Mapping[str, Company]) -> Store:
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
    )


def parse_config(document: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Build the configuration from a parsed TOML document, environment variables winning."""
    kafka = _table(document, "kafka")
    redis = _table(document, "redis")
    web = _table(document, "web")
    worker = _table(document, "worker")
    operators = _table(document, "operators")
    companies = {c.id: c for c in map(_company, document.get("companies", []))}
    stores = {s.id: s for s in (_store(item, companies) for item in document.get("stores", []))}
    try:
        web_port = int(env.get("WINKEL_WEB_PORT", web.get("port", 8080)))
    except ValueError:
        raise ConfigError("WINKEL_WEB_PORT must be a port number") from None
    return Config(
        kafka=KafkaSettings(
            bootstrap=env.get("WINKEL_KAFKA_BOOTSTRAP", kafka.get("bootstrap", "127.0.0.1:9092")),
            partitions=int(kafka.get("partitions", 8)),
            session_timeout_seconds=float(kafka.get("session_timeout_seconds", 30.0)),
            idempotent_producer=env.get(
                "WINKEL_KAFKA_IDEMPOTENT", str(kafka.get("idempotent_producer", True))
            ).lower()
            in {"1", "true", "yes"},
        ),
        redis_url=env.get("WINKEL_REDIS_URL", redis.get("url", "redis://127.0.0.1:6379/0")),
        web_host=env.get("WINKEL_WEB_HOST", web.get("host", "127.0.0.1")),
        web_port=web_port,
        data_dir=Path(env.get("WINKEL_DATA_DIR", worker.get("data_dir", ".winkel"))),
        companies=companies,
        stores=stores,
        operator_token_env=operators.get("token_env", "WINKEL_OPERATOR_TOKEN"),
        dedupe_ttl_seconds=int(redis.get("dedupe_ttl_seconds", 7 * 24 * 3600)),
    )


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

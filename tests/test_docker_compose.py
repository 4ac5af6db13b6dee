"""docker-compose.yml runs the demo config: it must hand the containers every variable that
config names, or the web process stops at start-up for want of a webhook secret."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from engine.config import DEMO_CONFIG, Store, load_config
from engine.runtime import KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def passed_variables() -> set[str]:
    return set(re.findall(r"^\s+(WINKEL_[A-Z0-9_]+):", COMPOSE.read_text(), re.MULTILINE))


def test_every_variable_the_demo_config_names_is_passed_to_the_containers() -> None:
    config = load_config(DEMO_CONFIG, {})
    named = {config.operator_token_env}
    for store in config.stores.values():
        for field in fields(Store):
            if field.name.endswith("_env") and (variable := getattr(store, field.name)):
                named.add(variable)
    assert len(named) > 5  # the secrets and credentials of four marketplaces
    assert named - passed_variables() == set()


def services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document["services"]


def kafka_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in services().items()
        if str(service.get("image", "")).startswith("apache/kafka:")
    }


def test_every_kafka_in_compose_is_the_version_the_runtime_and_tests_use() -> None:
    images = {service["image"] for service in kafka_services().values()}
    assert images == {f"apache/kafka:{KAFKA_VERSION}"}


def test_the_default_stack_has_one_broker_and_the_cluster_profile_three() -> None:
    kafkas = kafka_services()
    default = [name for name, service in kafkas.items() if "profiles" not in service]
    cluster = [name for name, service in kafkas.items() if "cluster" in service.get("profiles", [])]
    assert len(default) == 1
    assert len(default) + len(cluster) == 3
    environments = [kafkas[name]["environment"] for name in default + cluster]
    assert len({str(env["KAFKA_NODE_ID"]) for env in environments}) == 3
    # One cluster: the same storage id, the same controller quorum, each its own address.
    assert len({env["CLUSTER_ID"] for env in environments}) == 1
    assert len({env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in environments}) == 1
    advertised = {env["KAFKA_ADVERTISED_LISTENERS"] for env in environments}
    assert advertised == {f"PLAINTEXT://{name}:9092" for name in default + cluster}
    # Each broker keeps its log in its own volume.
    mounts = [m for name in default + cluster for m in kafkas[name]["volumes"]]
    assert len({m.split(":")[0] for m in mounts}) == 3
    assert all(
        m.endswith(":" + env["KAFKA_LOG_DIRS"]) for m, env in zip(mounts, environments, strict=True)
    )


def test_the_engine_waits_for_every_broker_of_the_cluster_profile() -> None:
    """Topics are replicated only if the engine finds three brokers when it creates them."""
    cluster = [name for name, s in kafka_services().items() if "cluster" in s.get("profiles", [])]
    for engine in ("worker", "web"):
        depends = services()[engine]["depends_on"]
        for name in cluster:
            assert depends[name] == {"condition": "service_healthy", "required": False}

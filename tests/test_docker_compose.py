"""docker-compose.yml runs the demo config: it must hand the containers every variable that
config names, or the web process stops at start-up for want of a webhook secret."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from engine.domain.config import DEMO_CONFIG, Store, load_config

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

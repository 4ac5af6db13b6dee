"""Amazon Selling Partner API (being split into modules by concern)."""

from engine.domain.marketplaces.amazon.orders import *  # noqa: F403

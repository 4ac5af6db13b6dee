"""bol.com Retailer API v10 (being split into modules by concern)."""

from engine.domain.marketplaces.bol.orders import *  # noqa: F403

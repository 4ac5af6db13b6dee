"""Fake marketplaces for tests and `winkel simulate`: pure generators of realistic traffic, and
aiohttp applications that speak each marketplace's documented wire format."""

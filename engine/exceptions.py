"""Errors of the engine, all in the one family rooted in `models.exceptions`."""

from __future__ import annotations

from models.exceptions import InputError, TransientError, WinkelError

__all__ = [
    "ConfigError",
    "DependencyUnavailable",
    "InputError",
    "NormalisationError",
    "SignatureError",
    "TransientError",
    "WinkelError",
]


class ConfigError(WinkelError):
    """The configuration file or environment is incomplete or contradictory."""


class SignatureError(InputError):
    """A delivery's signature is missing or does not verify."""


class NormalisationError(InputError):
    """A delivery verified but cannot be understood; it goes to the dead-letter topic."""


class DependencyUnavailable(TransientError):
    """Kafka, Redis or a marketplace API did not answer in time; try again later."""

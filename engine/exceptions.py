"""Errors of the engine, all in the one family rooted in `models.exceptions`."""

from __future__ import annotations

from models.exceptions import InputError, TransientError, WinkelError

__all__ = [
    "ConfigError",
    "DependencyUnavailable",
    "InputError",
    "NormalisationError",
    "SignatureError",
    "SourceMismatch",
    "TransientError",
    "WinkelError",
]


class ConfigError(WinkelError):
    """The configuration file or environment is incomplete or contradictory."""


class SignatureError(InputError):
    """A delivery's signature is missing or does not verify."""


class SourceMismatch(SignatureError):
    """A verified delivery names another shop or site than the store it was sent to.

    The signature proves who signed (a Shopify app's secret is shared by every shop that
    installed it), not which store the data belongs to; the shop or site header does.
    """


class NormalisationError(InputError):
    """A delivery verified but cannot be understood; it goes to the dead-letter topic."""


class DependencyUnavailable(TransientError):
    """Kafka, Redis or a marketplace API did not answer in time; try again later."""

"""Errors of the engine's domain core."""


class WinkelError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(WinkelError):
    """The configuration file or environment is incomplete or contradictory."""


class SignatureError(WinkelError):
    """A delivery's signature is missing or does not verify."""


class NormalisationError(WinkelError):
    """A delivery verified but cannot be understood; it goes to the dead-letter topic."""

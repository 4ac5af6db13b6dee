"""Errors raised while starting or stopping local infrastructure (brokers, Redis)."""

from engine.domain.exceptions import WinkelError


class InfrastructureError(WinkelError):
    """A broker, Redis or a tool they need is missing, broken or misbehaving."""


class RuntimeStartError(InfrastructureError):
    """A managed process died during start-up or did not become ready in time."""

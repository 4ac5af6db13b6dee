"""Errors raised while starting or stopping local infrastructure (brokers, Redis)."""


class InfrastructureError(Exception):
    """A broker, Redis or a tool they need is missing, broken or misbehaving."""


class RuntimeStartError(InfrastructureError):
    """A managed process died during start-up or did not become ready in time."""

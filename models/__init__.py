"""Data types shared by every part of the engine: orders, events, triggers, audit entries.

Everything here is an immutable dataclass with `Decimal` money and timezone-aware UTC times.
`models.codec` turns them into the JSON documents that travel on Kafka and back.
"""

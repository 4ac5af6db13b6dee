"""Winkel Orders engine: the pure domain core (normalisers, lifecycle, triggers, VAT) and the
wiring that runs it (`engine.app`, `engine.cli`, `engine.runtime`)."""

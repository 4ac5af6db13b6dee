"""Errors of the VAT core."""

from __future__ import annotations

from engine.domain.exceptions import WinkelError


class TaxError(WinkelError):
    """A VAT question the tax core cannot answer from its rules and data.

    Raised instead of guessing: an unknown country, a date before the rate data starts, a rate
    the shipped data does not list, a currency without a reference rate. The caller parks the
    order for an operator rather than emitting a trigger with invented VAT.
    """

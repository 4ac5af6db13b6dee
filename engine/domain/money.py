"""Money arithmetic: `Decimal` only, rounded half-up to the cent where the law says cents."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from engine.domain.exceptions import NormalisationError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


#: No order amount of a retail seller comes near this; anything beyond is refused as absurd
#: (and would overflow the decimal context in rounding and VAT arithmetic).
MAX_AMOUNT = Decimal(10) ** 9


def parse_amount(raw: object, where: str) -> Decimal:
    """A marketplace amount ("12.30", 12.3 or 12) as an exact Decimal.

    Numbers that arrive as JSON floats are converted through their shortest repr, which is the
    text the marketplace wrote, never through binary float arithmetic.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise NormalisationError(f"{where} must be an amount, got {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise NormalisationError(f"{where} is not an amount: {raw!r}") from None
    if not value.is_finite():
        raise NormalisationError(f"{where} is not a finite amount: {raw!r}")
    if abs(value) > MAX_AMOUNT:
        raise NormalisationError(f"{where} is beyond the sane bound of {MAX_AMOUNT:,}: {raw!r}")
    return value

"""Exact money: ``Decimal`` rounded to the cent, never a float sum."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: object) -> Decimal | None:
    """A price cell as exact money, or ``None`` when it is not a number.

    Floats come from spreadsheet cells; ``repr`` gives the shortest text that round-trips,
    so ``33.35`` stays 33.35 rather than 33.3500000000000014...
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").lstrip("$€£").strip()
    else:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"

"""Exact money: ``Decimal`` rounded to the cent, never a float sum."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("9999999999999.99")
"""The largest amount taken as money. Spreadsheets keep numbers as doubles, exact to 15
significant digits: a larger amount could not be shown to the cent (and a price of 1e26 is a
typo, not a price). Beyond it, amounts are refused rather than rounded or crashed on."""


def _number(value: object) -> Decimal | None:
    """A cell as a finite number, unrounded, or ``None`` when it is not one."""
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
    except (InvalidOperation, ValueError):  # ValueError: an int too long to turn into text
        return None
    return amount if amount.is_finite() else None


def _rounded(amount: Decimal) -> Decimal | None:
    """``amount`` to the cent, or ``None`` beyond :data:`MAX_AMOUNT` either way."""
    if amount.adjusted() >= 13:  # before quantize, which raises past 28 digits
        return None
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return amount if abs(amount) <= MAX_AMOUNT else None


def to_money(value: object) -> Decimal | None:
    """A price cell as exact money, or ``None`` when it is not a number, or not one a
    spreadsheet can hold to the cent (more than :data:`MAX_AMOUNT` either way: see
    :func:`amount_problem` for which).

    Floats come from spreadsheet cells; ``repr`` gives the shortest text that round-trips,
    so ``33.35`` stays 33.35 rather than 33.3500000000000014...
    """
    amount = _number(value)
    return None if amount is None else _rounded(amount)


def amount_problem(value: object) -> str:
    """Why :func:`to_money` refuses ``value``, as words to follow the cell's name
    (``"Price '1e+26' " + ...``); ``""`` when it does not."""
    amount = _number(value)
    if amount is None:
        return "is not an amount"
    if _rounded(amount) is None:
        return f"is not an amount (beyond {MAX_AMOUNT:,}, the most a spreadsheet shows to the cent)"
    return ""


def format_money(amount: Decimal, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"

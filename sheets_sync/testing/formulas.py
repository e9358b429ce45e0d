"""Formula results for reads: arithmetic and same-tab cell references, nothing more."""

from __future__ import annotations

import re
from typing import Any

from sheets_sync.testing.grid import _column_index, _Sheet


class _FormulaError(Exception):
    """A spreadsheet error value such as ``#DIV/0!``."""


class _NotEvaluable(Exception):
    """The formula uses something this small evaluator does not know."""


_FORMULA_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|\$?([A-Za-z]{1,3})\$?(\d+)|([-+*/^()]))")


class _FormulaEvaluator:
    """Arithmetic and same-tab cell references; recursive descent over the formula text."""

    def __init__(self, sheet: _Sheet, visiting: frozenset[tuple[int, int]]) -> None:
        self.sheet = sheet
        self.visiting = visiting
        self.tokens: list[tuple[str, Any]] = []
        self.position = 0

    def evaluate(self, formula: str) -> float:
        text = formula[1:].strip()
        offset = 0
        while offset < len(text):
            match = _FORMULA_TOKEN.match(text, offset)
            if match is None or match.end() == offset:
                raise _NotEvaluable(formula)
            number, letters, row, operator = match.groups()
            if number is not None:
                self.tokens.append(("number", float(number)))
            elif letters is not None:
                self.tokens.append(("ref", (int(row) - 1, _column_index(letters))))
            else:
                self.tokens.append(("op", operator))
            offset = match.end()
        result = self._sum()
        if self.position != len(self.tokens):
            raise _NotEvaluable(formula)
        return result

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take_operator(self, *operators: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in operators:
            self.position += 1
            return token[1]
        return None

    def _sum(self) -> float:
        result = self._product()
        while operator := self._take_operator("+", "-"):
            right = self._product()
            result = result + right if operator == "+" else result - right
        return result

    def _product(self) -> float:
        result = self._unary()
        while operator := self._take_operator("*", "/"):
            right = self._unary()
            if operator == "/" and right == 0:
                raise _FormulaError("#DIV/0!")
            result = result * right if operator == "*" else result / right
        return result

    def _unary(self) -> float:
        if operator := self._take_operator("+", "-"):
            value = self._unary()
            return -value if operator == "-" else value
        return self._power()

    def _power(self) -> float:
        base = self._atom()
        if self._take_operator("^"):
            return base ** self._unary()
        return base

    def _atom(self) -> float:
        token = self._peek()
        if token is None:
            raise _NotEvaluable("unexpected end")
        self.position += 1
        kind, value = token
        if kind == "number":
            return value
        if kind == "ref":
            return self._reference(value)
        if value == "(":
            result = self._sum()
            if not self._take_operator(")"):
                raise _NotEvaluable("unbalanced parenthesis")
            return result
        raise _NotEvaluable(f"unexpected {value}")

    def _reference(self, position: tuple[int, int]) -> float:
        cell = self.sheet.cells.get(position)
        if cell is None:
            return 0.0
        if cell.kind == "numberValue":
            return float(cell.value)
        if cell.kind == "boolValue":
            return 1.0 if cell.value else 0.0
        if cell.kind == "formulaValue":
            if position in self.visiting:
                raise _FormulaError("#REF!")
            result = _evaluate(self.sheet, position, cell.value, self.visiting)
            if isinstance(result, str):
                raise _FormulaError(result)
            return result
        raise _FormulaError("#VALUE!")


def _evaluate(
    sheet: _Sheet, position: tuple[int, int], formula: str, visiting: frozenset[tuple[int, int]] = frozenset()
) -> float | str | None:
    """A number, an error value like ``"#DIV/0!"``, or None when the formula is beyond us."""
    try:
        return _FormulaEvaluator(sheet, visiting | {position}).evaluate(formula)
    except _FormulaError as error:
        return str(error)
    except (_NotEvaluable, OverflowError, ZeroDivisionError):
        return None

"""CloudWatch metric math, locally: a tiny parser and evaluator for the expressions alarms use
(``IF``, ``ABS``, arithmetic, comparisons, ``AND``/``OR``/``NOT``: parsed here, never ``eval``'d).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class ExpressionError(ValueError):
    """A metric-math expression this evaluator does not understand."""


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/()<>,!]))"
)
_COMPARE = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "==": operator.eq}
_COMPARE["!="] = operator.ne
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_KEYWORDS = {"AND": "&&", "OR": "||", "NOT": "!"}

Node = tuple[Any, ...]


class Expression:
    """A parsed metric-math expression over query ids: ``Expression("IF(a > 0, b / a, 0)")``.

    A missing input (None) makes the result missing, as a timestamp absent from a series does;
    so does division by zero. IF evaluates only the branch it takes.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.position = 0
        self.names: set[str] = set()
        self.tree = self._or()
        if self.position != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.position][1]!r} in {text!r}")

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            found = _TOKEN.match(text, position)
            if not found:
                raise ExpressionError(f"unexpected character at {position} in {text!r}")
            kind = found.lastgroup or "op"
            value = found.group(kind)
            if kind == "name" and value.upper() in _KEYWORDS:
                kind, value = "op", _KEYWORDS[value.upper()]
            tokens.append((kind, value))
            position = found.end()
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.position += 1
        return token

    def _binary(self, operators: Iterable[str], operand: Callable[[], Node]) -> Node:
        ops = set(operators)
        node = operand()
        while self._peek() in ops:
            node = ("binary", self._take()[1], node, operand())
        return node

    def _or(self) -> Node:
        return self._binary(["||"], self._and)

    def _and(self) -> Node:
        return self._binary(["&&"], self._not)

    def _not(self) -> Node:
        if self._peek() == "!":
            self._take()
            return ("not", self._not())
        return self._compare()

    def _compare(self) -> Node:
        node = self._sum()
        if self._peek() in _COMPARE:
            node = ("binary", self._take()[1], node, self._sum())
        return node

    def _sum(self) -> Node:
        return self._binary(["+", "-"], self._product)

    def _product(self) -> Node:
        return self._binary(["*", "/"], self._unary)

    def _unary(self) -> Node:
        if self._peek() == "-":
            self._take()
            return ("negate", self._unary())
        return self._primary()

    def _primary(self) -> Node:
        kind, value = self._take()
        if kind == "number":
            return ("number", float(value))
        if value == "(":
            node = self._or()
            self._take(")")
            return node
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if self._peek() != "(":
            self.names.add(value)
            return ("name", value)
        self._take("(")
        arguments = [self._or()]
        while self._peek() == ",":
            self._take()
            arguments.append(self._or())
        self._take(")")
        function = value.upper()
        if function == "IF" and len(arguments) in (2, 3):
            return ("if", *arguments)
        if function == "ABS" and len(arguments) == 1:
            return ("abs", arguments[0])
        raise ExpressionError(f"unsupported function {value}({len(arguments)} arguments) in {self.text!r}")

    def evaluate(self, values: Mapping[str, float | None]) -> float | None:
        return self._eval(self.tree, values)

    def _eval(self, node: Node, values: Mapping[str, float | None]) -> float | None:
        kind = node[0]
        if kind == "number":
            return node[1]
        if kind == "name":
            if node[1] not in values:
                raise ExpressionError(f"unknown id {node[1]!r} in {self.text!r}")
            return values[node[1]]
        if kind == "if":
            condition = self._eval(node[1], values)
            if condition is None:
                return None
            if condition:
                return self._eval(node[2], values)
            return self._eval(node[3], values) if len(node) > 3 else None
        if kind in ("not", "negate", "abs"):
            operand = self._eval(node[1], values)
            if operand is None:
                return None
            return {"not": float(not operand), "negate": -operand, "abs": abs(operand)}[kind]
        left, right = self._eval(node[2], values), self._eval(node[3], values)
        if left is None or right is None:
            return None
        return _apply(node[1], left, right)


def _apply(op: str, left: float, right: float) -> float | None:
    if op in _COMPARE:
        return float(_COMPARE[op](left, right))
    if op == "&&":
        return float(bool(left) and bool(right))
    if op == "||":
        return float(bool(left) or bool(right))
    if op == "/":
        return left / right if right else None
    return _ARITHMETIC[op](left, right)

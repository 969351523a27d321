"""Guards: conditions on data that choose among a hole type's productions.

``[when a.size > 10]`` reads the outputs of the tasks its hole comes after; ``[if depth
<= 100]`` is a condition, not a choice. Parsed here into a small expression tree and
evaluated over JSON values, never by ``eval``, and never guessing (a :class:`GuardError`
says why). The grammar and its meaning: docs/data.md, "Branch on data: guards".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grammarflow.errors import GrammarflowError, NotationError

#: ``counts(left, right)``: the value of ``count(left -> right)``: how many tasks of
#: kind ``right`` the task bound to parameter ``left`` runs right before, or (when
#: ``right`` is the parameter) how many of kind ``left`` it runs right after.
Counts = Callable[[str, str], int]


def no_counts(left: str, right: str) -> int:
    raise GuardError(f"count({left} -> {right}) cannot be read here")


class GuardError(GrammarflowError):
    """A guard could not be evaluated (a missing field, a value of the wrong type...)."""


_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "len", "count", "depth"}

#: Where the hole's depth travels among the values (no parameter can have this name).
DEPTH = " depth"
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|->|[<>+\-.\[\](),])
)""", re.VERBOSE)

# The expression tree: tuples, cheap to build and to compare.
Expr = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Guard:
    """``[when expr]`` (``expr`` parsed) or ``[else]`` (``otherwise``)."""

    text: str  # the canonical text of the condition ('' for else)
    expr: Expr | None = field(compare=False, repr=False)
    names: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    otherwise: bool = False
    #: ``[if expr]``: a condition the production needs to be taken at all, by anyone
    #: (nobody chooses by it: a task or a default does)
    permit: bool = False
    #: the ``count(left -> right)`` it reads
    counts: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False,
                                               repr=False)

    def holds(self, values: Mapping[str, Any], counts: Counts) -> bool:
        """Evaluate a ``when`` guard over the parameters' values (raises GuardError)."""
        if self.expr is None:
            raise GuardError("an 'else' guard holds when no other guard does; it has no "
                             "condition of its own")
        result = _eval(self.expr, values, counts)
        if not isinstance(result, bool):
            raise GuardError(f"guard '{self.text}' gave {_show(result)}, not true or false")
        return result

    def __repr__(self) -> str:
        return f"[{self.label()}]"

    def label(self) -> str:
        """The guard as a bracket item: ``when a > 10``, ``if depth <= 3`` or ``else``."""
        if self.otherwise:
            return "else"
        return f"{'if' if self.permit else 'when'} {self.text}"

    def shown(self, bound: Mapping[str, str]) -> str:
        """The condition with each parameter named as the task it is bound to:
        ``measure > 10`` (``else`` for an else guard)."""
        if self.expr is None:
            return "else"
        return _format(_renamed(self.expr, bound))

    def to_json(self) -> str:
        return self.label()


ELSE = Guard("", None, frozenset(), otherwise=True)


def parse_guard(text: str) -> Guard:
    """``when <expr>``, ``if <expr>`` or ``else``, as written in a production's brackets.

    >>> g = parse_guard("when len(a.items) >= 2 and a.kind == 'big'")
    >>> g
    [when len(a.items) >= 2 and a.kind == 'big']
    >>> g.holds({"a": {"items": [1, 2, 3], "kind": "big"}}, no_counts)
    True
    >>> g.holds({"a": {"items": [1], "kind": "big"}}, no_counts)
    False
    """
    stripped = text.strip()
    if stripped == "else":
        return ELSE
    m = re.match(r"\s*(when|if)\b", text)
    if m is None:
        raise NotationError(text, 0, "'when <condition>', 'if <condition>' or 'else'")
    parser = _Parser(text, m.end())
    expr = parser.expr()
    if not parser.done():
        raise NotationError(text, parser.where(), "an operator or the end of the guard")
    return Guard(_format(expr), expr, frozenset(_names(expr)),
                 counts=frozenset(_counts(expr)), permit=m.group(1) == "if")


def guard_from_json(data: str | None) -> Guard | None:
    return None if data is None else parse_guard(data)


# ====================================================================== parsing
class _Parser:
    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.toks: list[tuple[str, str, int]] = []
        pos = start
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise NotationError(text, pos, "a name, a number, a string or an operator")
            kind = m.lastgroup or "op"
            value, at = m.group(kind), m.start(kind)
            if kind == "name" and value in _KEYWORDS:
                kind = "op"
            self.toks.append((kind, value, at))
            pos = m.end()
        self.i = 0

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.toks[j][1] if j < len(self.toks) and self.toks[j][0] == "op" else None

    def where(self) -> int:
        return self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def accept(self, op: str) -> bool:
        if self.peek() == op:
            self.i += 1
            return True
        return False

    def need(self, op: str) -> None:
        if not self.accept(op):
            raise NotationError(self.text, self.where(), f"'{op}'")

    def name(self, what: str) -> str:
        """A name where only a name can be (a field, count's arguments): a keyword
        there is a name too (``a.count``, ``count(a -> len)``)."""
        if self.i < len(self.toks):
            kind, value, _ = self.toks[self.i]
            if kind == "name" or value in _KEYWORDS:
                self.i += 1
                return value
        raise NotationError(self.text, self.where(), what)

    def expr(self) -> Expr:
        left = self.conj()
        while self.accept("or"):
            left = ("or", left, self.conj())
        return left

    def conj(self) -> Expr:
        left = self.neg()
        while self.accept("and"):
            left = ("and", left, self.neg())
        return left

    def neg(self) -> Expr:
        if self.peek() == "not" and self.peek(1) != "in":
            self.i += 1
            return ("not", self.neg())
        return self.compare()

    def compare(self) -> Expr:
        left = self.sum()
        for op in ("==", "!=", "<=", ">=", "<", ">", "in"):
            if self.accept(op):
                return ("cmp", op, left, self.sum())
        if self.peek() == "not" and self.peek(1) == "in":
            self.i += 2
            return ("cmp", "not in", left, self.sum())
        return left

    def sum(self) -> Expr:
        left = self.unary()
        while self.peek() in ("+", "-"):
            op = self.toks[self.i][1]
            self.i += 1
            left = ("arith", op, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.accept("-"):
            return ("neg", self.unary())
        return self.postfix()

    def postfix(self) -> Expr:
        node = self.atom()
        while True:
            if self.accept("."):
                node = ("field", node, self.name("a field name after '.'"))
            elif self.accept("["):
                node = ("index", node, self.expr())
                self.need("]")
            else:
                return node

    def atom(self) -> Expr:
        if self.i >= len(self.toks):
            raise NotationError(self.text, len(self.text), "a value")
        kind, value, at = self.toks[self.i]
        if kind == "num":
            self.i += 1
            number = float(value) if any(c in value for c in ".eE") else int(value)
            return ("lit", number)
        if kind == "str":
            self.i += 1
            return ("lit", _unquote(value))
        if kind == "name":
            self.i += 1
            return ("name", value)
        for word, literal in (("true", True), ("false", False), ("null", None)):
            if self.accept(word):
                return ("lit", literal)
        if self.accept("("):
            inner = self.expr()
            self.need(")")
            return inner
        if self.accept("["):
            items: list[Expr] = []
            if not self.accept("]"):
                items.append(self.expr())
                while self.accept(","):
                    items.append(self.expr())
                self.need("]")
            return ("list", *items)
        if self.accept("len"):
            self.need("(")
            inner = self.expr()
            self.need(")")
            return ("len", inner)
        if self.accept("depth"):
            return ("depth",)
        if self.accept("count"):
            self.need("(")
            left = self.name("a parameter or a kind in count(a -> K)")
            self.need("->")
            right = self.name("a kind or a parameter in count(a -> K)")
            self.need(")")
            return ("count", left, right)
        raise NotationError(self.text, at, "a value: a parameter, a number, a string, "
                            "true, false, null, len(...), count(a -> K) or '('")


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _renamed(expr: Expr, bound: Mapping[str, str]) -> Expr:
    match expr:
        case ("name", n):
            return ("name", bound.get(n, n))
        case ("count", left, right):
            return ("count", bound.get(left, left), bound.get(right, right))
        case ("field", inner, name):
            return ("field", _renamed(inner, bound), name)
    head, *rest = expr
    if head in ("cmp", "arith"):
        op, a, b = rest
        return (head, op, _renamed(a, bound), _renamed(b, bound))
    return (head, *(_renamed(p, bound) if isinstance(p, tuple) else p for p in rest))


def _names(expr: Expr) -> set[str]:
    """The parameters whose values an expression reads."""
    return {node[1] for node in _nodes(expr) if node[0] == "name"}


def _counts(expr: Expr) -> set[tuple[str, str]]:
    return {(node[1], node[2]) for node in _nodes(expr) if node[0] == "count"}


def _nodes(expr: Expr) -> list[Expr]:
    found = [expr]
    for part in expr[1:]:
        if isinstance(part, tuple):
            found.extend(_nodes(part))
    return found


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "arith": 5, "neg": 6}


def _format(expr: Expr, outer: int = 0) -> str:
    """The canonical text: parentheses only where precedence needs them."""
    kind = expr[0]
    mine = _PRECEDENCE.get(kind, 9)
    match expr:
        case ("lit", value):
            text = _literal(value)
        case ("name", n):
            text = n
        case ("count", left, right):
            text = f"count({left} -> {right})"
        case ("depth",):
            text = "depth"
        case ("list", *items):
            text = "[" + ", ".join(_format(i) for i in items) + "]"
        case ("len", inner):
            text = f"len({_format(inner)})"
        case ("field", inner, name):
            text = f"{_format(inner, 9)}.{name}"
        case ("index", inner, key):
            text = f"{_format(inner, 9)}[{_format(key)}]"
        case ("not", inner):
            text = f"not {_format(inner, mine)}"
        case ("neg", inner):
            text = f"-{_format(inner, mine)}"
        case ("and", a, b) | ("or", a, b):
            text = f"{_format(a, mine)} {kind} {_format(b, mine + 1)}"
        case ("cmp", op, a, b):
            text = f"{_format(a, mine + 1)} {op} {_format(b, mine + 1)}"
        case ("arith", op, a, b):
            text = f"{_format(a, mine)} {op} {_format(b, mine + 1)}"
        case _:
            raise AssertionError(expr)
    return f"({text})" if mine < outer else text


def _literal(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


# ====================================================================== evaluation
def _eval(expr: Expr, values: Mapping[str, Any], counts: Counts) -> Any:
    match expr:
        case ("lit", value):
            return value
        case ("name", n):
            if n not in values:
                raise GuardError(f"{n} has no output (its task has not finished, or "
                                 "returned nothing)")
            return values[n]
        case ("count", left, right):
            return counts(left, right)
        case ("depth",):
            if DEPTH not in values:
                raise GuardError("depth cannot be read here")
            return values[DEPTH]
        case ("list", *items):
            return [_eval(i, values, counts) for i in items]
        case ("len", inner):
            value = _eval(inner, values, counts)
            if isinstance(value, list | str | dict):
                return len(value)
            raise GuardError(f"len() of {_show(value)}: expected a list, a string or an "
                             "object")
        case ("field", inner, name):
            value = _eval(inner, values, counts)
            if not isinstance(value, dict):
                raise GuardError(f"{_format(inner)}.{name}: {_format(inner)} is "
                                 f"{_show(value)}, not an object")
            if name not in value:
                raise GuardError(f"{_format(inner)} has no field {name!r} (it has "
                                 f"{sorted(value)[:10]})")
            return value[name]
        case ("index", inner, key_expr):
            return _index(inner, _eval(inner, values, counts), _eval(key_expr, values, counts))
        case ("not", inner):
            return not _boolean(_eval(inner, values, counts), "not")
        case ("neg", inner):
            return -_number(_eval(inner, values, counts), "-")
        case ("and", a, b):
            return _boolean(_eval(a, values, counts), "and") and \
                _boolean(_eval(b, values, counts), "and")
        case ("or", a, b):
            return _boolean(_eval(a, values, counts), "or") or \
                _boolean(_eval(b, values, counts), "or")
        case ("arith", op, a, b):
            x = _number(_eval(a, values, counts), op)
            y = _number(_eval(b, values, counts), op)
            return x + y if op == "+" else x - y
        case ("cmp", op, a, b):
            return _compare(op, _eval(a, values, counts), _eval(b, values, counts))
    raise AssertionError(expr)


def _index(inner: Expr, value: Any, key: Any) -> Any:
    where = _format(inner)
    if isinstance(value, list):
        if not _is_number(key) or isinstance(key, float):
            raise GuardError(f"{where}[{_show(key)}]: a list takes a whole number")
        if not -len(value) <= key < len(value):
            raise GuardError(f"{where}[{key}]: out of range (it has {len(value)} elements)")
        return value[key]
    if isinstance(value, dict):
        if not isinstance(key, str):
            raise GuardError(f"{where}[{_show(key)}]: an object takes a string")
        if key not in value:
            raise GuardError(f"{where} has no field {key!r}")
        return value[key]
    raise GuardError(f"{where}[...]: {where} is {_show(value)}, not a list or an object")


def _compare(op: str, x: Any, y: Any) -> bool:
    if op == "==":
        return _same(x, y)
    if op == "!=":
        return not _same(x, y)
    if op in ("in", "not in"):
        if isinstance(y, list):
            found = any(_same(x, item) for item in y)
        elif isinstance(y, dict | str) and isinstance(x, str):
            found = x in y
        else:
            raise GuardError(f"{_show(x)} {op} {_show(y)}: expected a list, an object "
                             "(with a string key) or a string (with a string) on the right")
        return found if op == "in" else not found
    if not ((_is_number(x) and _is_number(y)) or (isinstance(x, str) and isinstance(y, str))):
        raise GuardError(f"{_show(x)} {op} {_show(y)}: '{op}' compares two numbers or "
                         "two strings")
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _same(x: Any, y: Any) -> bool:
    """JSON equality: a boolean is not a number, 1 == 1.0, lists and objects deeply."""
    if isinstance(x, bool) or isinstance(y, bool):
        return isinstance(x, bool) and isinstance(y, bool) and x == y
    if _is_number(x) and _is_number(y):
        return bool(x == y)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    return type(x) is type(y) and bool(x == y)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and not (isinstance(value, float) and math.isnan(value))


def _number(value: Any, op: str) -> Any:
    if not _is_number(value):
        raise GuardError(f"'{op}' takes numbers, not {_show(value)}")
    return value


def _boolean(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise GuardError(f"'{op}' takes true or false, not {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["ELSE", "Counts", "Guard", "GuardError", "guard_from_json", "no_counts",
           "parse_guard"]

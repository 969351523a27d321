"""The short notation: ``X(a, b) ::= a -> A -> b | a -> B -> b``, read into a grammar.

Its grammar and meaning: docs/notation.md (tests/test_docs.py reads that grammar's
examples with this parser). How values print back: :mod:`grammarflow.core.formatting`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from grammarflow.core.constraints import Constraint, parse_constraints
from grammarflow.core.cosmetics import parse_cosmetic_promise, registered_styles
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Role
from grammarflow.core.guards import Guard, parse_guard
from grammarflow.core.productions import (
    EVERYWHERE,
    Fragment,
    HoleSpec,
    HoleType,
    Production,
    TaskSpec,
)
from grammarflow.errors import GrammarError, GrammarflowError, NotationError

__all__ = ["define", "parse_fragment", "parse_types"]

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>::=|->|[(),;|*\[\]:]))")


@dataclass
class _Tokens:
    text: str
    pos: int = 0
    items: list[tuple[str, str, int]] = field(default_factory=list)
    i: int = 0

    @classmethod
    def of(cls, text: str) -> _Tokens:
        toks = cls(text)
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise NotationError(text, pos, "a name, '->', ',', '|', '(', ')' or '::='")
            start = m.start("name") if m.group("name") else m.start("op")
            kind = "name" if m.group("name") else m.group("op")
            toks.items.append((kind, m.group("name") or m.group("op"), start))
            pos = m.end()
        return toks

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def peek_value(self) -> str | None:
        return self.items[self.i][1] if self.i < len(self.items) else None

    def where(self) -> int:
        return self.items[self.i][2] if self.i < len(self.items) else len(self.text)

    def take(self, kind: str, expected: str) -> str:
        if self.peek() != kind:
            raise NotationError(self.text, self.where(), expected)
        value = self.items[self.i][1]
        self.i += 1
        return value

    def accept(self, kind: str) -> bool:
        if self.peek() == kind:
            self.i += 1
            return True
        return False

    def done(self) -> bool:
        return self.i >= len(self.items)


@dataclass
class _Alt:
    fragment: Fragment
    labels: list[str]
    guard: Guard | None = None
    condition: Guard | None = None


#: A guard's place in a line, while the rest of the line is tokenised.
_GUARD_MARK = "__guard_"


def _lift_guards(line: str) -> tuple[str, dict[str, Guard]]:
    """Replace each ``when ...``/``else`` item of a bracket by a mark (a name the
    tokeniser reads), parsing the guard; a guard's own brackets and strings are kept
    whole."""
    guards: dict[str, Guard] = {}
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] != "[":
            out.append(line[i])
            i += 1
            continue
        end = _closing(line, i)
        items = _split_items(line, i + 1, end)
        kept = []
        for start, text in items:
            word = text.strip()
            if word == "else" or re.match(r"(when|if)\b", word):
                try:
                    guard = parse_guard(text)
                except NotationError as e:
                    raise NotationError(line, start + e.position, e.expected) from None
                mark = f"{_GUARD_MARK}{len(guards)}"
                guards[mark] = guard
                kept.append(mark)
            else:
                kept.append(word)
        out.append("[" + ", ".join(kept) + "]")
        i = end + 1
    return "".join(out), guards


def _outside_quotes(line: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    """The characters of ``line[start:end]`` that are not inside a quoted string (a
    guard's strings may hold brackets and commas), with their index."""
    quote, i = "", start
    while i < end:
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            yield i, c
        i += 1


def _closing(line: str, at: int) -> int:
    """The index of the ``]`` closing the bracket opened at ``at``."""
    depth = 0
    for i, c in _outside_quotes(line, at, len(line)):
        depth += (c == "[") - (c == "]")
        if c == "]" and depth == 0:
            return i
    raise NotationError(line, at, "']' closing this '['")


def _split_items(line: str, start: int, end: int) -> list[tuple[int, str]]:
    """The comma-separated items between ``start`` and ``end`` (at depth 0), each with
    where it starts."""
    items, depth, begin = [], 0, start
    for i, c in _outside_quotes(line, start, end):
        depth += (c in "([") - (c in ")]")
        if c == "," and depth == 0:
            items.append((begin, line[begin:i]))
            begin = i + 1
    items.append((begin, line[begin:end]))
    return items


@dataclass
class _RawType:
    name: str
    params: tuple[str, ...]
    everywhere: bool
    roles: tuple[Role, ...] | None = None  # given with ';', else inferred
    open: bool = False
    alts: list[_Alt] = field(default_factory=list)
    constraints: tuple[Constraint, ...] = ()


def _parse_fragment(toks: _Tokens, params: tuple[str, ...]) -> Fragment:
    if toks.peek_value() == "nothing":
        toks.i += 1
        return Fragment()
    kinds: dict[str, str] = {}
    order: list[str] = []
    edges: list[tuple[str, str]] = []
    holes: list[HoleSpec] = []

    def note(name: str, kind: str | None, at: int) -> None:
        if name in params:
            if kind is not None:
                raise NotationError(toks.text, at, f"no kind on parameter {name!r}")
            return
        if name not in kinds:
            kinds[name] = kind or name
            order.append(name)
        elif kind is not None and kinds[name] != kind:
            raise NotationError(toks.text, at,
                                f"one kind for task {name!r} (it is already {kinds[name]!r})")

    def atom() -> str:
        at = toks.where()
        name = toks.take("name", "a task or parameter name")
        if toks.peek() == "(":
            raise NotationError(toks.text, at, f"a task or parameter, not hole {name}(...): a "
                                "hole cannot be part of a chain; write it as its own item")
        kind = None
        if toks.accept(":"):
            kind = toks.take("name", "a kind after ':'")
        note(name, kind, at)
        return name

    while True:
        at = toks.where()
        if toks.peek() == "name" and toks.i + 1 < len(toks.items) \
                and toks.items[toks.i + 1][0] == "(":
            htype = toks.take("name", "a hole type")
            toks.take("(", "'('")
            args: list[str] = []
            if toks.accept("*"):
                args.append(EVERYWHERE)
            elif toks.peek() == "name":
                args.append(atom())
                while toks.accept(","):
                    args.append(atom())
            if toks.peek() == ";":  # roles belong in a production's head, not in a use
                raise NotationError(toks.text, toks.where(), "',' or ')' closing the hole's "
                                    "arguments (';' separates roles only in a production's "
                                    f"head, {htype}(a; b) ::= ...; here write "
                                    f"{htype}({', '.join(args)}, ...))")
            toks.take(")", "')' closing the hole's arguments")
            if toks.peek() == "->":
                raise NotationError(toks.text, toks.where(),
                                    f"',' or '|' after hole {htype}(...): a hole cannot be "
                                    "part of a chain; write its attachment as arguments")
            holes.append(HoleSpec(htype, tuple(args)))
        else:
            if toks.peek() != "name":
                raise NotationError(toks.text, at, "a task, a hole 'T(args)' or 'nothing'")
            prev = atom()
            while toks.accept("->"):
                nxt = atom()
                edges.append((prev, nxt))
                prev = nxt
        if not toks.accept(","):
            break
    tasks = tuple(TaskSpec(n, kinds[n]) for n in order)
    return Fragment(tasks, tuple(holes), tuple(edges))


#: ``... ::= * where <constraints>``: the constraints are read by their own parser.
_WHERE = re.compile(r"(?P<head>.*::=\s*\*)\s+where\b(?P<rest>.*)\Z")


def _parse_production(line: str) -> tuple[_RawType, list[_Alt], bool]:
    where = _WHERE.match(line)
    if where is not None:
        raw, head_alts, head_open = _parse_production(where.group("head"))
        rest = where.group("rest")
        offset = where.start("rest")
        try:
            raw.constraints = parse_constraints(rest)
        except NotationError as e:
            raise NotationError(line, offset + e.position, e.expected) from None
        if not raw.constraints:
            raise NotationError(line, len(line), "constraints after 'where'")
        return raw, head_alts, head_open
    shown = line
    line, guards = _lift_guards(line) if "[" in line else (line, {})
    toks = _Tokens.of(line)
    if guards:
        toks.text = shown  # errors point into what was written (guards come last)
    name = toks.take("name", "a hole type name")
    toks.take("(", "'(' after the hole type name")
    params: list[str] = []
    split: int | None = None
    everywhere = False
    if toks.accept("*"):
        everywhere = True
    else:
        while toks.peek() in ("name", ";"):
            if toks.accept(";"):
                if split is not None:
                    raise NotationError(line, toks.where(), "one ';' at most")
                split = len(params)
            else:
                params.append(toks.take("name", "a parameter"))
                if toks.peek() != ")" and toks.peek() != ";":
                    toks.take(",", "',', ';' or ')' between parameters")
    toks.take(")", "')' closing the parameters")
    toks.take("::=", "'::='")
    roles = None if split is None else tuple(
        Role.AFTER if i < split else Role.BEFORE for i in range(len(params)))
    raw = _RawType(name, tuple(params), everywhere, roles)
    if toks.accept("*"):
        if not toks.done():
            raise NotationError(line, toks.where(), "end of line or 'where' after '*' "
                                "(an open type)")
        return raw, [], True
    alts: list[_Alt] = []
    while True:
        labels: list[str] = []
        guard: Guard | None = None
        condition: Guard | None = None
        if toks.accept("["):
            labels.append(toks.take("name", "a label"))
            while toks.accept(","):
                labels.append(toks.take("name", "a label"))
            toks.take("]", "']' closing the labels")
            for mark in [label for label in labels if label.startswith(_GUARD_MARK)]:
                found = guards[mark]
                labels.remove(mark)
                if (condition if found.permit else guard) is not None:
                    raise NotationError(shown, toks.where(), "one 'when'/'else' and one "
                                        "'if' per alternative at most")
                if found.permit:
                    condition = found
                else:
                    guard = found
        alts.append(_Alt(_parse_fragment(toks, raw.params), labels, guard, condition))
        if toks.done():
            return raw, alts, False
        toks.take("|", "'|', ',' or '->'")


@dataclass(frozen=True, slots=True)
class _Line:
    """One production: the lines it is written on joined (a line starting with ``|`` or
    ``;`` continues the one before), comments cut; each piece with where it starts in
    ``text`` and in the source it was read from."""

    text: str
    pieces: tuple[tuple[int, int], ...]

    def offset(self, position: int) -> int:
        """Where ``position`` of the production is in its source."""
        start, at = next(p for p in reversed(self.pieces) if p[0] <= position)
        return at + position - start


def _logical_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        code = raw[:_comment_at(raw)]
        line = code.strip()
        at = offset + len(code) - len(code.lstrip())
        offset += len(raw)
        if not line:
            continue
        if line.startswith(("|", ";")) and lines:
            last = lines[-1]
            lines[-1] = _Line(f"{last.text} {line}", (*last.pieces, (len(last.text) + 1, at)))
        else:
            lines.append(_Line(line, ((0, at),)))
    return lines


def _comment_at(line: str) -> int:
    """Where a line's comment starts: its first ``#`` outside a guard's quoted strings
    (``[when a == '#1']`` holds no comment); the line's end if it has none."""
    return next((i for i, c in _outside_quotes(line, 0, len(line)) if c == "#"), len(line))


def parse_types(rules: str | Iterable[str]) -> dict[str, HoleType]:
    """Parse productions (one per logical line) into hole types, roles inferred."""
    texts = [rules] if isinstance(rules, str) else list(rules)
    raws: dict[str, _RawType] = {}
    for text in texts:
        for line in _logical_lines(text):
            try:
                raw, alts, is_open = _parse_production(line.text)
            except NotationError as e:
                raise e.within(text, line.offset(e.position)) from None
            known = raws.get(raw.name)
            if known is None:
                raws[raw.name] = known = raw
            elif (known.params, known.everywhere, known.roles) != (
                    raw.params, raw.everywhere, raw.roles):
                raise GrammarError(f"{raw.name} is declared with different parameters: "
                                   f"{known.params} and {raw.params}")
            known.open = known.open or is_open
            known.constraints = (*known.constraints, *raw.constraints) \
                if known is not raw else raw.constraints
            known.alts.extend(alts)
            if known.open and known.alts:
                raise GrammarError(f"{raw.name} is open ('::= *'), so it takes no "
                                   "other productions")
    for raw in raws.values():
        if raw.open and raw.params and raw.roles is None:
            raise GrammarError(
                f"open type {raw.name}({', '.join(raw.params)}) needs its roles: write "
                f"{raw.name}(after...; before...), e.g. {raw.name}({raw.params[0]}; "
                f"{', '.join(raw.params[1:])}), since it has no productions to infer them from")
    roles = _infer_roles(raws)
    return {name: _build_type(raw, roles[name]) for name, raw in raws.items()}


def _infer_roles(raws: dict[str, _RawType]) -> dict[str, tuple[Role, ...]]:
    before: dict[str, set[str]] = {
        n: {p for p, r in zip(raw.params, raw.roles or (), strict=False) if r is Role.BEFORE}
        for n, raw in raws.items()}
    changed = True
    while changed:
        changed = False
        for name, raw in raws.items():
            if raw.roles is not None:
                continue
            for alt in raw.alts:
                targets = {v for _, v in alt.fragment.edges}
                for h in alt.fragment.holes:
                    child = raws.get(h.type)
                    if child is None:
                        continue
                    for p, arg in zip(child.params, h.args, strict=False):
                        if p in before[h.type]:
                            targets.add(arg)
                new = (targets & set(raw.params)) - before[name]
                if new:
                    before[name] |= new
                    changed = True
    return {n: tuple(Role.BEFORE if p in before[n] else Role.AFTER for p in raw.params)
            for n, raw in raws.items()}


def _build_type(raw: _RawType, roles: tuple[Role, ...]) -> HoleType:
    if raw.open:
        return HoleType(raw.name, raw.params, roles, open=True, everywhere=raw.everywhere,
                        constraints=raw.constraints)
    if raw.everywhere:
        raise GrammarError(f"{raw.name}(*) is attached everywhere, so it must be open: "
                           f"write '{raw.name}(*) ::= *'")
    prods: list[Production] = []
    default: str | None = None
    for i, alt in enumerate(raw.alts):
        names = [label for label in alt.labels if label != "default"]
        if len(names) > 1:
            raise GrammarError(f"{raw.name}: alternative {i + 1} has two names {names}")
        pname = names[0] if names else str(i + 1)
        if "default" in alt.labels:
            if default is not None:
                raise GrammarError(f"{raw.name}: two alternatives are marked default")
            default = pname
        prods.append(Production(raw.name, raw.params, alt.fragment, pname, alt.guard,
                                alt.condition))
    return HoleType(raw.name, raw.params, roles, tuple(prods), default)


def parse_fragment(text: str) -> Fragment:
    """Parse a fragment with no parameters (a start graph): every name is a task."""
    toks = _Tokens.of(text)
    fragment = _parse_fragment(toks, ())
    if not toks.done():
        raise NotationError(text, toks.where(), "',' or the end of the fragment")
    return fragment


def define(start: str, rules: str | HoleType | Iterable[str | HoleType] = (), *,
           cosmetics: Iterable[str] = (),
           styles: Mapping[str, Mapping[str, Any]] | None = None) -> Grammar:
    """A grammar from the short notation: the start graph and the productions
    (``cosmetics``: promises about how tasks may be styled, :mod:`grammarflow.core.cosmetics`;
    ``styles``: how tasks of a kind, ``"fetch"``, and edges between kinds,
    ``"fetch -> report"``, are drawn from the start).

    >>> g = define("s -> e, Ms(s, e)", '''
    ...     Ms(a, b) ::= [default] nothing | a -> M -> b, Ms(a, b)
    ... ''')
    >>> g.types["Ms"].default
    '1'
    """
    if not isinstance(start, str):
        raise GrammarError("define(start, rules): start is the start graph in the notation, "
                           f"a string such as 'start, end, X(start, end)'; got {_what(start)}")
    if not isinstance(rules, str | HoleType | Iterable):
        raise GrammarError("define(start, rules): rules are productions in the notation "
                           f"(strings) or hole types; got {_what(rules)}")
    items = [rules] if isinstance(rules, str | HoleType) else list(rules)
    for item in items:
        if not isinstance(item, str | HoleType):
            raise GrammarError("define(start, rules): each rule is a production in the "
                               "notation (a string) or a hole type (from repeat_parallel, "
                               f"hole_type, ...); got {_what(item)}")
    texts = [r for r in items if isinstance(r, str)]
    types = parse_types(texts)
    for t in items:
        if isinstance(t, HoleType):
            if t.name in types:
                raise GrammarError(f"hole type {t.name} is defined twice")
            types[t.name] = t
    if isinstance(cosmetics, str):
        cosmetics = [cosmetics]
    try:
        promises = tuple(parse_cosmetic_promise(c) for c in cosmetics)
        drawn = registered_styles(styles or {})
    except GrammarflowError as e:
        raise GrammarError(str(e)) from None
    return Grammar(parse_fragment(start), types, cosmetics=promises, styles=drawn)


def _what(value: object) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"

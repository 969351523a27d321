"""Is every value of one data type also a value of another? Decided on JSON Schemas.

Soundly: :func:`incompatibility` answers ``None`` only when every value of the source is
one of the target, and a keyword it does not know fits only the same keyword
(docs/data.md, "Type errors, before anything runs").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any] | bool

#: Keywords that say nothing about which values are allowed.
_NOTES = frozenset({"title", "description", "default", "examples", "$comment",
                    "deprecated", "readOnly", "writeOnly"})
#: Keywords this module understands.
_KNOWN = frozenset({"type", "enum", "const", "anyOf", "oneOf", "items", "prefixItems",
                    "minItems", "maxItems", "uniqueItems", "properties", "required",
                    "additionalProperties", "$ref", "$defs"}) | _NOTES

_NAMES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool",
          "null": "None"}


class _Doc:
    """A schema with the ``$defs`` its ``$ref`` point into."""

    def __init__(self, root: Schema) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {}) if isinstance(root, Mapping) \
            else {}

    def resolve(self, schema: Schema) -> Schema:
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema:
            ref = schema["$ref"]
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith("#/$defs/") or name not in self.defs or seen > 64:
                raise ValueError(f"unresolvable $ref {ref!r}")
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.defs[name], **rest}
            seen += 1
        return schema


def incompatibility(source: Schema, target: Schema) -> str | None:
    """Why a value of ``source`` may not be a value of ``target`` (``None``: every one
    is).

    >>> incompatibility({"type": "integer"}, {"type": "number"}) is None
    True
    >>> incompatibility({"type": "number"}, {"type": "integer"})
    'a float is not an int'
    """
    return _Check(_Doc(source), _Doc(target)).sub(source, target)


def element(schema: Schema) -> Schema | None:
    """The schema of a list's elements (``None`` if ``schema`` is not always a list)."""
    doc = _Doc(schema)
    s = doc.resolve(schema)
    if not isinstance(s, Mapping) or s.get("type") != "array":
        return None
    items = s.get("items", {})
    if "prefixItems" in s:  # a tuple: its elements are any of its members
        members = [*s["prefixItems"], *([items] if "items" in s else [])]
        items = {"anyOf": members}
    if isinstance(items, Mapping) and doc.defs:
        return {**items, "$defs": doc.defs}
    return items if isinstance(items, Mapping | bool) else {}


class _Check:
    def __init__(self, left: _Doc, right: _Doc) -> None:
        self.left, self.right = left, right
        self.assumed: set[tuple[str, str]] = set()  # pairs under check (recursion)

    def sub(self, s: Schema, t: Schema) -> str | None:
        key = (json.dumps(s, sort_keys=True), json.dumps(t, sort_keys=True))
        if key in self.assumed:
            return None  # coinduction: a recursive type is within itself
        self.assumed.add(key)
        try:
            return self._sub(self.left.resolve(s), self.right.resolve(t))
        finally:
            self.assumed.discard(key)

    def _sub(self, s: Schema, t: Schema) -> str | None:
        if t is True or t == {} or _only_notes(t):
            return None
        if t is False:
            return f"nothing is allowed where {describe(s)} would go"
        if s is False:
            return None
        if s is True or _only_notes(s):
            return f"any value is not {describe(t)}"
        assert isinstance(s, Mapping) and isinstance(t, Mapping)
        for union in ("anyOf", "oneOf"):
            if union in s:
                rest = {k: v for k, v in s.items() if k != union}
                for branch in s[union]:
                    why = self.sub({**rest, **branch}, t) if rest else self.sub(branch, t)
                    if why is not None:
                        return why
                return None
        if "anyOf" in t or "oneOf" in t:
            branches = t.get("anyOf", t.get("oneOf"))
            rest = {k: v for k, v in t.items() if k not in ("anyOf", "oneOf")}
            reasons = []
            for branch in branches:
                why = self.sub(s, {**rest, **branch} if rest else branch)
                if why is None:
                    return None
                reasons.append(why)
            return f"{describe(s)} is not {describe(t)}"
        values = _literals(s)
        if values is not None:
            for v in values:
                why = self._value_in(v, t)
                if why is not None:
                    return why
            return None
        if _literals(t) is not None:
            return f"{describe(s)} is not {describe(t)}: not every value is allowed"
        why = self._unknown(s, t)
        if why is not None:
            return why
        st, tt = s.get("type"), t.get("type")
        if tt is not None and st != tt and not (st == "integer" and tt == "number"):
            if st is None:
                return f"{describe(s)} is not {describe(t)}"
            return f"{_a(describe(s, self.left.defs))} is not {_a(describe(t, self.right.defs))}"
        if tt == "array":
            return self._array(s, t)
        if tt == "object":
            return self._object(s, t)
        return None

    def _unknown(self, s: Mapping[str, Any], t: Mapping[str, Any]) -> str | None:
        for key in t:
            if key in _KNOWN:
                continue
            if s.get(key) != t[key]:
                return (f"cannot tell that {describe(s)} is {describe(t)}: the input "
                        f"requires {key}={json.dumps(t[key])}")
        return None

    def _array(self, s: Mapping[str, Any], t: Mapping[str, Any]) -> str | None:
        s_min, t_min = s.get("minItems", 0), t.get("minItems", 0)
        s_max, t_max = s.get("maxItems"), t.get("maxItems")
        if s_min < t_min:
            return f"{describe(s)} may have fewer than {t_min} elements"
        if t_max is not None and (s_max is None or s_max > t_max):
            return f"{describe(s)} may have more than {t_max} elements"
        if t.get("uniqueItems") and not s.get("uniqueItems"):
            return f"{describe(s)} may repeat elements; {describe(t)} may not"
        s_pre, t_pre = s.get("prefixItems", []), t.get("prefixItems", [])
        length = max(len(s_pre), len(t_pre))
        for i in range(length):
            si = s_pre[i] if i < len(s_pre) else s.get("items", {})
            ti = t_pre[i] if i < len(t_pre) else t.get("items", {})
            if s_max is not None and i >= s_max:
                break
            why = self.sub(si, ti)
            if why is not None:
                return f"element {i}: {why}"
        if s_max is None or s_max > length:
            why = self.sub(s.get("items", {}), t.get("items", {}))
            if why is not None:
                return f"elements: {why}"
        return None

    def _object(self, s: Mapping[str, Any], t: Mapping[str, Any]) -> str | None:
        s_props, t_props = s.get("properties", {}), t.get("properties", {})
        s_extra = s.get("additionalProperties", not s_props)
        t_extra = t.get("additionalProperties", not t_props)
        # outputs are journaled as pydantic dumps them: a field with a default is there
        s_required = set(s.get("required", ())) | {
            k for k, p in s_props.items() if isinstance(p, Mapping) and "default" in p}
        for key in t.get("required", ()):
            if key not in s_required:
                return f"field {key!r}: required by {describe(t)}, not always there in " \
                       f"{describe(s)}"
        for key, t_prop in t_props.items():
            if key in s_props:
                why = self.sub(s_props[key], t_prop)
            elif s_extra is not False and s_extra is not None:
                why = self.sub(True if s_extra is True else s_extra, t_prop)
            else:
                continue
            if why is not None:
                return f"field {key!r}: {why}"
        for key, s_prop in s_props.items():
            if key in t_props:
                continue
            if t_extra is False or t_extra is None:
                # a closed target drops what it does not name (pydantic ignores it)
                continue
            why = self.sub(s_prop, True if t_extra is True else t_extra)
            if why is not None:
                return f"field {key!r}: {why}"
        if s_extra not in (False, None) and t_extra not in (False, None) \
                and not (s_props and "additionalProperties" not in s):
            why = self.sub(True if s_extra is True else s_extra,
                           True if t_extra is True else t_extra)
            if why is not None:
                return f"values: {why}"
        return None

    def _value_in(self, value: Any, t: Mapping[str, Any]) -> str | None:
        """Is one literal value (of an ``enum``/``const``) allowed by ``t``?"""
        allowed = _literals(t)
        if allowed is not None:
            if not any(_same(value, a) for a in allowed):
                return f"{json.dumps(value)} is not {describe(t)}"
            return None
        if "anyOf" in t or "oneOf" in t:
            branches = t.get("anyOf", t.get("oneOf"))
            if any(self._value_in(value, r) is None for b in branches
                   if isinstance(r := self.right.resolve(b), Mapping)):
                return None
            return f"{json.dumps(value)} is not {describe(t)}"
        return self._sub(_literal_schema(value), t)


def _literals(s: Schema) -> list[Any] | None:
    if not isinstance(s, Mapping):
        return None
    if "const" in s:
        return [s["const"]]
    if "enum" in s:
        return list(s["enum"])
    return None


def _literal_schema(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    return {}


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y)


def _only_notes(s: Schema) -> bool:
    return isinstance(s, Mapping) and all(k in _NOTES or k == "$defs" for k in s)


def _a(name: str) -> str:
    """``an int``, ``a str``, ``None``."""
    if name == "None":
        return name
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _name(json_type: str) -> str:
    return _NAMES.get(json_type, json_type)


def describe(schema: Schema, defs: Mapping[str, Any] | None = None, depth: int = 0) -> str:
    """A short Python-like name of a schema: ``list[str] | None``, ``Point``, ``Any``.

    >>> describe({"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}]})
    'list[str] | None'
    """
    if defs is None and isinstance(schema, Mapping):
        defs = schema.get("$defs", {})
    if schema is True or (isinstance(schema, Mapping) and _only_notes(schema)
                          and "title" not in schema):
        return "Any"
    if schema is False:
        return "Never"
    if depth > 4:
        return "..."
    s = schema
    if "$ref" in s:
        return str(s["$ref"]).rsplit("/", 1)[-1]
    for union in ("anyOf", "oneOf"):
        if union in s:
            return " | ".join(describe(b, defs, depth + 1) for b in s[union])
    values = _literals(s)
    if values is not None:
        return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"
    kind = s.get("type")
    if kind == "array":
        if "prefixItems" in s:
            parts = [describe(p, defs, depth + 1) for p in s["prefixItems"]]
            return "tuple[" + ", ".join(parts) + "]"
        inner = describe(s.get("items", {}), defs, depth + 1)
        return f"{'set' if s.get('uniqueItems') else 'list'}[{inner}]"
    if kind == "object":
        if "title" in s and "properties" in s:
            return str(s["title"])
        extra = s.get("additionalProperties", True)
        return f"dict[str, {describe(extra, defs, depth + 1)}]"
    if isinstance(kind, str):
        return _name(kind)
    return str(s.get("title", "Any"))


__all__ = ["Schema", "describe", "element", "incompatibility"]

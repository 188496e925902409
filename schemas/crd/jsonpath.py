"""client-go's util/jsonpath template language, as the API server uses it for printer columns and
selectable fields: ``{.spec.cronSpec}``, ``{.items[0].name}``, ``{.status.conditions[?(@.type=="Ready")].status}``,
``{..name}``, ``{.spec.*}``, unions and slices. ``range``/``end`` blocks are not supported here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from schemas.crd._go import go_json, go_sprint, print_value

__all__ = ["JSONPath", "JSONPathError", "parse", "find_results", "print_value", "go_json", "go_sprint"]


class JSONPathError(Exception):
    pass


@dataclass
class _Node:
    kind: str  # list text field array filter int float bool wildcard recursive union identifier
    value: Any = None
    nodes: list[_Node] = field(default_factory=list)
    left: _Node | None = None
    right: _Node | None = None


_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$", re.S)
_TERMINATORS = set(" \t\r\n.,[]$@{}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s, self.pos = text, 0

    def parse_template(self) -> _Node:
        root = _Node("list")
        start = 0
        while True:
            i = self.s.find("{", self.pos)
            if i < 0:
                if start < len(self.s):
                    root.nodes.append(_Node("text", self.s[start:]))
                return root
            if i > start:
                root.nodes.append(_Node("text", self.s[start:i]))
            self.pos = i + 1
            action = _Node("list")
            root.nodes.append(action)
            self._inside(action)
            start = self.pos

    def _inside(self, cur: _Node) -> None:
        while True:
            rest = self.s[self.pos:]
            if rest.startswith("}"):
                self.pos += 1
                return
            if rest.startswith("[?("):
                self._filter(cur)
                continue
            if rest.startswith(".."):
                if cur.nodes and cur.nodes[-1].kind == "recursive":
                    raise JSONPathError("invalid multiple recursive descent")
                self.pos += 2
                cur.nodes.append(_Node("recursive"))
                if self.pos < len(self.s) and (self.s[self.pos].isalnum() or self.s[self.pos] == "_"):
                    self._field(cur)
                continue
            if not rest or rest[0] in "\r\n":
                raise JSONPathError("unclosed action")
            c = rest[0]
            if c in " @$":
                self.pos += 1
            elif c == "[":
                self._array(cur)
            elif c in "\"'":
                self._quote(cur, c)
            elif c == ".":
                self.pos += 1
                self._field(cur)
            elif c in "+-" or c.isdigit():
                self._number(cur)
            elif c.isalnum() or c == "_":
                self._identifier(cur)
            else:
                raise JSONPathError(f"unrecognized character in action: U+{ord(c):04X} '{c}'")

    def _field(self, cur: _Node) -> None:
        start = self.pos
        while self.pos < len(self.s):
            c = self.s[self.pos]
            if c == "\\":
                self.pos += 2
                continue
            if c in _TERMINATORS:
                break
            self.pos += 1
        value = self.s[start:self.pos]
        cur.nodes.append(_Node("wildcard") if value == "*" else _Node("field", value.replace("\\", "")))

    def _identifier(self, cur: _Node) -> None:
        start = self.pos
        while self.pos < len(self.s) and self.s[self.pos] not in _TERMINATORS:
            self.pos += 1
        value = self.s[start:self.pos]
        cur.nodes.append(_Node("bool", value == "true") if value in ("true", "false") else _Node("identifier", value))

    def _number(self, cur: _Node) -> None:
        start = self.pos
        if self.s[self.pos] in "+-":
            self.pos += 1
        while self.pos < len(self.s) and (self.s[self.pos].isdigit() or self.s[self.pos] == "."):
            self.pos += 1
        text = self.s[start:self.pos]
        try:
            cur.nodes.append(_Node("int", int(text)))
        except ValueError:
            try:
                cur.nodes.append(_Node("float", float(text)))
            except ValueError:
                raise JSONPathError(f"cannot parse number {text}") from None

    def _quote(self, cur: _Node, q: str) -> None:
        start = self.pos
        self.pos += 1
        while True:
            if self.pos >= len(self.s) or self.s[self.pos] == "\n":
                raise JSONPathError("unterminated quoted string")
            if self.s[self.pos] == q and self.s[self.pos - 1] != "\\":
                break
            self.pos += 1
        self.pos += 1
        raw = self.s[start + 1:self.pos - 1]
        try:
            text = json.loads('"' + raw.replace('"', '\\"').replace("\\'", "'") + '"') if "\\" in raw else raw
        except ValueError:
            raise JSONPathError(f"unquote string {self.s[start:self.pos]} error invalid syntax") from None
        cur.nodes.append(_Node("text", text))

    def _array(self, cur: _Node) -> None:
        end = self.s.find("]", self.pos)
        nl = self.s.find("\n", self.pos)
        if end < 0 or 0 <= nl < end:
            raise JSONPathError("unterminated array")
        text = self.s[self.pos + 1:end]
        self.pos = end + 1
        text = ":" if text == "*" else text
        parts = text.split(",")
        if len(parts) > 1:
            cur.nodes.append(_Node("union", nodes=[_action(f"[{p.strip()}]") for p in parts]))
            return
        m = _DICT_KEY.match(text)
        if m:
            cur.nodes.extend(_action(f".{m.group(1)}").nodes)
            return
        m = _SLICE.match(text)
        if not m:
            raise JSONPathError(f"invalid array index {text}")
        groups = m.groups()
        params: list[list[Any]] = []  # [value, known, derived]
        for i, g in enumerate(groups):
            g = g or ""
            if g:
                if i > 0:
                    g = g[1:]
                if i > 0 and g == "":
                    params.append([0, False, False])
                else:
                    params.append([int(g), True, False])
            elif i == 1:
                params.append([params[0][0] + 1, True, True])
            else:
                params.append([0, False, False])
        cur.nodes.append(_Node("array", params))

    def _filter(self, cur: _Node) -> None:
        self.pos += 3
        start = self.pos
        begin = end = False
        pair = ""
        while True:
            if self.pos >= len(self.s) or self.s[self.pos] == "\n":
                raise JSONPathError("unterminated filter")
            c = self.s[self.pos]
            self.pos += 1
            if c in "\"'":
                if not begin:
                    begin, pair = True, c
                elif self.s[self.pos - 2] != "\\" and c == pair:
                    end = True
            elif c == ")" and begin == end:
                break
        if self.pos >= len(self.s) or self.s[self.pos] != "]":
            raise JSONPathError("unclosed array expect ]")
        self.pos += 1
        text = self.s[start:self.pos - 2]
        m = _FILTER.match(text)
        if m is None:
            cur.nodes.append(_Node("filter", "exists", left=_action(text), right=_Node("list")))
        else:
            cur.nodes.append(_Node("filter", m.group(2), left=_action(m.group(1)), right=_action(m.group(3))))


def _action(text: str) -> _Node:
    root = _Parser("{" + text + "}").parse_template()
    node = root.nodes[0]
    assert node.kind == "list"
    return node


def parse(template: str) -> _Node:
    return _Parser(template).parse_template()


# -- evaluation ------------------------------------------------------------------------------------------

_ABSENT = object()


def _go_type(v: Any) -> str:
    return {bool: "bool", int: "int64", float: "float64", str: "string", dict: "map[string]interface {}",
            list: "[]interface {}"}.get(type(v), "<nil>")


def _walk(values: list[Any], node: _Node, allow_missing: bool) -> list[Any]:
    k = node.kind
    if k == "list":
        for n in node.nodes:
            values = _walk(values, n, allow_missing)
        return values
    if k in ("text", "int", "float", "bool"):
        return [node.value for _ in values] if k != "text" else [node.value]
    if k == "field":
        out = [v[node.value] for v in values if isinstance(v, dict) and node.value in v]
        if not out and values and not allow_missing:
            raise JSONPathError(f"{node.value} is not found")
        return out
    if k == "array":
        return _eval_array(values, node)
    if k == "filter":
        return _eval_filter(values, node, allow_missing)
    if k == "wildcard":
        found: list[Any] = []
        for v in values:
            if isinstance(v, dict):
                found.extend(v.values())
            elif isinstance(v, list):
                found.extend(v)
            elif isinstance(v, str):
                found.extend(v.encode())  # Go indexes a string's bytes
        return found
    if k == "recursive":
        return _eval_recursive(values)
    if k == "union":
        return [r for n in node.nodes for r in _walk(values, n, allow_missing)]
    raise JSONPathError(f"unrecognized identifier {node.value}")


def _eval_array(values: list[Any], node: _Node) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is None:
            continue
        if not isinstance(v, list):
            raise JSONPathError(f"{_go_type(v)} is not array or slice")
        (start, k0, _), (stop, k1, derived), (step, k2, _) = (list(p) for p in node.value)
        n = len(v)
        start = start if k0 else 0
        start = start + n if start < 0 else start
        stop = stop if k1 else n
        if stop < 0 or (stop == 0 and derived):
            stop += n
        if stop == start:
            return out
        if start >= n or start < 0:
            raise JSONPathError(f"array index out of bounds: index {start}, length {n}")
        if stop > n or stop < 0:
            raise JSONPathError(f"array index out of bounds: index {stop - 1}, length {n}")
        if start > stop:
            raise JSONPathError(f"starting index {start} is greater than ending index {stop}")
        if k2 and step <= 0:
            raise JSONPathError("step must be > 0")
        out.extend(v[start:stop:step if k2 else 1])
    return out


def _compare(op: str, a: Any, b: Any) -> bool:
    def kind(x: Any) -> str:
        if isinstance(x, bool):
            return "bool"
        if isinstance(x, int):
            return "int"
        if isinstance(x, float):
            return "float"
        if isinstance(x, str):
            return "string"
        return "other"

    ka, kb = kind(a), kind(b)
    if "other" in (ka, kb):
        raise JSONPathError("invalid type for comparison")
    if ka != kb:
        raise JSONPathError("incompatible types for comparison")
    if op in ("==", "!="):
        return bool(a == b) == (op == "==")
    if ka == "bool":
        raise JSONPathError("invalid type for comparison")
    if op not in ("<", ">", "<=", ">="):
        return _bad_op(op)
    return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])


def _bad_op(op: str) -> bool:
    raise JSONPathError(f"unrecognized filter operator {op}")


def _eval_filter(values: list[Any], node: _Node, allow_missing: bool) -> list[Any]:
    out: list[Any] = []
    assert node.left is not None and node.right is not None
    for v in values:
        if not isinstance(v, list):
            raise JSONPathError(f"{go_sprint(v)} is not array or slice and cannot be filtered")
        for item in v:
            try:
                lefts = _walk([item], node.left, allow_missing)
            except JSONPathError:
                if node.value == "exists":
                    continue
                raise
            if node.value == "exists":
                if lefts:
                    out.append(item)
                continue
            if not lefts:
                continue
            if len(lefts) > 1:
                raise JSONPathError("can only compare one element at a time")
            rights = _walk([item], node.right, allow_missing)
            if not rights:
                continue
            if len(rights) > 1:
                raise JSONPathError("can only compare one element at a time")
            if _compare(node.value, lefts[0], rights[0]):
                out.append(item)
    return out


def _eval_recursive(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is None:
            continue
        children: list[Any] = (list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list)
                               else list(v.encode()) if isinstance(v, str) else [])
        if children:
            out.append(v)
            out.extend(_eval_recursive(children))
    return out


def find_results(tree: _Node, data: Any, *, allow_missing: bool = True) -> list[list[Any]]:
    """FindResults: one result list per top-level node (text nodes yield their text)."""
    return [_walk([data], n, allow_missing) for n in tree.nodes]


# -- printing --------------------------------------------------------------------------------------------

class JSONPath:
    """A parsed template; ``find`` returns the first result of the first action, or _ABSENT-like None."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.tree = parse(template)

    def find_results(self, data: Any, *, allow_missing: bool = True) -> list[list[Any]]:
        return find_results(self.tree, data, allow_missing=allow_missing)

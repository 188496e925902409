"""Field paths, field sets and the FieldsV1 wire format (sigs.k8s.io/structured-merge-diff ``fieldpath``).

A *path element* (PE) is a hashable, totally ordered tuple ``(rank, payload)``:

* ``(0, name)`` -- a map field, written ``f:name`` / ``.name``;
* ``(1, ((key, frozen), ...))`` -- an item of an associative list with keys, sorted by key name,
  written ``k:{"name":"nginx"}`` / ``[name="nginx"]``;
* ``(2, frozen)`` -- an item of a set (associative list of scalars), written ``v:"a"`` / ``[="a"]``;
* ``(3, index)`` -- a list index, written ``i:0`` / ``[0]``.

``frozen`` values are JSON values turned into ``(rank, payload)`` tuples ordered as SMD's ``value.Compare``
(numbers < strings < booleans < lists < maps < null; ints and floats compare numerically). Tuple order of
PEs is SMD's ``PathElement.Compare``, so sorting PEs sorts them as upstream emits them.

A :class:`FieldSet` is SMD's ``Set``: ``members`` (paths ending here) and ``children`` (subsets under a
PE; a child is never empty). Sets returned by the operations share subtrees with their inputs: treat
them as immutable once built; only :meth:`FieldSet.insert` mutates, on sets you have just made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from apiserver.fieldmanager.gojson import go_json, go_value_string

__all__ = ["PE", "Path", "FieldSet", "field_pe", "key_pe", "value_pe", "index_pe", "freeze", "thaw",
           "pe_key", "parse_pe", "path_string", "to_fields_v1", "from_fields_v1"]

PE = tuple[int, Any]
Path = tuple[PE, ...]

FIELD, KEY, VALUE, INDEX = 0, 1, 2, 3


def freeze(v: Any) -> tuple[int, Any]:
    """A JSON value as a hashable tuple ordered like SMD's value.Compare."""
    if v is None:
        return (5, 0)
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(freeze(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple(sorted((k, freeze(x)) for k, x in v.items())))
    raise TypeError(f"not a JSON value: {type(v).__name__}")


def thaw(f: tuple[int, Any]) -> Any:
    """The JSON value a :func:`freeze` result stands for."""
    rank, p = f
    if rank == 5:
        return None
    if rank == 3:
        return [thaw(x) for x in p]
    if rank == 4:
        return {k: thaw(x) for k, x in p}
    return p


def field_pe(name: str) -> PE:
    return (FIELD, name)


def key_pe(pairs: Iterable[tuple[str, Any]]) -> PE:
    return (KEY, tuple(sorted((k, freeze(v)) for k, v in pairs)))


def value_pe(v: Any) -> PE:
    return (VALUE, freeze(v))


def index_pe(i: int) -> PE:
    return (INDEX, i)


def pe_key(pe: PE) -> str:
    """The FieldsV1 key of a PE: ``f:name``, ``k:{...}``, ``v:...``, ``i:N``."""
    rank, p = pe
    if rank == FIELD:
        return "f:" + str(p)
    if rank == KEY:
        return "k:{" + ",".join(go_json(k) + ":" + go_json(thaw(v)) for k, v in p) + "}"
    if rank == VALUE:
        return "v:" + go_json(thaw(p))
    return f"i:{p}"


def parse_pe(s: str) -> PE | None:
    """Parse a FieldsV1 key; None for an unknown element type (upstream drops those). ValueError if bad."""
    if len(s) < 2:
        raise ValueError("key must be 2 characters long:")
    if s[1] != ":":
        raise ValueError(f"missing colon: {s}")
    kind, body = s[0], s[2:]
    if kind == "f":
        return (FIELD, body)
    if kind == "v":
        return (VALUE, freeze(json.loads(body)))
    if kind == "k":
        obj = json.loads(body)
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object in {s!r}")
        return key_pe(obj.items())
    if kind == "i":
        return (INDEX, int(body))
    return None


def pe_string(pe: PE) -> str:
    """SMD ``PathElement.String``: ``.name``, ``[k=v,...]``, ``[=v]``, ``[i]``."""
    rank, p = pe
    if rank == FIELD:
        return "." + str(p)
    if rank == KEY:
        return "[" + ",".join(f"{k}={go_value_string(thaw(v))}" for k, v in p) + "]"
    if rank == VALUE:
        return "[=" + go_value_string(thaw(p)) + "]"
    return f"[{p}]"


def path_string(path: Sequence[PE]) -> str:
    """A path as upstream prints it in conflicts and errors, e.g. ``.spec.containers[name="a"].image``."""
    return "".join(pe_string(pe) for pe in path)


class FieldSet:
    """A set of field paths (SMD ``fieldpath.Set``); see the module docstring for the sharing rule."""

    __slots__ = ("members", "children")

    def __init__(self, members: set[PE] | None = None, children: dict[PE, FieldSet] | None = None) -> None:
        self.members: set[PE] = members if members is not None else set()
        self.children: dict[PE, FieldSet] = children if children is not None else {}

    @classmethod
    def of(cls, *paths: Sequence[PE]) -> FieldSet:
        s = cls()
        for p in paths:
            s.insert(p)
        return s

    @classmethod
    def of_fields(cls, *dotted: str) -> FieldSet:
        """Paths made only of field names: ``FieldSet.of_fields("status", "metadata.labels")``."""
        return cls.of(*(tuple(field_pe(n) for n in d.split(".")) for d in dotted))

    def insert(self, path: Sequence[PE]) -> None:
        """Add ``path`` (parents are not added). The empty path (the whole object) is never tracked."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def has(self, path: Sequence[PE]) -> bool:
        if not path:
            return False
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node is not None else None
            if node is None:
                return False
        return node is not None and path[-1] in node.members

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def with_prefix(self, pe: PE) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def union(self, o: FieldSet) -> FieldSet:
        children = dict(self.children)
        for pe, c in o.children.items():
            mine = children.get(pe)
            children[pe] = c if mine is None else mine.union(c)
        return FieldSet(self.members | o.members, children)

    def intersection(self, o: FieldSet) -> FieldSet:
        children = {}
        for pe, c in self.children.items():
            other = o.children.get(pe)
            if other is not None:
                r = c.intersection(other)
                if not r.empty():
                    children[pe] = r
        return FieldSet(self.members & o.members, children)

    def difference(self, o: FieldSet) -> FieldSet:
        """Members of ``self`` not in ``o``; a parent in ``o`` does not remove a child of ``self``."""
        children = {}
        for pe, c in self.children.items():
            other = o.children.get(pe)
            if other is None:
                children[pe] = c
            else:
                r = c.difference(other)
                if not r.empty():
                    children[pe] = r
        return FieldSet(self.members - o.members, children)

    def recursive_difference(self, o: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``o`` also removes everything below it."""
        children = {}
        for pe, c in self.children.items():
            if pe in o.members:
                continue
            other = o.children.get(pe)
            if other is None:
                children[pe] = c
            else:
                r = c.recursive_difference(other)
                if not r.empty():
                    children[pe] = r
        return FieldSet(self.members - o.members, children)

    def leaves(self) -> FieldSet:
        return FieldSet(self.members - self.children.keys(), {pe: c.leaves() for pe, c in self.children.items()})

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in upstream's order (members of a node sorted, then its children sorted)."""
        for pe in sorted(self.members):
            yield prefix + (pe,)
        for pe in sorted(self.children):
            yield from self.children[pe].paths(prefix + (pe,))

    def __eq__(self, o: object) -> bool:
        if not isinstance(o, FieldSet):
            return NotImplemented
        return self.members == o.members and self.children == o.children

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"


def _emit(s: FieldSet, include_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if include_self and (s.members or s.children):
        out["."] = {}
    for pe in sorted(s.members | s.children.keys()):
        child = s.children.get(pe)
        out[pe_key(pe)] = {} if child is None else _emit(child, pe in s.members)
    return out


def to_fields_v1(s: FieldSet) -> dict[str, Any]:
    """The FieldsV1 JSON object of ``s``, keys in upstream's order, ``".": {}`` where an owned node has owned
    children."""
    return _emit(s, False)


def _read(obj: Any) -> tuple[FieldSet | None, bool]:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object in fieldsV1")
    children: FieldSet | None = None
    is_member = False
    for k, v in obj.items():
        if k == ".":
            is_member = True
            continue
        pe = parse_pe(k)
        if pe is None:
            continue
        grand, child_member = _read(v)
        if child_member:
            if children is None:
                children = FieldSet()
            children.members.add(pe)
        if grand is not None:
            if children is None:
                children = FieldSet()
            mine = children.children.get(pe)
            children.children[pe] = grand if mine is None else mine.union(grand)
    if children is None:
        is_member = True
    return children, is_member


def from_fields_v1(obj: Any) -> FieldSet:
    """Parse a FieldsV1 object (already JSON-decoded). ValueError on a malformed one."""
    try:
        s, _ = _read(obj)
    except json.JSONDecodeError as e:
        raise ValueError(str(e)) from e
    return s if s is not None else FieldSet()

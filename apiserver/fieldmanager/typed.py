"""Walking a JSON value along its SMD type: field sets, validation and comparison (SMD ``typed``).

Values are plain JSON (dicts, lists, str, int, float, bool, None). :data:`MISSING` stands for "no value"
(Go's nil ``value.Value``), distinct from ``None`` (an explicit ``null``). No function here mutates its
inputs.

* :func:`to_fieldset` -- ``TypedValue.ToFieldSet``: leaves, list items, null or empty maps, map keys that
  are not declared struct fields, atomic lists/maps as one leaf.
* :func:`validate` -- ``AsTyped`` validation of an applied configuration (duplicate or missing list keys,
  undeclared fields, wrong scalar types); raises :class:`TypedError` with upstream's text.
* :func:`compare` -- ``TypedValue.Compare``: which paths ``rhs`` added, modified or removed vs ``lhs``.
"""

from __future__ import annotations

from typing import Any

from apiserver.fieldmanager.fieldpath import (
    PE,
    FieldSet,
    Path,
    field_pe,
    index_pe,
    key_pe,
    pe_string,
    value_pe,
)
from apiserver.fieldmanager.gojson import go_quote
from apiserver.fieldmanager.schema import DEDUCED, Atom, ListType

__all__ = ["MISSING", "TypedError", "Comparison", "to_fieldset", "validate", "compare", "item_pe",
           "branches", "json_equal", "field_atom"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class TypedError(Exception):
    """SMD ``ValidationErrors``: ``errors`` holds (path, message) pairs; ``str()`` is upstream's text."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__(self.text())

    def text(self) -> str:
        def one(p: str, m: str) -> str:
            return f"{p}: {m}" if p else m
        if len(self.errors) == 1:
            return one(*self.errors[0])
        return "\n".join(["errors:"] + ["  " + one(p, m) for p, m in self.errors])


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


def branches(atom: Atom, v: Any) -> str:
    """SMD ``deduceAtom``: the branches of ``atom`` that apply to ``v``, in handling order (m, s, l)."""
    if isinstance(v, dict) and atom.map is not None:
        return "m"
    if isinstance(v, list) and atom.list is not None:
        return "l"
    if _is_scalar(v) and atom.scalar:
        return "s"
    return ("m" if atom.map is not None else "") + ("s" if atom.scalar else "") + \
        ("l" if atom.list is not None else "")


def json_equal(a: Any, b: Any) -> bool:
    """SMD ``value.Equals``: ints and floats compare numerically, booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _keys_text(keys: tuple[str, ...]) -> str:
    return "[" + " ".join(go_quote(k) for k in keys) + "]"


def item_pe(t: ListType, child: Any) -> PE:
    """The path element of one item of associative list ``t``; ValueError with SMD's message if it has none."""
    if t.keys:
        if child is None:
            raise ValueError("associative list with keys may not have a null element")
        if not isinstance(child, dict):
            raise ValueError("associative list with keys may not have non-map elements")
        elem = t.elem_atom.map
        pairs = []
        for k in t.keys:
            if k in child:
                pairs.append((k, child[k]))
            elif elem is not None and (d := elem.default(k)) is not None:
                pairs.append((k, d))
        if not pairs:
            raise ValueError(f"associative list with keys has an element that omits all key fields "
                             f"{_keys_text(t.keys)} (and doesn't have default values for any key fields)")
        return key_pe(pairs)
    if isinstance(child, dict):
        raise ValueError("associative list without keys has an element that's a map type")
    if isinstance(child, list):
        raise ValueError("not supported: associative list with lists as elements")
    if child is None:
        raise ValueError("associative list without keys has an element that's an explicit null")
    return value_pe(child)


def field_atom(atom: Atom, name: str) -> Atom:
    """The type of key ``name`` of a map of type ``atom`` (deduced when undeclared)."""
    m = atom.map
    t = m.field_type(name) if m is not None else None
    return t if t is not None else DEDUCED


# --- ToFieldSet ----------------------------------------------------------------------------------


def _tfs(v: Any, atom: Atom, path: Path, out: FieldSet) -> None:
    b = branches(atom, v)[:1]
    if b == "m":
        m = atom.map
        assert m is not None
        if m.atomic:
            out.insert(path)
            return
        if not isinstance(v, dict):
            return
        for k, cv in v.items():
            p = path + (field_pe(k),)
            _tfs(cv, field_atom(atom, k), p, out)
            if cv is None or (isinstance(cv, dict) and not cv) or k not in m.fields:
                out.insert(p)
    elif b == "s":
        out.insert(path)
    elif b == "l":
        lt = atom.list
        assert lt is not None
        if lt.atomic:
            out.insert(path)
            return
        if not isinstance(v, list):
            return
        seen: set[PE] = set()
        dups: set[PE] = set()
        pes: list[PE | None] = []
        for child in v:
            try:
                pe: PE | None = item_pe(lt, child)
            except ValueError:
                pe = None
            pes.append(pe)
            if pe is not None:
                if pe in seen and pe not in dups:
                    out.insert(path + (pe,))
                    dups.add(pe)
                seen.add(pe)
        for child, pe in zip(v, pes, strict=True):
            if pe is None or pe in dups:
                continue
            _tfs(child, lt.elem_atom, path + (pe,), out)
            out.insert(path + (pe,))


def to_fieldset(v: Any, atom: Atom) -> FieldSet:
    """The set of fields ``v`` sets (lenient: items without a usable key are skipped)."""
    out = FieldSet()
    _tfs(v, atom, (), out)
    return out


# --- validation ----------------------------------------------------------------------------------


def _go_v(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + " ".join(_go_v(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_v(v[k])}" for k in sorted(v)) + "]"
    return str(v)


_GO_TYPES = {str: "string", bool: "bool", int: "int64", float: "float64", list: "[]interface {}",
             dict: "map[string]interface {}"}


def _scalar_error(kind: str, v: Any) -> str | None:
    if v is None:
        return None
    if kind == "numeric" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        return f"expected numeric (int or float), got {_GO_TYPES.get(type(v), 'interface {}')}"
    if kind == "string" and not isinstance(v, str):
        rendered = go_quote(v) if isinstance(v, str) else _go_v(v)
        return f"expected string, got &value.valueUnstructured{{Value:{rendered}}}"
    if kind == "boolean" and not isinstance(v, bool):
        return f"expected boolean, got &{{{_go_v(v)}}}"
    if kind == "untyped" and not _is_scalar(v):
        return f"expected any scalar, got &{{{_go_v(v)}}}"
    return None


def _validate(v: Any, atom: Atom, path: str, dups_ok: bool, errs: list[tuple[str, str]]) -> None:
    b = branches(atom, v)[:1]
    if b == "s":
        if (msg := _scalar_error(atom.scalar, v)) is not None:
            errs.append((path, msg))
    elif b == "m":
        if v is None:
            return
        if not isinstance(v, dict):
            errs.append((path, f"expected map, got &{{{_go_v(v)}}}"))
            return
        m = atom.map
        assert m is not None
        for k, cv in v.items():
            t = m.field_type(k)
            p = path + pe_string(field_pe(k))
            if t is None:
                errs.append((p, "field not declared in schema"))
                return
            _validate(cv, t, p, dups_ok, errs)
    elif b == "l":
        if v is None:
            return
        if not isinstance(v, list):
            errs.append((path, f"expected list, got &{{{_go_v(v)}}}"))
            return
        lt = atom.list
        assert lt is not None
        seen: set[PE] = set()
        for i, child in enumerate(v):
            if lt.atomic:
                pe = index_pe(i)
            else:
                try:
                    pe = item_pe(lt, child)
                except ValueError as e:
                    errs.append((path, f"element {i}: {e}"))
                    return
                if pe in seen and not dups_ok:
                    errs.append((path, f"duplicate entries for key {pe_string(pe)}"))
                seen.add(pe)
            _validate(child, lt.elem_atom, path + pe_string(pe), dups_ok, errs)
    else:
        errs.append((path, "schema error: invalid atom: inlined"))


def validate(v: Any, atom: Atom, *, allow_duplicates: bool = False) -> None:
    """Raise :class:`TypedError` if ``v`` does not fit ``atom`` as SMD's ``AsTyped`` checks it."""
    errs: list[tuple[str, str]] = []
    _validate(v, atom, "", allow_duplicates, errs)
    if errs:
        raise TypedError(errs)


# --- Compare -------------------------------------------------------------------------------------


class Comparison:
    __slots__ = ("removed", "modified", "added")

    def __init__(self) -> None:
        self.removed, self.modified, self.added = FieldSet(), FieldSet(), FieldSet()

    def filtered(self, ignored: FieldSet | None) -> Comparison:
        if ignored is None or ignored.empty():
            return self
        c = Comparison()
        c.removed = self.removed.recursive_difference(ignored)
        c.modified = self.modified.recursive_difference(ignored)
        c.added = self.added.recursive_difference(ignored)
        return c


class _Cmp:
    __slots__ = ("c",)

    def __init__(self) -> None:
        self.c = Comparison()

    def leaf(self, lhs: Any, rhs: Any, path: Path) -> None:
        if lhs is MISSING:
            self.c.added.insert(path)
        elif rhs is MISSING:
            self.c.removed.insert(path)
        elif not json_equal(lhs, rhs):
            self.c.modified.insert(path)

    def walk(self, lhs: Any, rhs: Any, atom: Atom, path: Path) -> None:
        bl, br = branches(atom, lhs), branches(atom, rhs)
        if rhs is MISSING:
            leaf = self.handle(bl[:1], lhs, rhs, atom, path)
        elif lhs is MISSING or bl == br:
            leaf = self.handle(br[:1], lhs, rhs, atom, path)
        else:
            self.handle(bl[:1], lhs, rhs, atom, path)
            leaf = self.handle(br[:1], lhs, rhs, atom, path)
        if not leaf:
            if lhs is MISSING:
                self.c.added.insert(path)
            elif rhs is MISSING:
                self.c.removed.insert(path)

    def handle(self, b: str, lhs: Any, rhs: Any, atom: Atom, path: Path) -> bool:
        """Compare under one branch; True if the node was treated as a leaf."""
        if b == "m":
            m = atom.map
            assert m is not None
            lm = lhs if isinstance(lhs, dict) else None
            rm = rhs if isinstance(rhs, dict) else None
            if m.atomic or (not lm and not rm):
                self.leaf(lhs, rhs, path)
                return True
            for k in dict.fromkeys([*(lm or ()), *(rm or ())]):
                lv = lm.get(k, MISSING) if lm is not None else MISSING
                rv = rm.get(k, MISSING) if rm is not None else MISSING
                self.walk(lv, rv, field_atom(atom, k), path + (field_pe(k),))
            return False
        if b == "l":
            lt = atom.list
            assert lt is not None
            ll = lhs if isinstance(lhs, list) else None
            rl = rhs if isinstance(rhs, list) else None
            if lt.atomic or (not ll and not rl):
                self.leaf(lhs, rhs, path)
                return True
            self.items(lt, ll or [], rl or [], path)
            return False
        self.leaf(lhs, rhs, path)
        return True

    def items(self, lt: ListType, lhs: list[Any], rhs: list[Any], path: Path) -> None:
        order: dict[PE, None] = {}
        lvals: dict[PE, list[Any]] = {}
        rvals: dict[PE, list[Any]] = {}
        for src, vals in ((lhs, lvals), (rhs, rvals)):
            for child in src:
                try:
                    pe = item_pe(lt, child)
                except ValueError:
                    continue
                vals.setdefault(pe, []).append(child)
                order.setdefault(pe)
        elem = lt.elem_atom
        for pe in order:
            ll, rl = lvals.get(pe, []), rvals.get(pe, [])
            p = path + (pe,)
            if len(ll) <= 1 and len(rl) <= 1:
                self.walk(ll[0] if ll else MISSING, rl[0] if rl else MISSING, elem, p)
            elif len(ll) >= 2 and len(rl) >= 2:
                if not json_equal(ll, rl):
                    self.c.modified.insert(p)
            elif len(ll) >= 2:
                if rl:
                    self.walk(MISSING, rl[0], elem, p)
                self.c.removed.insert(p)
            else:
                if ll:
                    self.walk(ll[0], MISSING, elem, p)
                self.c.added.insert(p)


def compare(lhs: Any, rhs: Any, atom: Atom) -> Comparison:
    """What changed from ``lhs`` to ``rhs`` (either may be :data:`MISSING`, not both)."""
    w = _Cmp()
    w.walk(lhs, rhs, atom, ())
    return w.c

"""Merging an applied configuration into an object and removing fields (SMD ``typed`` merge/remove).

* :func:`merge` -- ``TypedValue.Merge``: the configuration wins on every leaf it sets; maps merge by key;
  associative lists merge item by item (by key, or by value for sets) keeping live-only items and
  ordering shared items as the configuration orders them; atomic lists and maps are replaced whole.
* :func:`remove_items` -- ``TypedValue.RemoveItems``: drop every member path of a set (a map key, a list
  item); a map or list left empty becomes ``None``, as upstream leaves a null for Go to drop.
* :func:`ensure_named` -- ``Set.EnsureNamedFieldsAreMembers``: add declared struct fields that have owned
  children as members, so pruning keeps a parent someone still uses.

Inputs are never mutated; results share unchanged subtrees with them.
"""

from __future__ import annotations

from typing import Any

from apiserver.fieldmanager.fieldpath import FIELD, KEY, PE, FieldSet, field_pe, pe_string
from apiserver.fieldmanager.schema import Atom, ListType
from apiserver.fieldmanager.typed import MISSING, TypedError, branches, field_atom, item_pe

__all__ = ["merge", "remove_items", "ensure_named"]


def _leaf(lhs: Any, rhs: Any) -> Any:
    return rhs if rhs is not MISSING else lhs


def _walk(lhs: Any, rhs: Any, atom: Atom) -> Any:
    bl, br = branches(atom, lhs), branches(atom, rhs)
    if rhs is MISSING:
        return _handle(bl[:1], lhs, rhs, atom)
    if lhs is MISSING or bl == br:
        return _handle(br[:1], lhs, rhs, atom)
    _handle(bl[:1], lhs, rhs, atom)
    return _handle(br[:1], lhs, rhs, atom)


def _handle(b: str, lhs: Any, rhs: Any, atom: Atom) -> Any:
    if b == "m":
        m = atom.map
        assert m is not None
        lm = lhs if isinstance(lhs, dict) else None
        rm = rhs if isinstance(rhs, dict) else None
        if m.atomic or (not lm and not rm):
            return _leaf(lhs, rhs)
        out: dict[str, Any] = {}
        for k in dict.fromkeys([*(lm or ()), *(rm or ())]):
            lv = lm.get(k, MISSING) if lm is not None else MISSING
            rv = rm.get(k, MISSING) if rm is not None else MISSING
            v = _walk(lv, rv, field_atom(atom, k))
            if v is not MISSING:
                out[k] = v
        return out if out else MISSING
    if b == "l":
        lt = atom.list
        assert lt is not None
        ll = lhs if isinstance(lhs, list) else None
        rl = rhs if isinstance(rhs, list) else None
        if lt.atomic or (not ll and not rl):
            return _leaf(lhs, rhs)
        items = _items(lt, ll or [], rl or [])
        return items if items else MISSING
    return _leaf(lhs, rhs)


def _index(lt: ListType, items: list[Any], dups_ok: bool) -> tuple[list[PE], dict[PE, Any]]:
    pes: list[PE] = []
    observed: dict[PE, Any] = {}
    for i, child in enumerate(items):
        try:
            pe = item_pe(lt, child)
        except ValueError as e:
            raise TypedError([("", f"element {i}: {e}")]) from None
        if pe in observed:
            if not dups_ok:
                raise TypedError([("", "duplicate entries for key " + pe_string(pe))])
            observed[pe] = None  # a duplicated live item merges as null
        else:
            observed[pe] = child
        pes.append(pe)
    return pes, observed


def _items(lt: ListType, lhs: list[Any], rhs: list[Any]) -> list[Any]:
    """SMD's associative-list merge, step for step (live-only items stay where they were)."""
    elem = lt.elem_atom
    rpes, robs = _index(lt, rhs, False)
    lpes, lobs = _index(lt, lhs, True)
    shared = [pe for pe in rpes if pe in lobs]
    nxt: PE | None = shared.pop(0) if shared else None
    merged: set[PE] = set()
    out: list[Any] = []

    def put(v: Any) -> None:
        if v is not MISSING:
            out.append(v)

    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged.add(pe)
                put(_walk(lobs[pe], robs[pe], elem))
                li += 1
                ri += 1
                nxt = shared.pop(0) if shared else None
                continue
            if pe in robs and nxt is not None and nxt != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in robs:
                put(_walk(lhs[li], MISSING, elem))
                li += 1
                continue
            if pe in merged:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            merged.add(pe)
            put(_walk(lobs.get(pe, MISSING), robs[pe], elem))
            ri += 1
            if nxt is not None and nxt == pe:
                nxt = shared.pop(0) if shared else None
    return out


def merge(lhs: Any, rhs: Any, atom: Atom) -> Any:
    """``rhs`` (an applied configuration) merged onto ``lhs``; :data:`MISSING` if both are empty.

    Raises :class:`TypedError` for an associative-list item without a key or a key duplicated in ``rhs``.
    """
    return _walk(lhs, rhs, atom)


def _remove(v: Any, s: FieldSet, atom: Atom) -> Any:
    b = branches(atom, v)[:1]
    if b == "m":
        m = atom.map
        assert m is not None
        if not isinstance(v, dict) or not v or m.atomic:
            return None
        out: dict[str, Any] = {}
        for k, val in v.items():
            pe = field_pe(k)
            if pe in s.members:
                continue
            sub = s.children.get(pe)
            out[k] = _remove(val, sub, field_atom(atom, k)) if sub is not None else val
        return out if out else None
    if b == "l":
        lt = atom.list
        assert lt is not None
        if not isinstance(v, list) or not v or lt.atomic:
            return None
        items: list[Any] = []
        for item in v:
            try:
                pe = item_pe(lt, item)
            except ValueError:
                items.append(item)
                continue
            if pe in s.members:
                continue
            sub = s.children.get(pe)
            items.append(_remove(item, sub, lt.elem_atom) if sub is not None else item)
        return items if items else None
    return v


def remove_items(v: Any, s: FieldSet, atom: Atom) -> Any:
    """``v`` without the member paths of ``s`` (and everything below them)."""
    return _remove(v, s, atom)


def ensure_named(s: FieldSet, atom: Atom | None) -> FieldSet:
    """``s`` plus, as members, the declared struct fields that only appear in it as parents."""
    members = set(s.members)
    m = atom.map if atom is not None else None
    children: dict[PE, FieldSet] = {}
    for pe, c in s.children.items():
        t: Atom | None = None
        if pe[0] == FIELD and m is not None:
            if pe[1] in m.fields:
                members.add(pe)
            t = m.field_type(pe[1])
        elif pe[0] == KEY and atom is not None and atom.list is not None:
            t = atom.list.elem_atom
        children[pe] = ensure_named(c, t)
    return FieldSet(members, children)

"""The field manager: managedFields on create/update/patch, and server-side apply (pure functions).

This mirrors upstream's manager chain (apimachinery ``managedfields/internal``): version check ->
last-applied updater -> last-applied manager -> skip-non-applied -> cap managers -> manager identifier ->
managedFields updater -> strip metadata -> structured merge (SMD ``merge.Updater``). Objects are compared
as upstream's Go structs would be (:mod:`gozero`), so ``.`` entries land where a real cluster puts them.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from apiserver.errors import StatusError, bad_request
from apiserver.fieldmanager import gozero
from apiserver.fieldmanager.fieldpath import FieldSet
from apiserver.fieldmanager.gojson import go_json
from apiserver.fieldmanager.managed import (
    APPLY,
    UPDATE,
    ApplyConflict,
    Conflict,
    Managed,
    VersionedSet,
    cap_update_managers,
    decode,
    encode,
    is_reset,
    manager_id,
)
from apiserver.fieldmanager.merge import ensure_named, merge, remove_items
from apiserver.fieldmanager.schema import Schema
from apiserver.fieldmanager.typed import (
    MISSING,
    Comparison,
    TypedError,
    compare,
    json_equal,
    to_fieldset,
    validate,
)

__all__ = ["fieldset_of", "update_managed_fields", "apply", "default_reset_fields", "LAST_APPLIED",
           "FieldManagerError"]

Obj = dict[str, Any]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
_SELF = "current-operation"

#: fields never recorded for the writer (upstream's stripMetaManager)
_STRIP = FieldSet.of_fields("apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace",
                            "metadata.creationTimestamp", "metadata.selfLink", "metadata.uid",
                            "metadata.clusterName", "metadata.generation", "metadata.managedFields",
                            "metadata.resourceVersion")


class FieldManagerError(StatusError):
    """A non-Status error upstream's apiserver answers as a bare 500 (no reason), e.g. an applied
    configuration that is not valid for the schema."""

    def __init__(self, message: str) -> None:
        super().__init__(500, "", message)

    def status(self) -> Obj:
        body = super().status()
        body.pop("reason", None)
        return body


def default_reset_fields(subresource: str = "", *, has_status: bool = True) -> FieldSet | None:
    """The reset fields of upstream's usual strategies: ``status`` for writes to the main resource of a kind
    with a status subresource, ``spec`` for writes to ``status``. Some kinds reset more (Deployment status
    also ``metadata.labels``; Pod status ``metadata.deletionTimestamp`` and ``metadata.ownerReferences``):
    build those with ``FieldSet.of_fields``."""
    if subresource == "status":
        return FieldSet.of_fields("spec")
    if not subresource and has_status:
        return FieldSet.of_fields("status")
    return None


def fieldset_of(obj: Obj, schema: Schema) -> FieldSet:
    """The fields ``obj`` sets, as SMD's ToFieldSet computes them for an applied configuration."""
    return to_fieldset(obj, schema.atom)


def _without_managed(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def _typed_pair(live: Obj, new: Obj, schema: Schema) -> tuple[Any, Any]:
    """``(_typed(live), _typed(new))`` for comparing them: entries equal on both sides left out (at any
    depth of maps) and zero values both would get alike not filled in, which changes no comparison."""
    pl, pn = _prune_equal(_without_managed(live), _without_managed(new))
    return gozero.overlay_pair(pl, pn, schema.definition, schema.definitions)


def _typed(obj: Obj | None, schema: Schema) -> Any:
    """``obj`` as upstream sees the Go object: zero-value fields filled in, managedFields left out."""
    if obj is None:
        return gozero.overlay({}, schema.definition, schema.definitions)
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return gozero.overlay(obj, schema.definition, schema.definitions)


def _strictly_equal(a: Any, b: Any) -> bool:
    """Equal as JSON text: never true where :func:`json_equal` is false (``True`` vs ``1``); false for
    some values it finds equal (``1`` vs ``1.0``, other key order), which only costs a full compare."""
    if a != b:
        return False
    if isinstance(a, str):
        return isinstance(b, str)
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except TypeError:
        return False


def _prune_equal(live: Obj, new: Obj) -> tuple[Obj, Obj]:
    """``live`` and ``new`` without the map entries equal in both, at any depth of maps (never inside
    lists). Comparing what is left finds exactly the changes of the whole: an entry equal on both sides
    contributes nothing to the comparison, and the Go zero-value overlay fills each field on its own."""
    pl: Obj = {}
    pn: Obj = {}
    for k, lv in live.items():
        if k not in new:
            pl[k] = lv
            continue
        nv = new[k]
        if _strictly_equal(lv, nv):
            continue
        if isinstance(lv, dict) and isinstance(nv, dict):
            pl[k], pn[k] = _prune_equal(lv, nv)
        else:
            pl[k], pn[k] = lv, nv
    for k, nv in new.items():
        if k not in live:
            pn[k] = nv
    return pl, pn


def _update(live: Any, new: Any, schema: Schema, fields: dict[str, VersionedSet], workflow: str, force: bool,
            ignore: FieldSet | None) -> Comparison:
    """SMD ``Updater.update``: other managers lose what changed (or raise the conflicts unless forced)."""
    cmp = compare(live, new, schema.atom).filtered(ignore)
    changed = cmp.modified.union(cmp.added)
    conflicts: dict[str, FieldSet] = {}
    for ident, vs in fields.items():
        if ident == workflow:
            continue
        c = vs.set.intersection(changed)
        if not c.empty():
            conflicts[ident] = c
    if conflicts and not force:
        raise ApplyConflict([Conflict(i, p) for i in sorted(conflicts) for p in conflicts[i].paths()])
    for ident in list(fields):
        if ident == workflow:
            continue
        vs = fields[ident]
        s = vs.set.difference(conflicts[ident]) if ident in conflicts else vs.set
        if not cmp.removed.empty():
            s = s.difference(cmp.removed)
        if s.empty():
            del fields[ident]
        else:
            fields[ident] = vs._replace(set=s)
    return cmp


def _record_update(live: Obj | None, new: Obj, managed: Managed, manager: str, api_version: str,
                   subresource: str, time: str, schema: Schema, ignore: FieldSet | None) -> None:
    """The Update half of the chain, from the manager identifier down (mutates ``managed``)."""
    ident = manager_id(manager or "unknown", UPDATE, api_version, subresource)
    fields = managed.fields
    before = fields.get(ident)
    typed_live, typed_new = _typed_pair(live, new, schema) if live is not None else (_typed(None, schema),
                                                                                       _typed(new, schema))
    cmp = _update(typed_live, typed_new, schema, fields, _SELF, True, ignore)
    mine = cmp.modified.union(cmp.added)
    if ignore is not None:
        mine = mine.recursive_difference(ignore)
    mine = mine.difference(_STRIP)
    if not mine.empty():
        prev = fields.get(ident)
        s = mine.union(prev.set) if prev else mine
        if before is not None and before.api_version == api_version and not before.applied and before.set == s:
            s = before.set  # the same fields again (a heartbeat): keep the set, and its encoding
        fields[ident] = VersionedSet(s, api_version, False)
        managed.times[ident] = time
    cap_update_managers(managed)


def _decode_or_empty(entries: Any) -> Managed:
    try:
        return decode(entries)
    except ValueError:
        return Managed()


def update_managed_fields(live: Obj | None, new: Obj, *, manager: str, operation: str = UPDATE,
                          api_version: str, subresource: str = "", time: str, schema: Schema,
                          reset_fields: FieldSet | None = None) -> None:
    """Set ``new["metadata"]["managedFields"]`` for a create (``live`` None), update or non-apply patch.

    ``new`` is the object about to be stored (after defaulting and the strategy); ``live`` the stored one.
    Fields that changed from ``live`` to ``new`` go to the Update entry of (``manager`` or "unknown",
    ``api_version``, ``subresource``), stamped ``time``, and leave every other manager; managers left
    without fields are dropped; an unchanged object leaves managedFields as they were. Managed fields sent
    in ``new`` are honoured (``[]`` or ``[{}]`` clears them; unreadable ones fall back to ``live``'s), except
    on a subresource, where ``live``'s always win. An existing object without managedFields stays without
    (upstream tracks it again from its next apply). ``reset_fields`` are never recorded (the strategy's
    reset fields, e.g. ``status`` on the main resource). More than 10 Update entries fold into
    ``ancient-changes``.
    """
    if operation != UPDATE:
        raise ValueError(f"operation must be {UPDATE!r}")
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return
    live_meta = (live or {}).get("metadata") or {}
    requested = meta.get("managedFields")
    if subresource:
        managed = _decode_or_empty(live_meta.get("managedFields"))
    elif is_reset(requested):
        managed = Managed()
    else:
        managed = _decode_or_empty(requested)
        if not managed.fields:
            managed = _decode_or_empty(live_meta.get("managedFields"))
    meta.pop("managedFields", None)
    if not managed.fields and live is not None and live_meta.get("uid"):
        return
    _record_update(live, new, managed, manager, api_version, subresource, time, schema, reset_fields)
    encoded = encode(managed)
    if encoded:
        meta["managedFields"] = encoded


def _gvk(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def _prune(merged: Any, fields: dict[str, VersionedSet], last: VersionedSet | None, schema: Schema) -> Any:
    """SMD ``Updater.prune``: drop what the applier owned last time and nobody owns now."""
    if last is None or last.set.empty():
        return merged
    atom = schema.atom
    last_set = ensure_named(last.set, atom)
    pruned = remove_items(merged, last_set, atom)
    owned = FieldSet()
    for vs in fields.values():
        owned = owned.union(vs.set)
    merged_set = ensure_named(to_fieldset(merged, atom), atom)
    pruned_set = ensure_named(to_fieldset(pruned, atom), atom)
    pruned = remove_items(merged, merged_set.difference(pruned_set.union(ensure_named(owned, atom))), atom)
    pruned_set = ensure_named(to_fieldset(pruned, atom), atom)
    return remove_items(merged, merged_set.difference(pruned_set).intersection(last_set), atom)


def _clean(v: Any) -> Any:
    """A deep copy without nulls (upstream's result goes through a Go struct, which drops them)."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_clean(x) for x in v if x is not None]
    return v


def _order_like(v: Any, template: Any) -> Any:
    """``v`` with its map keys in ``template``'s order first (merging appends to the live object's order)."""
    if not isinstance(v, dict) or not isinstance(template, dict):
        return v
    keys = [k for k in template if k in v] + [k for k in v if k not in template]
    return {k: _order_like(v[k], template.get(k)) for k in keys}


def _apply_once(live: Obj | None, applied: Obj, managed: Managed, manager: str, force: bool, api_version: str,
                subresource: str, time: str, schema: Schema, ignore: FieldSet | None) -> Obj:
    if not managed.fields and live is not None:
        _record_update(None, live, managed, "before-first-apply", api_version, subresource, time, schema, ignore)
    ident = manager_id(manager or "unknown", APPLY, api_version, subresource)
    meta: Obj = applied["metadata"] if isinstance(applied.get("metadata"), dict) else {}
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    atom = schema.atom
    try:
        validate(applied, atom)
    except TypedError as e:
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_gvk(api_version, schema.kind)}"
        raise FieldManagerError(f"failed to create typed patch object ({where}): {e}") from None
    fields = managed.fields
    live_v = _typed(live, schema)
    try:
        new_v = merge(live_v, applied, atom)
    except TypedError as e:
        raise FieldManagerError(f"failed to merge config: {e}") from None
    last = fields.get(ident)
    mine = to_fieldset(applied, atom)
    if ignore is not None:
        mine = mine.recursive_difference(ignore)
    fields[ident] = VersionedSet(mine, api_version, True)
    new_v = _prune(new_v, fields, last, schema)
    _update(live_v, new_v, schema, fields, ident, force, ignore)
    stripped = fields[ident].set.difference(_STRIP)
    if stripped.empty():
        del fields[ident]
    else:
        fields[ident] = VersionedSet(stripped, api_version, True)
    if new_v is MISSING or json_equal(live_v, new_v):
        return {k: _clean(v) for k, v in (live or {}).items() if v is not None}
    managed.times[ident] = time
    out = _order_like(_clean(new_v), live if live is not None else applied)
    assert isinstance(out, dict)
    return out


def _allowed_by_last_applied(live: Obj | None, api_version: str, schema: Schema) -> FieldSet | None:
    """Fields whose value still matches kubectl's last-applied annotation (upstream's lastAppliedManager)."""
    ann = ((live or {}).get("metadata") or {}).get("annotations") or {}
    text = ann.get(LAST_APPLIED) if isinstance(ann, dict) else None
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    try:
        validate(last, schema.atom)
    except TypedError:
        return None
    s = to_fieldset(last, schema.atom)
    cmp = compare(last, _typed(live, schema), schema.atom)
    return s.difference(cmp.modified).difference(cmp.added).difference(cmp.removed)


def _sync_last_applied(obj: Obj, applied: Obj) -> None:
    """kubectl's annotation, when present, follows what was server-side applied (lastAppliedUpdater)."""
    meta = obj.get("metadata")
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(ann, dict) or not ann.get(LAST_APPLIED):
        return
    copy = json.loads(json.dumps(applied))
    cmeta = copy.get("metadata") if isinstance(copy.get("metadata"), dict) else None
    if cmeta is not None and isinstance(cmeta.get("annotations"), dict):
        cmeta["annotations"].pop(LAST_APPLIED, None)
    ann[LAST_APPLIED] = go_json(copy) + "\n"
    if sum(len(k.encode()) + len(str(v).encode()) for k, v in ann.items()) > _TOTAL_ANNOTATION_SIZE_LIMIT:
        del ann[LAST_APPLIED]


def apply(live: Obj | None, applied: Obj, *, manager: str, force: bool, api_version: str, schema: Schema,
          time: str, subresource: str = "", reset_fields: FieldSet | None = None) -> Obj:
    """Server-side apply ``applied`` onto ``live`` (None: the object does not exist yet); the new object.

    The configuration is merged by SMD rules (associative lists by key, sets by value, atomic fields
    replaced); fields ``manager`` applied last time and omits now are removed unless another manager owns
    them; other managers' fields the result changes raise :class:`ApplyConflict` unless ``force`` (then they
    lose them). ``manager`` gets one Apply entry holding exactly the applied fields. An object with no
    managedFields first gets a ``before-first-apply`` Update entry for what it holds. For ``kubectl``,
    conflicts on fields still matching the last-applied annotation are taken over, and that annotation, if
    present, is rewritten to the applied configuration. A no-op apply returns ``live`` unchanged apart
    from managedFields (time not bumped). The result is a fresh dict without nulls; the caller defaults it.

    Raises a 400 :class:`StatusError` for another kind/apiVersion or managedFields in ``applied``, a 500
    :class:`FieldManagerError` when ``applied`` does not fit the schema, :class:`ApplyConflict` (409).
    """
    kind = schema.kind or (live or {}).get("kind") or applied.get("kind") or ""
    if applied.get("apiVersion") != api_version or applied.get("kind") != kind:
        raise bad_request(f"invalid object type: {_gvk(str(applied.get('apiVersion') or ''), str(applied.get('kind') or ''))}")
    live_meta = (live or {}).get("metadata") or {}
    try:
        managed = decode(live_meta.get("managedFields"))
    except ValueError as e:
        raise FieldManagerError(f"failed to decode managed fields: {e}") from None

    def once(forced: bool) -> tuple[Obj, Managed]:
        m = Managed(dict(managed.fields), dict(managed.times))
        return _apply_once(live, applied, m, manager, forced, api_version, subresource, time, schema,
                           reset_fields), m

    try:
        obj, result = once(force)
    except ApplyConflict as err:
        allowed = _allowed_by_last_applied(live, api_version, schema) if manager == "kubectl" else None
        if allowed is None:
            raise
        rest = [c for c in err.conflicts if not allowed.has(c.path)]
        if rest:
            raise ApplyConflict(rest) from None
        obj, result = once(True)
    if manager == "kubectl":
        _sync_last_applied(obj, applied)
    meta = obj.setdefault("metadata", {})
    meta.pop("managedFields", None)
    encoded = encode(result)
    if encoded:
        meta["managedFields"] = encoded
    return obj

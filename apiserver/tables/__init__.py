"""Server-side Table printing: what the API server sends for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Pure functions over plain-dict objects, standing alone (no I/O, nothing else from apiserver):

- ``column_definitions(group, kind)``: the TableColumnDefinitions of a kind, as upstream's printers
  (pkg/printers/internalversion) define them; kinds without a printer get the default convertor's
  Name / Created At.
- ``row_cells(group, kind, obj, now)``: one object's cells, every column included (the server prints
  "wide"; kubectl drops the priority-1 columns itself unless -o wide).
- ``table(group, kind, objs, now=...)``: a whole meta.k8s.io/v1 Table.

Upstream shapes this follows:
- Rows carry the object per includeObject: "Metadata" (the default, also for "") a PartialObjectMetadata
  with the whole ObjectMeta; "Object" the object as given; "None" ``"object": null`` (the field is a
  RawExtension, which Go always encodes, as null when empty).
- A watch converts each event's object on its own; the first event's Table has the columnDefinitions
  and later ones are converted with NoHeaders, which leaves ``"columnDefinitions": null``. Pass
  ``columns=False`` for those (APIService's convertor ignores NoHeaders and always sends them).
- ``metadata`` is the ListMeta: for a list its resourceVersion / continue / remainingItemCount, for a
  single object (``single=True``: a get or a watch event) the object's resourceVersion.
- An empty list's rows are ``[]`` from the printers but ``null`` from the default and CRD convertors.
- StorageClass: a list marks its effective default "(default)" (the newest of those annotated default,
  then the first by name); one StorageClass on its own is never marked.
- FlowSchema lists are printed in matching-precedence order, then by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apiserver.tables import apps, cluster, core  # noqa: F401  (they register the printers)
from apiserver.tables._base import CREATED_AT, NAME, REGISTRY, Printer
from apiserver.tables._fmt import Obj, get, gstr, human_duration, name, parse_time, rfc3339
from apiserver.tables.cluster import flow_schema_order, is_default_storage_class
from apiserver.tables.core import pod_row_conditions

__all__ = [
    "column_definitions",
    "effective_default_storage_class",
    "human_duration",
    "printer_for",
    "row_cells",
    "table",
]

_DEFAULT = Printer(
    (NAME, CREATED_AT),
    lambda obj, now: [name(obj), rfc3339(get(obj, "metadata", "creationTimestamp"))],
    empty_rows_null=True,
)

_OBJECT_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def _group(group: str) -> str:
    return "" if group in ("core", "v1") else group


def printer_for(group: str, kind: str) -> Printer:
    """The printer of a kind; the default convertor's (Name, Created At) for kinds without one."""
    return REGISTRY.get((_group(group), kind), _DEFAULT)


def has_printer(group: str, kind: str) -> bool:
    return (_group(group), kind) in REGISTRY


def column_definitions(group: str, kind: str) -> list[dict[str, Any]]:
    """The kind's TableColumnDefinitions (name, type, format, description, priority), in order."""
    return [c.as_dict() for c in printer_for(group, kind).columns]


def row_cells(group: str, kind: str, obj: Obj, now: datetime) -> list[Any]:
    """The cells of one object's row, in column order, as of now (an aware datetime, or naive UTC)."""
    return printer_for(group, kind).cells(obj, now)


def effective_default_storage_class(storage_classes: Iterable[Obj]) -> str | None:
    """The StorageClass a list marks "(default)": of those annotated default, the most recently created,
    then the first by name."""
    best: tuple[float, str] | None = None
    for sc in storage_classes:
        if not is_default_storage_class(sc):
            continue
        created = parse_time(get(sc, "metadata", "creationTimestamp"))
        key = (-(created.timestamp() if created else float("-inf")), name(sc))
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


def _partial_metadata(obj: Obj, api_version: str) -> Obj:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    ordered = {k: meta[k] for k in _OBJECT_META_ORDER if k in meta}
    ordered.update({k: v for k, v in meta.items() if k not in ordered})
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": ordered}


def _list_meta(list_meta: Obj | None) -> Obj:
    out: Obj = {}
    lm = list_meta or {}
    if lm.get("resourceVersion"):
        out["resourceVersion"] = lm["resourceVersion"]
    if lm.get("continue"):
        out["continue"] = lm["continue"]
    if lm.get("remainingItemCount") is not None:
        out["remainingItemCount"] = lm["remainingItemCount"]
    return out


def table(
    group: str,
    kind: str,
    objs: list[Obj],
    *,
    now: datetime,
    include_object: str = "Metadata",
    list_meta: Obj | None = None,
    columns: bool = True,
    single: bool = False,
    version: str = "v1",
) -> Obj:
    """A meta.k8s.io Table of objs (all of one kind).

    single: the objs are one object converted on its own (a get, or one watch event), not a list.
    columns: False converts with NoHeaders (a watch event after the first): columnDefinitions is null.
    version: the meta.k8s.io version asked for ("v1" or "v1beta1").
    """
    if include_object not in ("", "None", "Metadata", "Object"):
        raise ValueError(f"unrecognized includeObject value: {include_object!r}")
    group = _group(group)
    printer = printer_for(group, kind)
    api_version = f"meta.k8s.io/{version}"

    items = list(objs)
    if not single and (group, kind) == ("flowcontrol.apiserver.k8s.io", "FlowSchema"):
        items.sort(key=flow_schema_order)
    default_sc = None
    is_sc = (group, kind) == ("storage.k8s.io", "StorageClass")
    if is_sc and not single:
        default_sc = effective_default_storage_class(items)

    rows: list[Obj] = []
    for obj in items:
        cells = printer.cells(obj, now)
        if is_sc and default_sc is not None and name(obj) == default_sc:
            cells[0] = f"{cells[0]} (default)"
        row: Obj = {"cells": cells}
        if (group, kind) == ("", "Pod"):
            conditions = pod_row_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = obj
        elif include_object == "None":
            row["object"] = None
        else:
            row["object"] = _partial_metadata(obj, api_version)
        rows.append(row)

    if single:
        meta: Obj = {}
        rv = gstr(items[0], "metadata", "resourceVersion") if items else ""
        if rv:
            meta["resourceVersion"] = rv
    else:
        meta = _list_meta(list_meta)

    definitions: list[dict[str, Any]] | None = None
    if columns or printer.always_columns:
        definitions = [c.as_dict() for c in printer.columns]
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": None if not rows and printer.empty_rows_null else rows,
    }

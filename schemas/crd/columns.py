"""Server-side tables for custom resources (apiextensions-apiserver pkg/registry/customresource/
tableconvertor) and JSONPath field access for selectable fields and the scale subresource.

The columns are ``Name`` followed by the version's ``additionalPrinterColumns``; a version without any
gets a single ``Age`` column (``.metadata.creationTimestamp``). Each cell is the column's JSONPath
evaluated with client-go semantics, first result only: ``None`` (a null cell, which kubectl prints as
``<none>``) when nothing is found or the path fails; ``string`` columns print maps and lists as JSON;
``integer``/``number``/``boolean`` cells are typed (a value of another type gives ``None``); ``date`` cells
are ages like ``5m`` (``<invalid>`` for an unparsable time, ``<unknown>`` for an empty one).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.crd._go import as_obj, is_int
from schemas.crd.jsonpath import JSONPath, JSONPathError, go_sprint, print_value
from schemas.duration import human_duration

__all__ = ["printer_columns", "column_definitions", "row_cells", "TableConvertor", "field_value", "nested_field",
           "human_duration", "NAME_DESCRIPTION", "CREATION_TIMESTAMP_DESCRIPTION"]

Obj = dict[str, Any]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATION_TIMESTAMP_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


def column_definitions(version: Obj) -> list[Obj]:
    """The CRD column definitions served for a version (``additionalPrinterColumns`` or the default Age)."""
    cols = version.get("additionalPrinterColumns") or []
    if cols:
        return [c for c in cols if isinstance(c, dict)]
    return [{"name": "Age", "type": "date", "description": CREATION_TIMESTAMP_DESCRIPTION,
             "jsonPath": ".metadata.creationTimestamp"}]


def printer_columns(version: Obj) -> list[Obj]:
    """metav1.TableColumnDefinitions for a CRD version (``name``/``type``/``format``/``description``/``priority``)."""
    out = [{"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}]
    for c in column_definitions(version):
        path = c.get("jsonPath", "")
        out.append({"name": c.get("name", ""), "type": c.get("type", ""), "format": c.get("format", ""),
                    "description": c.get("description") or
                    f"Custom resource definition column (in JSONPath format): {path}",
                    "priority": c.get("priority", 0)})
    return out


class TableConvertor:
    """Headers and rows for one CRD version; an unparsable column path gives null cells."""

    def __init__(self, version_or_columns: Obj | list[Obj]) -> None:
        if isinstance(version_or_columns, dict):
            defs = column_definitions(version_or_columns)
            self.columns = printer_columns(version_or_columns)
        else:
            defs = [c for c in version_or_columns if isinstance(c, dict) and "jsonPath" in c]
            self.columns = printer_columns({"additionalPrinterColumns": defs})
        self._cols: list[tuple[str, JSONPath | None]] = []
        for c in defs:
            try:
                path: JSONPath | None = JSONPath("{" + str(c.get("jsonPath", "")) + "}")
            except JSONPathError:
                path = None
            self._cols.append((str(c.get("type", "")), path))

    def row(self, obj: Obj, now: datetime | float | None = None) -> list[Any]:
        meta = as_obj(obj.get("metadata"))
        cells: list[Any] = [meta.get("name", "")]
        for typ, path in self._cols:
            cells.append(_cell(typ, path, obj, now))
        return cells


def row_cells(columns: Obj | list[Obj], obj: Obj, now: datetime | float | None = None) -> list[Any]:
    """The table cells for ``obj``: its name, then one per column. ``columns`` is the CRD version (or its
    list of column definitions with ``jsonPath``); ``now`` (datetime or epoch seconds) ages date cells."""
    return TableConvertor(columns).row(obj, now)


def _cell(typ: str, path: JSONPath | None, obj: Obj, now: datetime | float | None) -> Any:
    if path is None:
        return None
    try:
        results = path.find_results(obj)
    except JSONPathError:
        return None
    if not results or not results[0]:
        return None
    value = results[0][0]
    if typ == "string":
        return print_value(value)
    if value is None:
        return None
    if typ == "integer":
        return value if is_int(value) else int(value) if isinstance(value, float) else None
    if typ == "number":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if typ == "boolean":
        return value if isinstance(value, bool) else None
    if typ == "date":
        return _age(value, now) if isinstance(value, str) else None
    return None


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


def _parse_time(s: str) -> datetime | None:
    m = _RFC3339.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    try:
        t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=UTC)
    except ValueError:
        return None
    if frac:
        t += timedelta(microseconds=int((frac[1:] + "000000")[:6]))
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return t


def _age(value: str, now: datetime | float | None) -> str:
    if value in ("", "null"):
        return "<unknown>"
    t = _parse_time(value)
    if t is None:
        return "<invalid>"
    if now is None:
        current = datetime.now(UTC)
    elif isinstance(now, datetime):
        current = now if now.tzinfo else now.replace(tzinfo=UTC)
    else:
        current = datetime.fromtimestamp(now, UTC)
    return human_duration(current - t)




def field_value(obj: Obj, json_path: str) -> str | None:
    """A selectable field's value: the JSONPath's single result as fmt.Sprint prints it (``true``, ``3``),
    or None when the path finds nothing or a null (upstream then matches it as ""). Raises ValueError when
    the path is invalid or finds several values."""
    try:
        results = JSONPath("{" + json_path + "}").find_results(obj)
    except JSONPathError as e:
        raise ValueError(str(e)) from e
    if not results or not results[0]:
        return None
    if len(results) > 1 or len(results[0]) > 1:
        raise ValueError("unexpectedly received more than one JSON path result")
    value = results[0][0]
    return None if value is None else go_sprint(value)


def nested_field(obj: Any, path: str) -> tuple[Any, bool, str | None]:
    """unstructured.NestedFieldNoCopy for a simple ``.a.b.c`` path: (value, found, accessor error)."""
    fields = path.lstrip(".").split(".") if path.strip(".") else []
    cur = obj
    for i, f in enumerate(fields):
        if cur is None:
            return None, False, None
        if not isinstance(cur, dict):
            shown = "." + ".".join(fields[:i + 1])
            return None, False, (f"{shown} accessor error: {go_sprint(cur)} is of the type {_go_type(cur)}, "
                                 "expected map[string]interface{}")
        if f not in cur:
            return None, False, None
        cur = cur[f]
    return cur, True, None


def _go_type(v: Any) -> str:
    return {bool: "bool", int: "int64", float: "float64", str: "string", dict: "map[string]interface {}",
            list: "[]interface {}"}.get(type(v), "<nil>")


def go_type(v: Any) -> str:
    return _go_type(v)

"""``metadata.managedFields`` as upstream reads and writes it (apimachinery ``managedfields/internal``).

Managers are keyed by upstream's *manager identifier*: the Go JSON of a ManagedFieldsEntry holding only
``manager``, ``operation``, ``apiVersion`` (omitted for Apply) and ``subresource``, e.g.
``{"manager":"kubectl","operation":"Apply"}``. So one Apply entry per manager (and subresource), and one
Update entry per manager, API version and subresource.

* :func:`decode` -- entries -> :class:`Managed`; ValueError (upstream's text) on an entry with another
  operation, an empty apiVersion, a fieldsType other than FieldsV1 or unreadable fieldsV1.
* :func:`encode` -- :class:`Managed` -> entries sorted as upstream sorts them (operation, time in seconds,
  manager, apiVersion, subresource); None when there are none.
* :class:`ApplyConflict` -- the 409 a conflicting apply gets, message and causes as upstream words them.
* :func:`manager_from_user_agent` -- the manager name upstream derives when ``fieldManager`` is absent.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from apiserver.errors import StatusError
from apiserver.fieldmanager.fieldpath import FieldSet, Path, from_fields_v1, path_string, to_fields_v1
from apiserver.fieldmanager.gojson import go_json, go_quote

__all__ = ["VersionedSet", "Managed", "Conflict", "ApplyConflict", "manager_id", "decode", "encode",
           "is_reset", "cap_update_managers", "manager_from_user_agent", "FIELD_MANAGER_MAX_LENGTH"]

Obj = dict[str, Any]

FIELD_MANAGER_MAX_LENGTH = 128
APPLY, UPDATE = "Apply", "Update"

#: fieldsV1 text -> its set, and a set's id -> (set, fieldsV1 text): the entries of a kind's objects repeat
#: (every kubelet's Node, every Lease), and a manager whose set a write leaves alone keeps the very object.
#: Sets are immutable once built (see fieldpath), so sharing them is safe; both caches are bounded.
_CACHE_SIZE = 2048
_decoded: dict[bytes, FieldSet] = {}
_encoded: dict[int, tuple[FieldSet, bytes]] = {}


def _remember(set_: FieldSet, text: bytes) -> None:
    if len(_encoded) >= _CACHE_SIZE:
        _encoded.clear()
    _encoded[id(set_)] = (set_, text)


def _from_fields_v1(fields: Any) -> FieldSet:
    try:
        text = orjson.dumps(fields)
    except TypeError:
        return from_fields_v1(fields)
    s = _decoded.get(text)
    if s is None:
        s = from_fields_v1(fields)
        if len(_decoded) >= _CACHE_SIZE:
            _decoded.clear()
        _decoded[text] = s
    _remember(s, text)
    return s


def _to_fields_v1(s: FieldSet) -> Obj:
    hit = _encoded.get(id(s))
    if hit is not None and hit[0] is s:
        out: Obj = orjson.loads(hit[1])  # a fresh copy: the object it lands in is the caller's
        return out
    fields = to_fields_v1(s)
    _remember(s, orjson.dumps(fields))
    return fields


class VersionedSet(NamedTuple):
    set: FieldSet
    api_version: str
    applied: bool


class Managed:
    """Field sets and times by manager identifier (times are RFC 3339 strings or None)."""

    def __init__(self, fields: dict[str, VersionedSet] | None = None, times: dict[str, str | None] | None = None):
        self.fields: dict[str, VersionedSet] = fields if fields is not None else {}
        self.times: dict[str, str | None] = times if times is not None else {}


def manager_id(manager: str, operation: str, api_version: str, subresource: str = "") -> str:
    """Upstream's manager identifier (``BuildManagerIdentifier``)."""
    parts = []
    if manager:
        parts.append('"manager":' + go_json(manager))
    if operation:
        parts.append('"operation":' + go_json(operation))
    if api_version and operation != APPLY:
        parts.append('"apiVersion":' + go_json(api_version))
    if subresource:
        parts.append('"subresource":' + go_json(subresource))
    return "{" + ",".join(parts) + "}"


@functools.lru_cache(maxsize=1024)
def _id_fields(ident: str) -> Obj:
    """The fields of a manager identifier (cached: callers only read the dict)."""
    return _parse_id_fields(ident)


def _parse_id_fields(ident: str) -> Obj:
    try:
        d = json.loads(ident)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def is_reset(entries: Any) -> bool:
    """True for ``[]`` or ``[{}]`` in a request: the client asks to drop all managedFields."""
    if not isinstance(entries, list):
        return False
    if not entries:
        return True
    return len(entries) == 1 and isinstance(entries[0], dict) and all(v in (None, "") for v in entries[0].values())


def decode(entries: Any) -> Managed:
    """Parse ``metadata.managedFields`` (None or absent -> empty)."""
    m = Managed()
    if entries is None:
        return m
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"invalid managed fields entry {i}")
        op = e.get("operation")
        if op not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        api_version = e.get("apiVersion") or ""
        if not isinstance(api_version, str) or not api_version:
            raise ValueError("apiVersion must not be empty")
        ft = e.get("fieldsType") or ""
        if ft == "":
            raise ValueError(f"missing fieldsType in managed fields entry {i}")
        if ft != "FieldsV1":
            raise ValueError(f"invalid fieldsType {go_quote(str(ft))} in managed fields entry {i}")
        ident = manager_id(str(e.get("manager") or ""), op, api_version, str(e.get("subresource") or ""))
        try:
            s = _from_fields_v1(e.get("fieldsV1") or {})
        except ValueError as err:
            raise ValueError(f"error decoding versioned set: error decoding set: {err}") from None
        m.fields[ident] = VersionedSet(s, api_version, op == APPLY)
        t = e.get("time")
        m.times[ident] = t if isinstance(t, str) and t else None
    return m


def _seconds(t: str | None) -> int:
    if not t:
        return 0
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def encode(m: Managed) -> list[Obj] | None:
    """The ``metadata.managedFields`` list of ``m``, in upstream's order; None when there is no manager."""
    if not m.fields:
        return None
    out: list[Obj] = []
    for ident, vs in m.fields.items():
        idf = _id_fields(ident)
        e: Obj = {}
        if idf.get("manager"):
            e["manager"] = idf["manager"]
        e["operation"] = APPLY if vs.applied else (idf.get("operation") or UPDATE)
        if vs.api_version:
            e["apiVersion"] = vs.api_version
        t = m.times.get(ident)
        if t:
            e["time"] = t
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = _to_fields_v1(vs.set)
        if idf.get("subresource"):
            e["subresource"] = idf["subresource"]
        out.append(e)
    out.sort(key=lambda e: (e["operation"], _seconds(e.get("time")), e.get("manager", ""),
                            e.get("apiVersion", ""), e.get("subresource", "")))
    return out


def cap_update_managers(m: Managed, limit: int = 10) -> None:
    """Fold the oldest Update entries into per-version ``ancient-changes`` entries beyond ``limit``."""
    updaters = [k for k, vs in m.fields.items() if not vs.applied]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (_seconds(m.times.get(k)), k))
    first: dict[str, str] = {}
    length = len(updaters)
    for ident in updaters:
        if length <= limit:
            break
        vs = m.fields[ident]
        bucket = manager_id("ancient-changes", UPDATE, vs.api_version)
        if vs.api_version not in first:
            first[vs.api_version] = ident
            continue
        if bucket not in m.fields:
            m.fields[bucket] = m.fields.pop(first[vs.api_version])
        m.fields[bucket] = VersionedSet(vs.set.union(m.fields[bucket].set), vs.api_version, vs.applied)
        del m.fields[ident]
        length -= 1
        m.times[bucket] = m.times.get(ident)


def print_manager(ident: str) -> str:
    """How a conflict names a manager: ``"kubectl"`` or ``"mgr" using apps/v1``."""
    d = _id_fields(ident)
    if not d:
        return go_quote(ident)
    text = go_quote(str(d.get("manager", "")))
    if d.get("subresource"):
        text += f" with subresource {go_quote(str(d['subresource']))}"
    if d.get("operation") == UPDATE:
        return f"{text} using {d.get('apiVersion', '')}"
    return text


class Conflict(NamedTuple):
    manager: str  # the manager identifier
    path: Path


class ApplyConflict(StatusError):
    """409 Conflict of a server-side apply; ``details.causes`` has one FieldManagerConflict per path."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {print_manager(c.manager)}",
                   "field": path_string(c.path)} for c in conflicts]
        super().__init__(409, "Conflict", self.render(conflicts), {"causes": causes})

    def pairs(self) -> list[tuple[str, str]]:
        """(manager name, path text) per conflict."""
        return [(str(_id_fields(c.manager).get("manager", c.manager)), path_string(c.path)) for c in self.conflicts]

    @staticmethod
    def render(conflicts: list[Conflict]) -> str:
        if len(conflicts) == 1:
            c = conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {print_manager(c.manager)}: {path_string(c.path)}"
        by: dict[str, list[Path]] = {}
        for c in conflicts:
            by.setdefault(c.manager, []).append(c.path)
        lines = []
        for ident in sorted(by):
            lines.append(f"conflicts with {print_manager(ident)}:")
            lines.extend(f"- {path_string(p)}" for p in by[ident])
        return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def manager_from_user_agent(field_manager: str | None, user_agent: str | None) -> str:
    """``fieldManager`` if given, else the User-Agent up to its first ``/`` (printable runes only, at most
    128 bytes): ``kubectl/v1.37.0 (linux/amd64) ...`` -> ``kubectl``. An empty result is later recorded as
    ``unknown``."""
    if field_manager:
        return field_manager
    out: list[str] = []
    size = 0
    for ch in (user_agent or "").split("/")[0]:
        if not ch.isprintable():
            continue
        n = len(ch.encode("utf-8", "surrogatepass"))
        if size + n > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += n
    return "".join(out)

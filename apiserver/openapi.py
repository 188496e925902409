"""OpenAPI v3 (per group version) and v2 (one document) generated from the resource table.

Paths and operations follow kube-apiserver's installer: one operation per verb (list, create,
deletecollection, read, replace, patch, delete, the deprecated watch paths, subresources and connect
methods), operationIds such as ``patchAppsV1NamespacedDeployment``, ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind`` on every resource operation, and parameters common to every
operation of a path hoisted to the path. Schemas come from the ``kubernetes-validate`` package for the
emulated version, normalised back into OpenAPI form (single ``type``, no ``null``, IntOrString and
Quantity as strings, no apiVersion/kind enums) with their descriptions and ``x-kubernetes-*``
extensions; a v3 document carries only the schemas its paths reach. Media types are those a default
1.37 server produces (CBOR is behind the off-by-default CBORServingAndStorage gate, so it is not
declared).

Serving: ``GET /openapi/v3`` -> :func:`openapi_v3_index`; ``GET /openapi/v3/<path>`` ->
:func:`openapi_v3_bytes` (``application/json``; upstream also sets ``ETag`` to the hash in the index
URL and, when ``?hash=`` matches, ``Cache-Control: public, immutable``); ``GET /openapi/v2`` ->
:func:`openapi_v2_bytes` (kubectl asks for protobuf there; JSON is what this module produces).

Custom resources: a ResourceInfo whose kind has no built-in schema gets its definition from
``info.extra["openAPIV3Schema"]`` (a JSON string) or else an open object schema.

Everything is cached per registry revision; treat returned dicts as read-only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .kinds import Registry, ResourceInfo, Subresource

SCHEMA_VERSION = "1.37"
Doc = dict[str, Any]

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
WATCH_EVENT = META + "WatchEvent"
INFO = "io.k8s.apimachinery.pkg.version.Info"

MEDIA = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
STREAM_MEDIA = ["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"]
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"]

# ---------------------------------------------------------------------------------------------
# schema definitions


def _definitions_file(version: str) -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise RuntimeError("the kubernetes-validate package is not installed")
    return Path(spec.origin).parent / "kubernetes-json-schema" / f"v{version}.0-local" / "_definitions.json"


def raw_definitions(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON-schema definitions of ``kubernetes-validate`` for ``version`` (``"1.37"``), keyed by
    OpenAPI definition name. Uses ``schemas.loader.load(version).definitions`` when that exists."""
    try:
        loader: Any = importlib.import_module("schemas.loader")
        defs = loader.load(version).definitions
        if isinstance(defs, dict) and defs:
            return defs
    except (ImportError, AttributeError):
        pass
    doc = orjson.loads(_definitions_file(version).read_bytes())
    defs = doc.get("$defs") or doc.get("definitions") or {}
    if not isinstance(defs, dict):
        raise RuntimeError("unexpected definitions file layout")
    return defs


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _single_type(t: Any) -> Any:
    if isinstance(t, list):
        kept = [x for x in t if x != "null"]
        return kept[0] if kept else None
    return t


_TYPE_META_PREFIXES = {"apiVersion": "APIVersion defines", "kind": "Kind is a string value"}


def _normalize(schema: Any, prefix: str, v3: bool) -> Any:
    """JSON schema (2020-12 as kubernetes-validate writes it) -> OpenAPI schema object."""
    if not isinstance(schema, dict):
        return schema
    out: Doc = {}
    for key, value in schema.items():
        if key == "$ref":
            continue
        if key == "type":
            t = _single_type(value)
            if t is not None:
                out["type"] = t
        elif key == "properties" and isinstance(value, dict):
            props: Doc = {}
            for name, sub in value.items():
                norm = _normalize(sub, prefix, v3)
                lead = _TYPE_META_PREFIXES.get(name)
                if lead and isinstance(norm, dict) and str(norm.get("description", "")).startswith(lead):
                    norm.pop("enum", None)  # kubernetes-validate pins apiVersion/kind; upstream does not
                props[name] = norm
            out["properties"] = props
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _normalize(value, prefix, v3)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_normalize(v, prefix, v3) for v in value]
        else:
            out[key] = value
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = {"$ref": prefix + _ref_name(ref)}
        if not out:
            return target
        if v3:  # OpenAPI 3.0 ignores siblings of $ref; upstream wraps the reference in allOf
            return {"allOf": [target], **out}
        return {**target, **out}
    return out


_SPECIAL: dict[str, Doc] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": "An integer (int32) or a string, written as whichever of the two it holds.",
        "format": "int-or-string",
        "type": "string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "description": "A fixed-point number with an optional suffix (SI like 100M or 2Gi, or an exponent "
                       "like 1e3), written in its canonical string form; plain integers are accepted.",
        "type": "string",
    },
}

_DEFS_CACHE: dict[tuple[str, bool], dict[str, Any]] = {}


def definitions(version: str = SCHEMA_VERSION, *, v3: bool = True) -> dict[str, Any]:
    """All built-in definitions in OpenAPI form (refs to ``#/components/schemas/`` for v3,
    ``#/definitions/`` for v2)."""
    key = (version, v3)
    if key not in _DEFS_CACHE:
        prefix = "#/components/schemas/" if v3 else "#/definitions/"
        raw = raw_definitions(version)
        _DEFS_CACHE[key] = {
            name: dict(_SPECIAL[name]) if name in _SPECIAL else _normalize(schema, prefix, v3)
            for name, schema in raw.items()
        }
    return _DEFS_CACHE[key]


def _gvk_index(version: str) -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in raw_definitions(version).items():
        gvks = schema.get("x-kubernetes-group-version-kind") if isinstance(schema, dict) else None
        if isinstance(gvks, list) and len(gvks) == 1:
            g = gvks[0]
            index[(g.get("group", ""), g.get("version", ""), g.get("kind", ""))] = name
    return index


def _refs(schema: Any, out: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            out.add(_ref_name(ref))
        for v in schema.values():
            _refs(v, out)
    elif isinstance(schema, list):
        for v in schema:
            _refs(v, out)


def _closure(roots: Iterable[str], defs: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(n for n in found if n in defs and n not in seen)
    return {n: defs[n] for n in sorted(seen)}


# ---------------------------------------------------------------------------------------------
# operations, independent of the OpenAPI flavour


@dataclass
class Param:
    name: str
    where: str  # "path" | "query"
    type: str
    description: str
    required: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.where)


@dataclass
class Op:
    method: str
    operation_id: str
    description: str
    tag: str
    params: list[Param]
    responses: dict[str, tuple[str, Any]]  # code -> (description, schema name | inline schema | None)
    produces: list[str]
    action: str = ""
    gvk: dict[str, str] | None = None
    body: Any = None  # schema name or inline schema
    body_required: bool = False
    consumes: list[str] = field(default_factory=lambda: ["*/*"])


def _p(name: str, type_: str, description: str) -> Param:
    return Param(name, "query", type_, description)


PRETTY = _p("pretty", "string", "If 'true', the output is pretty printed.")
DRY_RUN = _p("dryRun", "string", "When present (the only valid value is 'All'), the request is processed "
                                 "fully but nothing is persisted.")
FIELD_MANAGER = _p("fieldManager", "string", "Name of the actor making these changes, recorded in "
                                             "managedFields (at most 128 printable characters).")
FIELD_MANAGER_PATCH = _p("fieldManager", "string", "Name of the actor making these changes, recorded in "
                                                   "managedFields (at most 128 printable characters). "
                                                   "Required for apply patches.")
FIELD_VALIDATION = _p("fieldValidation", "string", "What to do with unknown or duplicate fields in the "
                                                   "request object: Ignore, Warn (the default) or Strict "
                                                   "(reject the request).")
FORCE = _p("force", "boolean", "Force an apply patch: take over fields owned by other managers. Must be "
                               "unset for other patch types.")
LIST_PARAMS = [
    _p("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events on a watch; servers may ignore it."),
    _p("continue", "string", "The continue token of a previous chunked list response, to get the next "
                             "chunk."),
    _p("fieldSelector", "string", "Only return objects whose fields match this selector."),
    _p("labelSelector", "string", "Only return objects whose labels match this selector."),
    _p("limit", "integer", "The most items to return in one chunk; the list metadata carries a continue "
                           "token when more remain."),
    _p("resourceVersion", "string", "Constrains which resource version the list or watch is served from "
                                    "(see resourceVersionMatch)."),
    _p("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    _p("sendInitialEvents", "boolean", "With watch=true, start the watch with synthetic ADDED events for the "
                                       "current state, then a bookmark."),
    _p("shardSelector", "string", "Only return objects of this shard of the collection."),
    _p("timeoutSeconds", "integer", "Limit on the duration of the list or watch call."),
    _p("watch", "boolean", "Stream add, update and delete notifications instead of listing."),
]
DELETE_PARAMS = [
    DRY_RUN,
    _p("gracePeriodSeconds", "integer", "Seconds before the object is deleted; zero deletes at once, unset "
                                        "uses the object's default."),
    _p("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
       "Delete the object even if it cannot be read from storage (it may be corrupt). Dangerous."),
    _p("orphanDependents", "boolean", "Deprecated: use propagationPolicy. Whether dependents are orphaned."),
    _p("propagationPolicy", "string", "How garbage collection handles dependents: Orphan, Background or "
                                      "Foreground."),
]
WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
PATCH_PARAMS = [DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE]
_STREAMS = [_p("container", "string", "The container to use; defaults to the only container of the pod."),
            _p("stderr", "boolean", "Redirect the standard error stream of the container."),
            _p("stdin", "boolean", "Redirect the standard input stream of the container."),
            _p("stdout", "boolean", "Redirect the standard output stream of the container."),
            _p("tty", "boolean", "Allocate a terminal; stderr is then merged into stdout.")]
CONNECT_PARAMS: dict[str, list[Param]] = {
    "PodAttachOptions": _STREAMS,
    "PodExecOptions": [_p("command", "string", "The command to run, one argv element per parameter; "
                                               "not run in a shell.")] + _STREAMS,
    "PodPortForwardOptions": [_p("ports", "integer", "The pod ports to forward.")],
    "PodProxyOptions": [_p("path", "string", "The URL path to use for the proxied request to the pod.")],
    "NodeProxyOptions": [_p("path", "string", "The URL path to use for the proxied request to the node.")],
    "ServiceProxyOptions": [_p("path", "string", "The part of the URL path after the service proxy "
                                                 "prefix, sent to the service.")],
}
LOG_PARAMS = [
    _p("container", "string", "The container whose logs to stream; defaults to the only container."),
    _p("follow", "boolean", "Keep streaming as the log grows."),
    _p("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the kubelet's serving certificate."),
    _p("limitBytes", "integer", "Stop after this many bytes of log output."),
    _p("previous", "boolean", "Return the logs of the previous, terminated container instance."),
    _p("sinceSeconds", "integer", "Only logs newer than this many seconds."),
    _p("stream", "string", "Which stream to return: All (default), Stdout or Stderr."),
    _p("tailLines", "integer", "Only this many lines from the end of the log."),
    _p("timestamps", "boolean", "Prefix every line with an RFC3339 timestamp."),
]
NAMESPACE = Param("namespace", "path", "string", "object name and auth scope, such as for teams and projects",
                  True)


def _valid_id(s: str, capitalize: bool) -> str:
    """kube-openapi's ToValidOperationID: drop separators, capitalising the letter after each."""
    out: list[str] = []
    for i, ch in enumerate(s):
        if ch.isalpha() or ch == "_" or (i != 0 and ch.isdigit()):
            out.append(ch.upper() if capitalize else ch)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def _group_id(group: str) -> str:
    g = group or "core"
    return g[: -len(".k8s.io")] if g.endswith(".k8s.io") else g


def tag(group: str, version: str) -> str:
    return f"{_valid_id(_group_id(group), False)}_{_valid_id(version, False)}"


def _gv_prefix(group: str, version: str) -> str:
    return _valid_id(_group_id(group), True) + _valid_id(version, True)


def _article(noun: str) -> str:
    if noun.endswith("s") and not noun.endswith("ss"):
        return " "
    return " an " if noun[:1].lower() in "aeiou" else " a "


def _root(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _crd_def_name(group: str, version: str, kind: str) -> str:
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


@dataclass
class _Schemas:
    """Definition lookup for one document: built-ins by GVK, custom kinds added on the way."""

    defs: dict[str, Any]
    index: dict[tuple[str, str, str], str]
    custom: dict[str, Any] = field(default_factory=dict)

    def lookup(self, group: str, version: str, kind: str) -> str | None:
        return self.index.get((group, version, kind))

    def for_kind(self, info: ResourceInfo, v3: bool) -> tuple[str, str, bool]:
        """(definition, list definition, builtin) for the resource's kind."""
        name = self.lookup(info.group, info.version, info.kind)
        list_name = self.lookup(info.group, info.version, info.list_kind)
        if name and list_name:
            return name, list_name, True
        name = _crd_def_name(info.group, info.version, info.kind)
        list_name = name + "List"
        prefix = "#/components/schemas/" if v3 else "#/definitions/"
        gvk = {"group": info.group, "kind": info.kind, "version": info.version}
        schema: Any = None
        raw = info.extra.get("openAPIV3Schema")
        if raw:
            try:
                schema = orjson.loads(raw)
            except orjson.JSONDecodeError:
                schema = None
        if not isinstance(schema, dict):
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        self.custom[name] = {**_normalize(schema, prefix, v3), "x-kubernetes-group-version-kind": [gvk]}
        self.custom[list_name] = {
            "description": f"{info.list_kind} is a list of {info.kind}",
            "properties": {
                "apiVersion": {"type": "string"},
                "items": {"items": {"$ref": prefix + name}, "type": "array"},
                "kind": {"type": "string"},
                "metadata": {"$ref": prefix + META + "ListMeta"},
            },
            "required": ["items"],
            "type": "object",
            "x-kubernetes-group-version-kind": [{**gvk, "kind": info.list_kind}],
        }
        return name, list_name, False

    def all(self) -> dict[str, Any]:
        return {**self.defs, **self.custom}


def _ok(schema: Any) -> dict[str, tuple[str, Any]]:
    return {"200": ("OK", schema)}


def _resource_ops(info: ResourceInfo, schemas: _Schemas, v3: bool) -> dict[str, list[Op]]:
    g, v = info.group, info.version
    gvp, tg = _gv_prefix(g, v), tag(g, v)
    kind = info.kind
    obj, lst, builtin = schemas.for_kind(info, v3)
    gvk = {"group": g, "kind": kind, "version": v}
    verbs = set(info.verbs)
    ns = "Namespaced" if info.namespaced else ""
    root = _root(g, v)
    scope = f"/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"/{info.plural}"
    coll, item = root + scope, root + scope + "/{name}"
    base = [NAMESPACE] if info.namespaced else []
    name = Param("name", "path", "string", f"name of the {kind}", True)
    patch_types = PATCH_TYPES if builtin else [t for t in PATCH_TYPES if "strategic" not in t]
    deleted = STATUS if not info.strategy.return_deleted_object or (not g and info.plural == "namespaces") \
        else obj
    paths: dict[str, list[Op]] = {}

    def add(path: str, op: Op) -> None:
        paths.setdefault(path, []).append(op)

    def op(method: str, verb: str, what: str, description: str, params: list[Param], responses: dict[str,
           tuple[str, Any]], action: str, *, produces: list[str] = MEDIA, body: Any = None,
           body_required: bool = False, consumes: list[str] | None = None, op_gvk: dict[str, str] | None = None,
           tag_: str = tg) -> Op:
        return Op(method, verb + gvp + what, description, tag_, params, responses, produces, action,
                  op_gvk or gvk, body, body_required, consumes or ["*/*"])

    watchable = "watch" in verbs and "list" in verbs
    if "list" in verbs:
        desc = ("list or watch objects of kind " if "watch" in verbs else "list objects of kind ") + kind
        add(coll, op("get", "list", ns + kind, desc, base + [PRETTY] + LIST_PARAMS, _ok(lst), "list",
                     produces=MEDIA + STREAM_MEDIA))
    if "create" in verbs:
        add(coll, op("post", "create", ns + kind, "create" + _article(kind) + kind, base + [PRETTY] + WRITE_PARAMS,
                     {"200": ("OK", obj), "201": ("Created", obj), "202": ("Accepted", obj)}, "post", body=obj,
                     body_required=True))
    if "deletecollection" in verbs:
        params = base + [PRETTY] + DELETE_PARAMS + [p for p in LIST_PARAMS
                                                    if p.name not in ("watch", "allowWatchBookmarks")]
        add(coll, op("delete", "delete", "Collection" + ns + kind, "delete collection of " + kind, params,
                     _ok(STATUS), "deletecollection", body=DELETE_OPTIONS))
    if watchable:
        add(root + "/watch" + scope, op(
            "get", "watch", ns + kind + "List",
            f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list "
            "operation instead.", base + [PRETTY] + LIST_PARAMS, _ok(WATCH_EVENT), "watchlist",
            produces=MEDIA + STREAM_MEDIA))
    item_base = [name] + base
    if "get" in verbs:
        add(item, op("get", "read", ns + kind, "read the specified " + kind, item_base + [PRETTY], _ok(obj), "get"))
    if "update" in verbs:
        add(item, op("put", "replace", ns + kind, "replace the specified " + kind,
                     item_base + [PRETTY] + WRITE_PARAMS, {"200": ("OK", obj), "201": ("Created", obj)}, "put",
                     body=obj, body_required=True))
    if "patch" in verbs:
        add(item, op("patch", "patch", ns + kind, "partially update the specified " + kind,
                     item_base + [PRETTY] + PATCH_PARAMS, {"200": ("OK", obj), "201": ("Created", obj)}, "patch",
                     body=PATCH, body_required=True, consumes=patch_types))
    if "delete" in verbs:
        add(item, op("delete", "delete", ns + kind, "delete" + _article(kind) + kind,
                     item_base + [PRETTY] + DELETE_PARAMS, {"200": ("OK", deleted), "202": ("Accepted", deleted)},
                     "delete", body=DELETE_OPTIONS))
    if "watch" in verbs:
        add(root + "/watch" + scope + "/{name}", op(
            "get", "watch", ns + kind,
            f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list "
            "operation instead, filtered to a single item with the 'fieldSelector' parameter.",
            item_base + [PRETTY] + LIST_PARAMS, _ok(WATCH_EVENT), "watch", produces=MEDIA + STREAM_MEDIA))
    if info.namespaced and "list" in verbs:
        add(root + "/" + info.plural, op("get", "list", kind + "ForAllNamespaces",
                                         "list or watch objects of kind " + kind if "watch" in verbs
                                         else "list objects of kind " + kind,
                                         [PRETTY] + LIST_PARAMS, _ok(lst), "list", produces=MEDIA + STREAM_MEDIA))
        if watchable:
            add(root + "/watch/" + info.plural, op(
                "get", "watch", kind + "ListForAllNamespaces",
                f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a "
                "list operation instead.", [PRETTY] + LIST_PARAMS, _ok(WATCH_EVENT), "watchlist",
                produces=MEDIA + STREAM_MEDIA))
    for sub in info.subresources:
        for path, ops in _subresource_ops(info, sub, schemas, obj, builtin, item, base, op).items():
            for o in ops:
                add(path, o)
    return paths


def _subresource_ops(info: ResourceInfo, sub: Subresource, schemas: _Schemas, obj: str, builtin: bool,
                     item: str, base: list[Param], op: Callable[..., Op]) -> dict[str, list[Op]]:
    kind, ns = info.kind, "Namespaced" if info.namespaced else ""
    sub_kind = sub.kind or kind
    sg, sv = (sub.group, sub.version) if (sub.group or sub.version) else (info.group, info.version)
    gvk = {"group": sg, "kind": sub_kind, "version": sv}
    title = sub.name[:1].upper() + sub.name[1:]
    path = f"{item}/{sub.name}"
    name = Param("name", "path", "string", f"name of the {sub_kind}", True)
    params = [name] + base
    paths: dict[str, list[Op]] = {}
    if sub.is_connect:
        extra = CONNECT_PARAMS.get(sub_kind, [])
        for method in sub.methods:
            verb_title = method.capitalize()
            desc = f"connect {method} requests to {sub.name} of {kind}"
            string = {"type": "string"}
            paths.setdefault(path, []).append(op(
                method.lower(), "connect", verb_title + ns + kind + title, desc, params + extra, _ok(string),
                "connect", produces=["*/*"], op_gvk=gvk))
            if sub.subpath:
                sub_path = Param("path", "path", "string", "path to the resource", True)
                paths.setdefault(path + "/{path}", []).append(op(
                    method.lower(), "connect", verb_title + ns + kind + title + "WithPath", desc,
                    params + [sub_path] + extra, _ok(string), "connect", produces=["*/*"], op_gvk=gvk))
        return paths
    sub_obj = obj if not sub.kind else schemas.lookup(sg, sv, sub.kind) or obj
    verbs = set(sub.verbs)
    ops = paths.setdefault(path, [])
    if "get" in verbs:
        if sub.name == "log" and not info.group and info.plural == "pods":
            ops.append(op("get", "read", ns + kind + title, f"read {sub.name} of the specified {kind}",
                          params + [PRETTY] + LOG_PARAMS, _ok({"type": "string"}), "get",
                          produces=["text/plain"] + MEDIA, op_gvk=gvk))
        else:
            ops.append(op("get", "read", ns + kind + title, f"read {sub.name} of the specified {kind}",
                          params + [PRETTY], _ok(sub_obj), "get", op_gvk=gvk))
    if "update" in verbs:
        ops.append(op("put", "replace", ns + kind + title, f"replace {sub.name} of the specified {kind}",
                      params + [PRETTY] + WRITE_PARAMS, {"200": ("OK", sub_obj), "201": ("Created", sub_obj)}, "put",
                      body=sub_obj, body_required=True, op_gvk=gvk))
    if "patch" in verbs:
        patch_types = PATCH_TYPES if builtin else [t for t in PATCH_TYPES if "strategic" not in t]
        ops.append(op("patch", "patch", ns + kind + title, f"partially update {sub.name} of the specified {kind}",
                      params + [PRETTY] + PATCH_PARAMS, {"200": ("OK", sub_obj), "201": ("Created", sub_obj)},
                      "patch", body=PATCH, body_required=True, consumes=patch_types, op_gvk=gvk))
    if "create" in verbs:
        ops.append(op("post", "create", ns + kind + title, f"create {sub.name} of{_article(kind)}{kind}",
                      params + [PRETTY] + WRITE_PARAMS,
                      {"200": ("OK", sub_obj), "201": ("Created", sub_obj), "202": ("Accepted", sub_obj)}, "post",
                      body=sub_obj, body_required=True, op_gvk=gvk))
    return paths


def _discovery_op(operation_id: str, description: str, tag_: str, schema: str) -> Op:
    return Op("get", operation_id, description, tag_, [], _ok(schema), MEDIA)


def _gv_paths(reg: Registry, group: str, version: str, schemas: _Schemas, v3: bool) -> dict[str, list[Op]]:
    paths: dict[str, list[Op]] = {
        _root(group, version) + "/": [_discovery_op(f"get{_gv_prefix(group, version)}APIResources",
                                                    "get available resources", tag(group, version),
                                                    META + "APIResourceList")]
    }
    for info in reg.resources(group, version):
        for path, ops in _resource_ops(info, schemas, v3).items():
            paths.setdefault(path, []).extend(ops)
    return paths


def _group_paths(group: str) -> dict[str, list[Op]]:
    gid = _valid_id(_group_id(group), False)
    return {f"/apis/{group}/": [_discovery_op(f"get{_valid_id(_group_id(group), True)}APIGroup",
                                              "get information of a group", gid, META + "APIGroup")]}


def _fixed_paths(path: str) -> dict[str, list[Op]] | None:
    unauthorized_only: dict[str, tuple[str, Any]] = {}
    if path == "api":
        return {"/api/": [_discovery_op("getCoreAPIVersions", "get available API versions", "core",
                                        META + "APIVersions")]}
    if path == "apis":
        return {"/apis/": [_discovery_op("getAPIVersions", "get available API versions", "apis",
                                         META + "APIGroupList")]}
    if path == "version":
        return {"/version/": [Op("get", "getCodeVersion", "get the version information for this server",
                                 "version", [], _ok(INFO), ["application/json"])]}
    if path == "logs":
        logpath = Param("logpath", "path", "string", "path to the log", True)
        return {"/logs/": [Op("get", "logFileListHandler", "", "logs", [], unauthorized_only, [])],
                "/logs/{logpath}": [Op("get", "logFileHandler", "", "logs", [logpath], unauthorized_only, [])]}
    if path == ".well-known/openid-configuration":
        return {"/.well-known/openid-configuration": [Op(
            "get", "getServiceAccountIssuerOpenIDConfiguration",
            "get service account issuer OpenID configuration, also known as the 'OIDC discovery doc'",
            "WellKnown", [], _ok({"type": "string"}), ["application/json"])]}
    if path == "openid/v1/jwks":
        return {"/openid/v1/jwks": [Op("get", "getServiceAccountIssuerOpenIDKeyset",
                                        "get service account issuer OpenID JSON Web Key Set (contains public "
                                        "token verification keys)", "openid", [], _ok({"type": "string"}),
                                        ["application/jwk-set+json"])]}
    return None


FIXED = (".well-known/openid-configuration", "api", "apis", "logs", "openid/v1/jwks", "version")

# ---------------------------------------------------------------------------------------------
# rendering


def _hoist(ops: list[Op]) -> tuple[list[Param], list[list[Param]]]:
    """Parameters shared (identically) by every operation of a path move to the path."""
    common = [p for p in ops[0].params if all(any(q == p for q in o.params) for o in ops[1:])]
    keys = {p.key for p in common}
    per_op = [sorted((p for p in o.params if p.key not in keys), key=lambda p: (p.name, p.where)) for o in ops]
    return sorted(common, key=lambda p: (p.name, p.where)), per_op


def _schema_ref(schema: Any, prefix: str) -> Any:
    return {"$ref": prefix + schema} if isinstance(schema, str) else schema


def _param_v3(p: Param) -> Doc:
    d: Doc = {"description": p.description, "in": p.where, "name": p.name}
    if p.required:
        d["required"] = True
    d["schema"] = {"type": p.type, "uniqueItems": True}
    return d


def _param_v2(p: Param) -> Doc:
    d: Doc = {"description": p.description, "in": p.where, "name": p.name}
    if p.required:
        d["required"] = True
    d["type"] = p.type
    d["uniqueItems"] = True
    return d


def _render(paths: dict[str, list[Op]], v3: bool) -> Doc:
    prefix = "#/components/schemas/" if v3 else "#/definitions/"
    out: Doc = {}
    for path in sorted(paths):
        ops = paths[path]
        common, per_op = _hoist(ops)
        item: Doc = {}
        for o, params in zip(ops, per_op, strict=True):
            d: Doc = {"description": o.description} if o.description else {}
            if not v3:
                d["consumes"] = o.consumes
            d["operationId"] = o.operation_id
            rendered = [_param_v3(p) if v3 else _param_v2(p) for p in params]
            if o.body is not None and not v3:
                body: Doc = {"in": "body", "name": "body", "schema": _schema_ref(o.body, prefix)}
                if o.body_required:
                    body["required"] = True
                rendered.insert(0, body)
            if rendered:
                d["parameters"] = rendered
            if o.body is not None and v3:
                rb: Doc = {"content": {ct: {"schema": _schema_ref(o.body, prefix)} for ct in o.consumes}}
                if o.body_required:
                    rb["required"] = True
                d["requestBody"] = rb
            if not v3:
                d["produces"] = o.produces
            responses: Doc = {}
            for code, (desc, schema) in o.responses.items():
                if schema is None:
                    responses[code] = {"description": desc}
                elif v3:
                    responses[code] = {"content": {mt: {"schema": _schema_ref(schema, prefix)}
                                                   for mt in sorted(o.produces)}, "description": desc}
                else:
                    responses[code] = {"description": desc, "schema": _schema_ref(schema, prefix)}
            responses["401"] = {"description": "Unauthorized"}
            d["responses"] = responses
            if not v3:
                d["schemes"] = ["https"]
            d["tags"] = [o.tag]
            if o.action:
                d["x-kubernetes-action"] = o.action
            if o.gvk is not None and o.action:
                d["x-kubernetes-group-version-kind"] = o.gvk
            item[o.method] = d
        if common:
            item["parameters"] = [_param_v3(p) if v3 else _param_v2(p) for p in common]
        out[path] = dict(sorted(item.items()))
    return out


def _schema_roots(paths: dict[str, list[Op]]) -> set[str]:
    roots: set[str] = set()
    for ops in paths.values():
        for o in ops:
            if isinstance(o.body, str):
                roots.add(o.body)
            for _, schema in o.responses.values():
                if isinstance(schema, str):
                    roots.add(schema)
    return roots


SECURITY_SCHEME = {"description": "Bearer Token authentication", "in": "header", "name": "authorization",
                   "type": "apiKey"}


def _info(version: str) -> Doc:
    return {"title": "Kubernetes", "version": f"v{version}.0"}


def _v3_document(paths: dict[str, list[Op]], schemas: _Schemas, version: str) -> Doc:
    defs = schemas.all()
    return {
        "openapi": "3.0.0",
        "info": _info(version),
        "paths": _render(paths, v3=True),
        "components": {"schemas": _closure(_schema_roots(paths), defs),
                       "securitySchemes": {"BearerToken": SECURITY_SCHEME}},
        "security": [{"BearerToken": []}],
    }


# ---------------------------------------------------------------------------------------------
# public API


_CACHE: weakref.WeakKeyDictionary[Registry, tuple[int, dict[tuple[Any, ...], Any]]] = weakref.WeakKeyDictionary()


def _cached(reg: Registry, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    revision, values = _CACHE.get(reg, (-1, {}))
    if revision != reg.revision:
        values = {}
        _CACHE[reg] = (reg.revision, values)
    if key not in values:
        values[key] = build()
    return values[key]


def _schemas(version: str, v3: bool) -> _Schemas:
    return _Schemas(definitions(version, v3=v3), _gvk_index(version))


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _paths_for(reg: Registry, path: str, schemas: _Schemas, v3: bool) -> dict[str, list[Op]] | None:
    fixed = _fixed_paths(path)
    if fixed is not None:
        return fixed
    parts = path.strip("/").split("/")
    if parts == ["api", "v1"] and reg.resources("", "v1"):
        return _gv_paths(reg, "", "v1", schemas, v3)
    if len(parts) == 2 and parts[0] == "apis" and reg.versions(parts[1]):
        return _group_paths(parts[1])
    if len(parts) == 3 and parts[0] == "apis" and reg.resources(parts[1], parts[2]):
        return _gv_paths(reg, parts[1], parts[2], schemas, v3)
    return None


def openapi_v3_path_doc(reg: Registry, path: str, *, version: str = SCHEMA_VERSION) -> Doc | None:
    """The v3 document of one index entry: ``api/v1``, ``apis/apps/v1``, ``apis/apps``, ``api``, ``apis``,
    ``version``, ``logs``, ``.well-known/openid-configuration`` or ``openid/v1/jwks``."""

    def build() -> Doc | None:
        schemas = _schemas(version, True)
        paths = _paths_for(reg, path, schemas, True)
        return None if paths is None else _v3_document(paths, schemas, version)

    result: Doc | None = _cached(reg, ("v3", path.strip("/"), version), build)
    return result


def openapi_v3_doc(reg: Registry, group: str, version: str, *, schema_version: str = SCHEMA_VERSION) -> Doc | None:
    """The OpenAPI 3.0 document of one group version (``""``/``"v1"`` for the core group), or None."""
    return openapi_v3_path_doc(reg, _gv_key(group, version), version=schema_version)


def openapi_v3_bytes(reg: Registry, path: str, *, version: str = SCHEMA_VERSION) -> bytes | None:
    """The serialized document for ``/openapi/v3/<path>``; its hash is the one in the index."""

    def build() -> bytes | None:
        doc = openapi_v3_path_doc(reg, path, version=version)
        return None if doc is None else orjson.dumps(doc)

    result: bytes | None = _cached(reg, ("v3bytes", path.strip("/"), version), build)
    return result


def doc_hash(body: bytes) -> str:
    """Upstream's hash of an OpenAPI document: upper-case hex SHA-512 of its JSON."""
    return hashlib.sha512(body).hexdigest().upper()


def openapi_v3_paths(reg: Registry) -> list[str]:
    """Every key of the v3 index, sorted."""
    keys = set(FIXED) | {"api/v1"} if reg.resources("", "v1") else set(FIXED)
    for group in reg.groups():
        keys.add(f"apis/{group}")
        keys.update(f"apis/{group}/{v}" for v in reg.versions(group))
    return sorted(keys)


def openapi_v3_index(reg: Registry, *, version: str = SCHEMA_VERSION) -> Doc:
    """``/openapi/v3``: ``{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}}}``."""

    def build() -> Doc:
        paths: Doc = {}
        for key in openapi_v3_paths(reg):
            body = openapi_v3_bytes(reg, key, version=version)
            if body is not None:
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc_hash(body)}"}
        return {"paths": paths}

    result: Doc = _cached(reg, ("v3index", version), build)
    return result


def openapi_v2(reg: Registry, *, version: str = SCHEMA_VERSION) -> Doc:
    """``/openapi/v2``: one Swagger 2.0 document with every path and the definitions they reach."""

    def build() -> Doc:
        schemas = _schemas(version, False)
        paths: dict[str, list[Op]] = {}
        for key in openapi_v3_paths(reg):
            for path, ops in (_paths_for(reg, key, schemas, False) or {}).items():
                paths.setdefault(path, []).extend(ops)
        return {
            "swagger": "2.0",
            "info": _info(version),
            "paths": _render(paths, v3=False),
            "definitions": _closure(_schema_roots(paths), schemas.all()),
            "securityDefinitions": {"BearerToken": SECURITY_SCHEME},
            "security": [{"BearerToken": []}],
        }

    result: Doc = _cached(reg, ("v2", version), build)
    return result


def openapi_v2_bytes(reg: Registry, *, version: str = SCHEMA_VERSION) -> bytes:
    result: bytes = _cached(reg, ("v2bytes", version), lambda: orjson.dumps(openapi_v2(reg, version=version)))
    return result

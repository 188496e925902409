"""PATCH: a transform applied inside the Store's compare-and-swap loop.

json-patch (RFC 6902) and merge-patch (RFC 7386) here; strategic merge and server-side apply build
on the same shape.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response

from . import errors, fieldmanager, strategicpatch
from .handlers import dry_run, respond
from .negotiation import Output, read_body
from .registry import Store, now_rfc3339
from .routes import RequestInfo

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

APPLY = "application/apply-patch+yaml"
PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class JSONPatchError(Exception):
    pass


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise JSONPatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise JSONPatchError(f"doc is missing path: \"/{'/'.join(parts)}\": missing value")
    return cur, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise JSONPatchError(f'doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, _pointer(path))
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise JSONPatchError(f'unable to remove nonexistent key: {last}: missing value')


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise JSONPatchError(f'replace operation does not apply: doc is missing key: {path}: missing value')
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise JSONPatchError(f"add operation does not apply: doc is missing path: \"{path}\": missing value")
    else:
        raise JSONPatchError(f'doc is missing path: "{path}": missing value')
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise JSONPatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise JSONPatchError("each json patch operation needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise JSONPatchError(f"testing value {path} failed: test failed")
        else:
            raise JSONPatchError(f"Unexpected kind: {kind}")
    return doc


async def patch_handler(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output,
                        *, strategy: Any = None, subresource: str = "") -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    info = store.info
    custom = bool(info.extra.get("crd"))
    accepted = [t for t in PATCH_TYPES if not (custom and "strategic" in t)]
    if content_type not in accepted:
        raise errors.unsupported_media_type(content_type, accepted)
    raw = await read_body(request)
    if content_type == APPLY:
        return await _apply(server, request, ri, store, out, raw, strategy=strategy, subresource=subresource)
    try:
        patch = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"error decoding patch: {e}") from None
    if content_type != "application/json-patch+json" and not isinstance(patch, dict):
        raise errors.bad_request("error decoding patch: the patch must be a JSON object")

    async def transform(current: Obj) -> Obj:
        try:
            if content_type == "application/json-patch+json":
                new = json_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                meta = strategicpatch.patch_meta_for(server.admission.schemas, info.group, info.version, info.kind)
                new = strategicpatch.strategic_merge(current, patch, meta)
            else:
                new = merge_patch(current, patch)
        except JSONPatchError as e:
            raise errors.StatusError(422, "Invalid", str(e)) from None
        except strategicpatch.PatchError as e:
            raise errors.StatusError(e.code, "BadRequest" if e.code == 400 else "Invalid" if e.code == 422
                                     else "InternalError", e.message) from None
        except KeyError:
            raise errors.unsupported_media_type(content_type, accepted) from None
        if not isinstance(new, dict):
            raise errors.bad_request("the patch did not produce an object")
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        # a resourceVersion in the patch is a precondition; one left from `current` is not
        if not _patch_sets_rv(patch):
            new["metadata"].pop("resourceVersion", None)
        _decode_patched(server, request, store, new, current)  # kplane issue 11: current skips re-checks
        server.track_fields(request, info, current, new, subresource)
        return new

    obj, _ = await store.update(ri.namespace, ri.name, transform, strategy=strategy, dry_run=dry_run(request))
    return respond(obj, out, 200, server.warning_headers(request))


def _decode_patched(server: APIServer, request: Request, store: Store, new: Obj,
                    current: Obj | None = None) -> None:
    """The patched object is decoded like a request body: pruned, schema-checked, defaulted (what it
    shares with ``current``, the stored object, was decoded when that was written)."""
    warnings = server.admission.decode(request, store.info, new, b"", stored=current or None)
    if warnings:
        request.state.warnings = getattr(request.state, "warnings", []) + warnings


async def _apply(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output, raw: bytes,
                 *, strategy: Any, subresource: str) -> Response:
    """Server-side apply: merge the configuration, track ownership, create the object when missing."""
    info = store.info
    manager = request.query_params.get("fieldManager", "")
    if not manager:
        raise errors.invalid_object("meta.k8s.io", "PatchOptions", "", [errors.FieldError(
            "FieldValueRequired", "fieldManager", detail="is required for apply patch")])
    force = request.query_params.get("force", "") in ("true", "1", "True")
    try:
        applied = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error decoding YAML: {e}") from None
    if not isinstance(applied, dict):
        raise errors.bad_request("error decoding patch: the apply configuration must be an object")
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("name") not in (None, ri.name):
        raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                                 f"URL ({ri.name})")

    async def transform(current: Obj) -> Obj:
        live = current or None
        new = fieldmanager.apply(live, applied, manager=manager, force=force, api_version=info.api_version,
                                 schema=server.field_schema(info), time=now_rfc3339(), subresource=subresource,
                                 reset_fields=fieldmanager.default_reset_fields(
                                     subresource, has_status=info.strategy.has_status))
        new.setdefault("metadata", {})["name"] = ri.name
        rv = (applied.get("metadata") or {}).get("resourceVersion")
        if rv:
            new["metadata"]["resourceVersion"] = rv
        else:
            new["metadata"].pop("resourceVersion", None)
        _decode_patched(server, request, store, new)
        if live is None:
            # an apply that creates passes the create admission too (namespace lifecycle, allocation)
            await server.admit_create(info, ri.namespace, new, dry_run=dry)
        return new

    dry = dry_run(request)
    obj, created = await store.update(ri.namespace, ri.name, transform, strategy=strategy, dry_run=dry,
                                      create_on_missing=not subresource)
    return respond(obj, out, 201 if created else 200, server.warning_headers(request))


def _patch_sets_rv(patch: Any) -> bool:
    if isinstance(patch, dict):
        return bool((patch.get("metadata") or {}).get("resourceVersion"))
    return any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in patch)

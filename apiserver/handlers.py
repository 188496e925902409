"""One coroutine per verb: HTTP request -> Store call -> response. No per-resource code here."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from schemas import selectors

from . import errors
from .kinds import ResourceInfo
from .negotiation import Output, decode_body, read_body, render
from .registry import DeleteOptions, ListOptions, Store, check_field_selector
from .routes import RequestInfo

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

TRUE = ("true", "1", "True")


def respond(obj: Any, out: Output, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body, media = render(obj, out.media if out.media != "table" else "json")
    return Response(body, status, media_type=media, headers=headers)


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid {name} "{raw}"') from None


def list_options(request: Request, info: ResourceInfo, *, watch: bool = False) -> ListOptions:
    q = request.query_params
    try:
        ls = selectors.parse_label_selector(q.get("labelSelector", ""))
        fs = selectors.parse_field_selector(q.get("fieldSelector", ""))
    except selectors.SelectorError as e:
        raise errors.bad_request(str(e)) from None
    check_field_selector(info, fs)
    rvm = q.get("resourceVersionMatch", "")
    rv = q.get("resourceVersion", "")
    if rvm and rvm not in ("Exact", "NotOlderThan"):
        raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{rvm}": supported values: '
                                 '"Exact", "NotOlderThan"')
    if rvm and not rv and not watch:
        raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if rvm == "Exact" and rv == "0":
        raise errors.bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    limit = _int_param(request, "limit") or 0
    return ListOptions(ls, fs, max(limit, 0), q.get("continue", ""), rv, rvm)


def dry_run(request: Request) -> bool:
    values = request.query_params.getlist("dryRun")
    for v in values:
        if v != "All":
            raise errors.bad_request(f'Invalid dryRun value: "{v}": supported values: "All"')
    return bool(values)


class Handlers:
    def __init__(self, server: APIServer) -> None:
        self.server = server

    # --- read ------------------------------------------------------------------------------------

    async def get(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        obj = await store.get(ri.namespace, ri.name, request.query_params.get("resourceVersion", ""))
        if out.media == "table":
            return respond(self.server.table(store.info, [obj], out, obj["metadata"], single=True), out)
        return respond(obj, out)

    async def list(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        opts = list_options(request, store.info)
        items, list_meta = await store.list(ri.namespace, opts)
        if out.media == "table":
            return respond(self.server.table(store.info, items, out, list_meta), out)
        return respond({"kind": store.info.list_kind, "apiVersion": store.info.api_version,
                        "metadata": list_meta, "items": items}, out)

    # --- write -------------------------------------------------------------------------------------

    async def body_object(self, request: Request, info: ResourceInfo, *, kind: str = "",
                          api_version: str = "") -> Obj:
        raw = await read_body(request)
        if not raw.strip():
            raise errors.bad_request("the body of the request was empty")  # upstream: decode error
        kind = kind or info.kind
        api_version = api_version or info.api_version
        group, _, version = api_version.rpartition("/")
        obj = decode_body(raw, request.headers.get("content-type", ""), group=group, version=version, kind=kind,
                          protobuf_ok=not info.extra.get("crd"))
        if not isinstance(obj, dict):
            raise errors.bad_request("Object 'Kind' is missing in '" + raw[:200].decode(errors="replace") + "'")
        body_kind, body_version = obj.get("kind"), obj.get("apiVersion")
        if body_kind and body_kind != kind:
            raise errors.bad_request(f"the kind in the data ({body_kind}) does not match the expected kind ({kind})"
                                     if body_version == api_version else
                                     f"the API version in the data ({body_version}) does not match the expected "
                                     f"API version ({api_version})")
        if body_version and body_version != api_version:
            raise errors.bad_request(f"the API version in the data ({body_version}) does not match the expected "
                                     f"API version ({api_version})")
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request("metadata: expected an object")
        obj["kind"], obj["apiVersion"] = kind, api_version
        await self.server.admit_decoded(request, info, obj, raw)
        return obj

    def _check_namespace(self, obj: Obj, ri: RequestInfo, info: ResourceInfo) -> None:
        ns = obj["metadata"].get("namespace")
        if info.namespaced and ns and ns != ri.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")

    async def create(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        obj = await self.body_object(request, store.info)
        self._check_namespace(obj, ri, store.info)
        dry = dry_run(request)
        self.server.track_fields(request, store.info, None, obj)
        await self.server.admit_create(store.info, ri.namespace, obj, dry_run=dry)
        try:
            created = await store.create(ri.namespace, obj, dry_run=dry)
        except BaseException:
            if not dry:
                await self.server.admission.abort_create(store.info, obj)
            raise
        return respond(created, out, 201, self.server.warning_headers(request))

    async def update(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        obj = await self.body_object(request, store.info)
        self._check_namespace(obj, ri, store.info)
        name = obj["metadata"].get("name")
        if name != ri.name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on the URL "
                                     f"({ri.name})")

        async def replace(current: Obj) -> Obj:
            new = dict(obj)
            new["metadata"] = dict(obj["metadata"])
            self.server.track_fields(request, store.info, current or None, new, ri.subresource)
            return new

        strategy = store.info.strategy
        if ri.subresource == "status":
            strategy = self.server.status_strategy(store.info)
        new, created = await store.update(ri.namespace, ri.name, replace, strategy=strategy,
                                          dry_run=dry_run(request))
        return respond(new, out, 201 if created else 200, self.server.warning_headers(request))

    async def delete(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        opts = await self.delete_options(request)
        await self.server.admit_delete(store.info, ri.namespace, ri.name)
        obj, deleted = await store.delete(ri.namespace, ri.name, opts)
        if deleted and not opts.dry_run:
            await self.server.admission.deleted(store.info, obj)
        return self._deleted(store, obj, deleted, out)

    def _deleted(self, store: Store, obj: Obj, deleted: bool, out: Output) -> Response:
        if not deleted or store.info.strategy.return_deleted_object:
            return respond(obj, out)
        details: Obj = {"name": obj["metadata"]["name"]}
        if store.info.group:
            details["group"] = store.info.group
        details["kind"] = store.info.plural
        details["uid"] = obj["metadata"].get("uid", "")
        return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": details}, out)

    async def delete_options(self, request: Request) -> DeleteOptions:
        q = request.query_params
        opts = DeleteOptions(dry_run=dry_run(request))
        raw = await read_body(request)
        if raw.strip():
            body = decode_body(raw, request.headers.get("content-type", ""), group="meta.k8s.io", version="v1",
                               kind="DeleteOptions", protobuf_ok=True)
            if not isinstance(body, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            if body.get("kind") not in (None, "", "DeleteOptions"):
                raise errors.bad_request(f"unexpected kind {body.get('kind')!r}, expected DeleteOptions")
            if body.get("gracePeriodSeconds") is not None:
                opts.grace_period_seconds = int(body["gracePeriodSeconds"])
            opts.propagation_policy = body.get("propagationPolicy")
            opts.orphan_dependents = body.get("orphanDependents")
            pre = body.get("preconditions") or {}
            opts.precondition_uid = pre.get("uid")
            opts.precondition_rv = pre.get("resourceVersion")
            if body.get("dryRun"):
                opts.dry_run = True
        grace = _int_param(request, "gracePeriodSeconds")
        if grace is not None:
            opts.grace_period_seconds = grace
        if "propagationPolicy" in q:
            opts.propagation_policy = q["propagationPolicy"]
        if "orphanDependents" in q:
            opts.orphan_dependents = q["orphanDependents"] in TRUE
        if opts.propagation_policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid_object("", "DeleteOptions", "", [
                errors.FieldError("FieldValueNotSupported", "propagationPolicy", opts.propagation_policy,
                                  valid_values=["Foreground", "Background", "Orphan", "nil"])])
        if opts.propagation_policy and opts.orphan_dependents is not None:
            raise errors.invalid_object("", "DeleteOptions", "", [
                errors.FieldError("FieldValueInvalid", "propagationPolicy", opts.propagation_policy,
                                  "orphanDependents and deletionPropagation cannot be both set")])
        return opts

    async def delete_collection(self, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
        opts = list_options(request, store.info)
        dopts = await self.delete_options(request)
        items, _ = await store.list(ri.namespace, ListOptions(opts.label_selector, opts.field_selector))
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            try:
                result, gone = await store.delete(meta.get("namespace", ""), meta["name"], dopts)
                if gone and not dopts.dry_run:
                    await self.server.admission.deleted(store.info, result)
            except errors.StatusError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(result)
        return respond({"kind": store.info.list_kind, "apiVersion": store.info.api_version,
                        "metadata": {}, "items": deleted}, out)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

"""The API server: Config, the APIServer (stores, watch cache, admission hooks) and its Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from . import discovery, errors, fieldmanager, openapi, routes, tables
from .admission import Admission
from .crd import CRDManager, CustomResourceStrategy
from .handlers import Handlers
from .kinds import Registry, ResourceInfo, builtin
from .metrics import Metrics, MetricsMiddleware, TimedBackend
from .negotiation import Output, parse_accept
from .patch import patch_handler
from .pki import ensure_ca
from .proxy import proxy
from .registry import Store, decode, now_rfc3339
from .storage import Backend, StorageError, open_backend
from .storage.cache import WatchCache
from .strategy import STATUS_RESET_METADATA, StatusStrategy, Strategy
from .subresources import kubelet_websocket, subresource_handler
from .watch import is_watch, watch

log = logging.getLogger("kplane.apiserver")

Obj = dict[str, Any]


@dataclass
class Config:
    storage: str = "memory://"
    data_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/kplane")
    emulated_version: str = "1.37"
    bookmark_interval: float = 60.0
    compaction_interval: float = 300.0
    watch_cache_capacity: int = 20000
    service_cluster_ip_range: str = "10.96.0.0/12"
    external_address: str = "127.0.0.1"
    #: CA file verifying kubelets' serving certificates; empty: not verified (upstream's default)
    kubelet_certificate_authority: str = ""


SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class APIServer:
    def __init__(self, config: Config, *, backend: Backend | None = None, registry: Registry | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.backend: Backend = TimedBackend(backend or open_backend(config.storage, data_dir=config.data_dir),
                                             self.metrics)
        self.registry = registry or builtin()
        self.cache = WatchCache(self.backend, lambda _key, value, rev: decode(value, rev),
                                capacity=config.watch_cache_capacity)
        self.admission = Admission(self)
        self.crds = CRDManager(self)
        self.handlers = Handlers(self)
        self.shutting_down = asyncio.Event()
        self._stores: dict[tuple[str, str, str], Store] = {}
        self._status_strategies: dict[int, Strategy] = {}
        self._field_schemas: dict[tuple[str, str, str, str], fieldmanager.Schema] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_ca(self.config.data_dir)
        await self.backend.start()
        await self.cache.start()
        await self._bootstrap()
        await self.crds.start()
        self._tasks.append(asyncio.create_task(self._compactor(), name="compactor"))
        self.ready = True

    async def stop(self) -> None:
        self.shutting_down.set()
        self.ready = False
        await self.crds.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        await self.cache.close()
        await self.backend.close()

    async def _bootstrap(self) -> None:
        ns = self.store(self.registry.get("", "v1", "namespaces"))
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.StatusError):
                await ns.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        await self._bootstrap_kubernetes_service()

    async def _bootstrap_kubernetes_service(self) -> None:
        """The `kubernetes` Service in `default` holds the first ClusterIP, as upstream."""
        info = self.registry.get("", "v1", "services")
        if info is None or await self.backend.get(info.key("default", "kubernetes")) is not None:
            return
        svc: Obj = {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "namespace": "default",
                                 "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"type": "ClusterIP", "clusterIP": self.admission.services.first_ip,
                             "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}
        with contextlib.suppress(errors.StatusError):
            await self.admission.services.allocate(svc)
            await self.store(info).create("default", svc)

    async def _compactor(self) -> None:
        """Like kube-apiserver: every interval, compact to the revision seen one interval ago."""
        previous = 0
        while True:
            await asyncio.sleep(self.config.compaction_interval)
            try:
                if previous:
                    await self.backend.compact(previous)
                    await self.cache.compact(previous)
                previous = await self.backend.current_revision()
            except StorageError:
                log.exception("compaction failed")

    # --- lookups -----------------------------------------------------------------------------------

    def store(self, info: ResourceInfo | None) -> Store:
        assert info is not None
        key = (info.group, info.version, info.plural)
        store = self._stores.get(key)
        if store is None or store.info is not info:
            store = self._stores[key] = Store(info, self.backend, validator=self.admission.validate,
                                              cache=self.cache)
        return store

    def field_schema(self, info: ResourceInfo) -> fieldmanager.Schema:
        key = (info.group, info.version, info.kind, info.extra.get("openAPIV3Schema", ""))
        schema = self._field_schemas.get(key)
        if schema is None:
            raw = info.extra.get("openAPIV3Schema")
            if raw:
                schema = fieldmanager.Schema.from_openapi(orjson.loads(raw), group=info.group,
                                                          version=info.version, kind=info.kind)
            else:
                schema = fieldmanager.Schema.for_kind(info.group, info.version, info.kind,
                                                      self.config.emulated_version)
            self._field_schemas[key] = schema
        return schema

    def field_manager(self, request: Request) -> str:
        return fieldmanager.manager_from_user_agent(request.query_params.get("fieldManager"),
                                                    request.headers.get("user-agent"))

    def track_fields(self, request: Request, info: ResourceInfo, live: Obj | None, new: Obj,
                     subresource: str = "") -> None:
        """managedFields for a create/update/patch (operation Update), as upstream's field manager."""
        fieldmanager.update_managed_fields(
            live, new, manager=self.field_manager(request), api_version=info.api_version,
            subresource=subresource, time=now_rfc3339(), schema=self.field_schema(info),
            reset_fields=fieldmanager.default_reset_fields(subresource, has_status=info.strategy.has_status))

    def status_strategy(self, info: ResourceInfo) -> Strategy:
        s = self._status_strategies.get(id(info.strategy))
        if s is None:
            workload = info.group in ("apps", "batch")
            s = StatusStrategy(info.strategy, ("labels",) if workload else STATUS_RESET_METADATA)
            self._status_strategies[id(info.strategy)] = s
        return s

    def table(self, info: ResourceInfo, objs: list[Obj], out: Output, list_meta: Obj,
              *, columns: bool = True, single: bool = False) -> Obj:
        meta = {k: v for k, v in list_meta.items() if k in ("resourceVersion", "continue", "remainingItemCount")}
        if isinstance(info.strategy, CustomResourceStrategy):
            return self.crds.table(info, objs, now=dt.datetime.now(dt.UTC), include_object=out.include_object,
                                   list_meta=meta, columns=columns, single=single)
        return tables.table(info.group, info.kind, objs, now=dt.datetime.now(dt.UTC),
                            include_object=out.include_object, list_meta=meta, columns=columns, single=single,
                            version=out.table_version)

    # --- admission hooks -----------------------------------------------------------------------------

    async def admit_decoded(self, request: Request, info: ResourceInfo, obj: Obj, raw: bytes) -> None:
        warnings = self.admission.decode(request, info, obj, raw, creating=request.method == "POST")
        if warnings:
            request.state.warnings = getattr(request.state, "warnings", []) + warnings

    async def admit_create(self, info: ResourceInfo, namespace: str, obj: Obj, *, dry_run: bool) -> None:
        await self.admission.create(info, namespace, obj, dry_run=dry_run)

    async def admit_delete(self, info: ResourceInfo, namespace: str, name: str) -> None:
        await self.admission.delete(info, namespace, name)

    def warning_headers(self, request: Request) -> dict[str, str] | None:
        warnings: list[str] = getattr(request.state, "warnings", [])
        if not warnings:
            return None
        def quoted(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return {"Warning": ", ".join(f"299 - {quoted(w)}" for w in warnings)}

    # --- HTTP --------------------------------------------------------------------------------------

    async def resource(self, request: Request) -> Response:
        ri = routes.parse(request.url.path)
        if ri is None:
            raise errors.not_found_path()
        info = self.registry.get(ri.group, ri.version, ri.resource)
        if info is None or (ri.namespace and not info.namespaced):
            raise errors.not_found_path()
        deprecation = info.extra.get("deprecationWarning")
        if deprecation:
            request.state.warnings = [deprecation]
        response = await self._serve_resource(request, ri, info)
        if deprecation and "warning" not in response.headers:
            headers = self.warning_headers(request) or {}
            response.headers.update(headers)
        return response

    async def _serve_resource(self, request: Request, ri: routes.RequestInfo, info: ResourceInfo) -> Response:
        store = self.store(info)
        out = parse_accept(request.headers.get("accept", ""), request.query_params.get("includeObject"))
        method = request.method
        h = self.handlers
        if ri.subresource:
            return await subresource_handler(self, request, ri, store, out)
        verbs = info.verbs
        if not ri.name:
            if method == "GET":
                if is_watch(request, ri):
                    _need(verbs, "watch")
                    return await watch(self, request, ri, store, out)
                _need(verbs, "list")
                return await h.list(request, ri, store, out)
            if method == "POST":
                _need(verbs, "create")
                return await h.create(request, ri, store, out)
            if method == "DELETE":
                _need(verbs, "deletecollection")
                return await h.delete_collection(request, ri, store, out)
            raise errors.method_not_allowed(method)
        if method == "GET":
            if is_watch(request, ri):
                _need(verbs, "watch")
                return await watch(self, request, ri, store, out)
            _need(verbs, "get")
            return await h.get(request, ri, store, out)
        if method == "PUT":
            _need(verbs, "update")
            return await h.update(request, ri, store, out)
        if method == "PATCH":
            _need(verbs, "patch")
            return await patch_handler(self, request, ri, store, out)
        if method == "DELETE":
            _need(verbs, "delete")
            return await h.delete(request, ri, store, out)
        raise errors.method_not_allowed(method)


def _need(verbs: tuple[str, ...], verb: str) -> None:
    if verb not in verbs:
        raise errors.method_not_allowed()


def create_app(config: Config | None = None, *, server: APIServer | None = None) -> Starlette:
    server = server or APIServer(config or Config())

    def json_response(obj: Any, status: int = 200, media: str = "application/json",
                      headers: dict[str, str] | None = None) -> Response:
        return Response(orjson.dumps(obj), status, media_type=media, headers=headers)

    async def version(request: Request) -> Response:
        return json_response(discovery.version_info(server.config.emulated_version))

    async def health(request: Request) -> Response:
        name = request.url.path.strip("/")
        checks = ["ping", "log", "etcd", "poststarthook/start-apiserver"]
        if name == "readyz":
            checks.append("informer-sync")
        ok = server.ready and not server.shutting_down.is_set()
        if "verbose" in request.query_params:
            lines = [f"[{'+' if ok else '-'}]{c} {'ok' if ok else 'failed'}" for c in checks]
            lines.append(f"{name} check {'passed' if ok else 'failed'}")
            return PlainTextResponse("\n".join(lines) + "\n", 200 if ok else 500)
        return PlainTextResponse("ok" if ok else f"{name} check failed", 200 if ok else 500)

    def aggregated(request: Request, legacy: bool) -> Response | None:
        accept = request.headers.get("accept", "")
        for entry in accept.split(","):
            params = dict(p.strip().split("=", 1) for p in entry.split(";")[1:] if "=" in p)
            if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
                v = params.get("v", "")
                if v in ("v2", "v2beta1"):
                    body = orjson.dumps(discovery.aggregated_discovery(server.registry, legacy=legacy, version=v))
                    tag = discovery.etag(body)
                    media = f"application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                    headers = {"ETag": tag, "Vary": "Accept"}
                    if request.headers.get("if-none-match") == tag:
                        return Response(status_code=304, headers=headers)
                    return Response(body, 200, media_type=media, headers=headers)
        return None

    async def api_root(request: Request) -> Response:
        return aggregated(request, True) or json_response(
            discovery.api_versions(f"{server.config.external_address}"))

    async def apis_root(request: Request) -> Response:
        return aggregated(request, False) or json_response(discovery.api_group_list(server.registry))

    async def group_or_resources(request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p]
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list(server.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(server.registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(server.registry, parts[1], parts[2])
        else:
            doc = None
        if doc is None:
            if request.method != "GET":
                return await server.resource(request)
            raise errors.not_found_path()
        return json_response(doc)

    async def openapi_v3(request: Request) -> Response:
        path = request.url.path[len("/openapi/v3"):].strip("/")
        if not path:
            return json_response(openapi.openapi_v3_index(server.registry))
        body = openapi.openapi_v3_bytes(server.registry, path)
        if body is None:
            raise errors.not_found_path()
        headers = {"Cache-Control": "public, immutable" if "hash" in request.query_params else "no-cache, private",
                   "Etag": '"' + openapi.doc_hash(body) + '"'}
        return Response(body, 200, media_type="application/json", headers=headers)

    async def openapi_v2(request: Request) -> Response:
        accept = request.headers.get("accept", "")
        if "protobuf" in accept and "json" not in accept and "*/*" not in accept:
            raise errors.not_acceptable(["application/json"])
        return Response(openapi.openapi_v2_bytes(server.registry), 200, media_type="application/json")

    async def resource(request: Request) -> Response:
        return await server.resource(request)

    async def metrics(request: Request) -> Response:
        body, media = server.metrics.render()
        return Response(body, 200, media_type=media)

    async def proxy_route(request: Request) -> Response:
        return await proxy(server, request)

    async def pod_stream(websocket: WebSocket) -> None:
        await kubelet_websocket(server, websocket)

    async def status_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.StatusError)
        headers = None
        if exc.code == 504 or exc.code == 429:
            headers = {"Retry-After": "1"}
        return Response(orjson.dumps(exc.status()), exc.code, media_type="application/json", headers=headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("internal error serving %s %s", request.method, request.url.path)
        err = errors.internal(f"{type(exc).__name__}: {exc}")
        return Response(orjson.dumps(err.status()), 500, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/version", version),
            Route("/version/", version),
            Route("/healthz", health),
            Route("/livez", health),
            Route("/readyz", health),
            Route("/metrics", metrics),
            Route("/api", api_root),
            Route("/apis", apis_root),
            Route("/api/{version}", group_or_resources, methods=all_methods),
            Route("/apis/{group}", group_or_resources, methods=all_methods),
            Route("/apis/{group}/{version}", group_or_resources, methods=all_methods),
            Route("/openapi/v2", openapi_v2),
            Route("/openapi/v3", openapi_v3),
            Route("/openapi/v3/{path:path}", openapi_v3),
            # nodes/proxy, pods/proxy, services/proxy with a path after "proxy" (see proxy.py)
            Route("/api/v1/nodes/{name}/proxy/{path:path}", proxy_route, methods=all_methods),
            Route("/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path:path}", proxy_route, methods=all_methods),
            Route("/api/v1/namespaces/{namespace}/services/{name}/proxy/{path:path}", proxy_route,
                  methods=all_methods),
            Route("/{path:path}", resource, methods=all_methods),
            WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/{subresource}", pod_stream),
        ],
        exception_handlers={errors.StatusError: status_error, Exception: unexpected},
        lifespan=lifespan,
    )
    app.state.server = server
    app.add_middleware(MetricsMiddleware, metrics=server.metrics)
    return app

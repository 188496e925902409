"""Subresources: status, scale, binding, finalize, eviction; pods/log, exec, attach and portforward are
proxied to the kubelet of the pod's node over HTTPS (wss); nodes, pods and services proxy: see proxy.py."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket

from schemas.crd import nested_field

from . import errors
from .crd import CustomResourceStrategy
from .handlers import dry_run, respond
from .negotiation import Output
from .patch import patch_handler
from .proxy import kubelet_port, kubelet_tls, node_address, proxy
from .registry import DeleteOptions, Store
from .routes import RequestInfo, parse
from .strategy import Strategy

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

KUBELET_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward"})


async def subresource_handler(server: APIServer, request: Request, ri: RequestInfo, store: Store,
                              out: Output) -> Response:
    info = store.info
    sub = info.subresource(ri.subresource)
    if sub is None or not ri.name:
        raise errors.not_found_path()
    method = request.method
    verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create", "DELETE": "delete"}.get(method, "")
    if ri.subresource == "log" and info.plural == "pods" and not info.group and method == "GET":
        return await _proxy_log(server, request, ri, store)
    if ri.subresource in ("exec", "attach", "portforward") and info.plural == "pods" and not info.group:
        await _kubelet_location(server, ri, request.query_params.get("container", ""))  # upstream's errors first
        raise errors.bad_request("Upgrade request required")  # only WebSocket upgrades are served (no SPDY)
    if ri.subresource == "proxy" and not info.group and info.plural in ("nodes", "pods", "services"):
        return await proxy(server, request)
    if ri.subresource in KUBELET_SUBRESOURCES:
        await store.get(ri.namespace, ri.name)
        raise errors.service_unavailable(f"{ri.subresource} is not available: no kubelet serves this node yet")
    if verb not in sub.verbs:
        raise errors.method_not_allowed(method)
    if ri.subresource == "status":
        return await _status(server, request, ri, store, out)
    if ri.subresource == "scale":
        return await _scale(server, request, ri, store, out)
    if ri.subresource == "binding":
        return await _binding(server, request, ri, store, out)
    if ri.subresource == "finalize":
        return await _finalize(server, request, ri, store, out)
    if ri.subresource == "eviction":
        return await _eviction(server, request, ri, store, out)
    if ri.subresource == "token":
        # as an upstream API server without a service-account issuer: the endpoint is not installed
        raise errors.not_found_path()
    raise errors.StatusError(501, "NotImplemented", f"{info.plural}/{ri.subresource} is not implemented yet")


async def _status(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    strategy = server.status_strategy(store.info)
    if request.method == "GET":
        return respond(await store.get(ri.namespace, ri.name), out)
    if request.method == "PATCH":
        return await patch_handler(server, request, ri, store, out, strategy=strategy, subresource="status")
    obj = await server.handlers.body_object(request, store.info)
    if obj["metadata"].get("name") != ri.name:
        raise errors.bad_request(f"the name of the object ({obj['metadata'].get('name')}) does not match the name "
                                 f"on the URL ({ri.name})")

    async def replace(current: Obj) -> Obj:
        new = dict(obj)
        new["metadata"] = dict(obj["metadata"])
        server.track_fields(request, store.info, current, new, "status")
        return new

    new, _ = await store.update(ri.namespace, ri.name, replace, strategy=strategy, dry_run=dry_run(request))
    return respond(new, out)


# --- scale -------------------------------------------------------------------------------------------

def _scale_paths(store: Store) -> tuple[str, str, str] | None:
    """(specReplicasPath, statusReplicasPath, labelSelectorPath) of a custom resource's scale."""
    strategy = store.info.strategy
    if isinstance(strategy, CustomResourceStrategy) and strategy.scale is not None:
        sc = strategy.scale
        return sc.get("specReplicasPath", ".spec.replicas"), sc.get("statusReplicasPath", ".status.replicas"), \
            sc.get("labelSelectorPath", "")
    return None


def _path_value(obj: Obj, path: str) -> Any:
    value, found, _ = nested_field(obj, path)
    return value if found else None


def _custom_scale(obj: Obj, paths: tuple[str, str, str], api_version: str) -> Obj:
    meta = obj["metadata"]
    status: Obj = {"replicas": _path_value(obj, paths[1]) or 0}
    selector = _path_value(obj, paths[2]) if paths[2] else None
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": _path_value(obj, paths[0]) or 0}, "status": status}


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = [p for p in path.lstrip(".").split(".") if p]
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value


def _to_scale(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector") or {}
    if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
        from schemas import selectors

        parsed = selectors.selector_from_object(selector) or ()
        sel_text = selectors.selector_to_string(parsed)
    elif isinstance(selector, dict):  # ReplicationController: a plain map
        sel_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    else:
        sel_text = ""
    scale_status: Obj = {"replicas": status.get("replicas", 0)}
    if sel_text:
        scale_status["selector"] = sel_text
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 1 if "replicas" not in spec else spec["replicas"])},
        "status": scale_status,
    }


class _ScaleStrategy(Strategy):
    """Only spec.replicas changes through /scale."""

    def __init__(self, parent: Strategy) -> None:
        self.parent = parent

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        self.parent.prepare_for_update(new, old)

    def validate_update(self, new: Obj, old: Obj) -> list[Any]:
        return self.parent.validate_update(new, old)


async def _scale(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    paths = _scale_paths(store)

    def to_scale(obj: Obj) -> Obj:
        return _custom_scale(obj, paths, store.info.api_version) if paths else _to_scale(obj)

    if request.method == "GET":
        return respond(to_scale(await store.get(ri.namespace, ri.name)), out)
    if request.method == "PATCH":
        import orjson

        from .negotiation import read_body
        from .patch import JSONPatchError, json_patch, merge_patch

        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip()
        raw = await read_body(request)
        try:
            patch = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise errors.bad_request(f"error decoding patch: {e}") from None

        def new_scale(current: Obj) -> Obj:
            scale = to_scale(current)
            try:
                if ctype == "application/json-patch+json":
                    return json_patch(scale, patch)  # type: ignore[no-any-return]
                return merge_patch(scale, patch)  # type: ignore[no-any-return]
            except JSONPatchError as e:
                raise errors.StatusError(422, "Invalid", str(e)) from None
    else:
        body = await server.handlers.body_object(request, store.info, kind="Scale", api_version="autoscaling/v1")

        def new_scale(current: Obj) -> Obj:
            return body

    async def transform(current: Obj) -> Obj:
        scale = new_scale(current)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid_object("autoscaling", "Scale", ri.name, [
                errors.FieldError("FieldValueInvalid", "spec.replicas", replicas,
                                  "must be greater than or equal to 0")])
        if paths:
            _set_path(current, paths[0], replicas)
        else:
            current.setdefault("spec", {})["replicas"] = replicas
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and request.method != "PATCH":
            current["metadata"]["resourceVersion"] = rv
        else:
            current["metadata"].pop("resourceVersion", None)
        return current

    obj, _ = await store.update(ri.namespace, ri.name, transform, dry_run=dry_run(request))
    return respond(to_scale(obj), out)


# --- pods/binding, pods/eviction, namespaces/finalize ----------------------------------------------------

async def _binding(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    binding = await server.handlers.body_object(request, store.info, kind="Binding", api_version="v1")
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.invalid_object("", "Binding", ri.name, [errors.FieldError(
            "FieldValueRequired", "target.name", detail="")])

    async def bind(current: Obj) -> Obj:
        spec = current.setdefault("spec", {})
        if current["metadata"].get("deletionTimestamp"):
            raise errors.conflict("", "pods/binding", ri.name, "pod is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise errors.conflict("", "pods/binding", ri.name,
                                  f"pod {ri.name} is already assigned to node \"{spec['nodeName']}\"")
        spec["nodeName"] = node
        status = current.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        from .registry import now_rfc3339

        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conditions
        current["metadata"].pop("resourceVersion", None)
        return current

    await store.update(ri.namespace, ri.name, bind, strategy=_BindStrategy(), dry_run=dry_run(request))
    return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, out, 201)


class _BindStrategy(Strategy):
    """Binding writes spec.nodeName and the PodScheduled condition, bypassing spec immutability."""

    kind_rules = False


async def _finalize(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    body = await server.handlers.body_object(request, store.info)
    finalizers = (body.get("spec") or {}).get("finalizers") or []

    async def transform(current: Obj) -> Obj:
        current.setdefault("spec", {})["finalizers"] = finalizers
        rv = body["metadata"].get("resourceVersion")
        if rv:
            current["metadata"]["resourceVersion"] = rv
        else:
            current["metadata"].pop("resourceVersion", None)
        return current

    obj, _ = await store.update(ri.namespace, ri.name, transform, strategy=_FinalizeStrategy(),
                                dry_run=dry_run(request))
    return respond(obj, out)


class _FinalizeStrategy(Strategy):
    """namespaces/finalize changes spec.finalizers only."""

    def deletion_pending(self, obj: Obj) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))


async def _eviction(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    body = await server.handlers.body_object(request, store.info, kind="Eviction", api_version="policy/v1")
    opts = DeleteOptions(dry_run=dry_run(request))
    delete_options = body.get("deleteOptions") or {}
    if delete_options.get("gracePeriodSeconds") is not None:
        opts.grace_period_seconds = int(delete_options["gracePeriodSeconds"])
    await store.delete(ri.namespace, ri.name, opts)
    return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, out, 201)


# --- kubelet proxy: pods/log (HTTPS), pods/exec|attach|portforward (wss) ----------------------------------

#: kubectl port-forward's subprotocol (SPDY tunnelled in the websocket) is not an HTTP token; towards the
#: kubelet it travels under a token-safe alias
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
SPDY_TUNNEL_ALIAS = "spdy-tunnel.portforward.kplane.dev"
LOG_PARAMS = ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")


def _container(pod: Obj, requested: str) -> str:
    """The container a log/exec/attach request means, with upstream's errors."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    if not requested:
        if len(containers) == 1:
            return str(containers[0])
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init:
            msg += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.bad_request(msg)
    if requested not in containers + init + ephemeral:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


async def _kubelet_location(server: APIServer, ri: RequestInfo, container: str) -> tuple[str, str]:
    """(host:port of the pod's kubelet, container) from the Node's InternalIP and kubelet endpoint."""
    pod = await server.store(server.registry.get("", "v1", "pods")).get(ri.namespace, ri.name)
    name = _container(pod, container) if ri.subresource != "portforward" else ""
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        if ri.subresource == "log":  # upstream streams nothing; tests/api pins 503 here for now
            raise errors.service_unavailable(f"pod {ri.name} does not have a host assigned")
        raise errors.bad_request(f"pod {ri.name} does not have a host assigned")
    node = await server.store(server.registry.get("", "v1", "nodes")).get("", node_name)
    host = node_address(node)
    return (f"[{host}]" if ":" in host else host) + f":{kubelet_port(node)}", name


def _kubelet_error(code: int, text: str) -> errors.StatusError:
    reason = {400: "BadRequest", 404: "NotFound", 403: "Forbidden"}.get(code, "InternalError")
    return errors.StatusError(code if code in (400, 403, 404) else 500, reason, text.strip() or f"kubelet: {code}")


async def _proxy_log(server: APIServer, request: Request, ri: RequestInfo, store: Store) -> Response:
    target, container = await _kubelet_location(server, ri, request.query_params.get("container", ""))
    params = {k: v for k, v in request.query_params.items() if k in LOG_PARAMS}
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0), verify=kubelet_tls(server))
    url = f"https://{target}/containerLogs/{ri.namespace}/{ri.name}/{container}"
    try:
        resp = await client.send(client.build_request("GET", url, params=params), stream=True)
    except httpx.HTTPError as e:
        await client.aclose()
        raise errors.internal(f'Get "{url}": {e}') from None
    if resp.status_code != 200:
        text = (await resp.aread()).decode(errors="replace")
        await resp.aclose()
        await client.aclose()
        raise _kubelet_error(resp.status_code, text)

    async def body() -> Any:
        try:
            async for chunk in resp.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            pass
        finally:
            await resp.aclose()
            await client.aclose()

    return StreamingResponse(body(), media_type="text/plain")


async def kubelet_websocket(server: APIServer, ws: WebSocket) -> None:
    """pods/exec, attach, portforward over WebSocket: the same upgrade is made to the kubelet with the
    client's subprotocols, then frames are relayed both ways unchanged."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    async def deny(err: errors.StatusError) -> None:
        try:
            await ws.send_denial_response(Response(orjson.dumps(err.status()), err.code,
                                                   media_type="application/json"))
        except RuntimeError:
            await ws.close(1011, err.message[:120])

    ri = parse(ws.url.path)
    if ri is None or ri.group or ri.resource != "pods" or ri.subresource not in ("exec", "attach", "portforward"):
        await deny(errors.not_found_path())
        return
    try:
        target, container = await _kubelet_location(server, ri, ws.query_params.get("container", ""))
    except errors.StatusError as e:
        await deny(e)
        return
    path = (f"/portForward/{ri.namespace}/{ri.name}" if ri.subresource == "portforward"
            else f"/{ri.subresource}/{ri.namespace}/{ri.name}/{container}")
    query = ws.url.query
    offered = [SPDY_TUNNEL_ALIAS if p == SPDY_TUNNEL else p for p in ws.scope.get("subprotocols") or []]
    try:
        upstream = await connect(f"wss://{target}{path}" + (f"?{query}" if query else ""),
                                 ssl=kubelet_tls(server), subprotocols=offered or None,  # type: ignore[arg-type]
                                 max_size=None, ping_interval=None, open_timeout=10)
    except InvalidStatus as e:
        body = e.response.body or b""
        try:
            status = orjson.loads(body)
            await deny(errors.StatusError(e.response.status_code, status.get("reason", ""), status.get("message", "")))
        except ValueError:
            await deny(_kubelet_error(e.response.status_code, body.decode(errors="replace")))
        return
    except (OSError, TimeoutError, WebSocketException) as e:
        await deny(errors.internal(f"error dialing the kubelet at {target}: {e}"))
        return
    await ws.accept(subprotocol=SPDY_TUNNEL if upstream.subprotocol == SPDY_TUNNEL_ALIAS else upstream.subprotocol)

    async def down() -> None:
        async for msg in upstream:
            if isinstance(msg, bytes):
                await ws.send_bytes(msg)
            else:
                await ws.send_text(msg)

    async def up() -> None:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("bytes") is not None:
                await upstream.send(msg["bytes"])
            elif msg.get("text") is not None:
                await upstream.send(msg["text"])

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await upstream.close()
        with contextlib.suppress(Exception):
            await ws.close()

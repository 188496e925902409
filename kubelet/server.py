"""The kubelet's own API on 127.0.0.1 (upstream's kubelet server paths), proxied by the API server:

- ``GET /containerLogs/{namespace}/{pod}/{container}``: follow, previous, tailLines, sinceSeconds,
  sinceTime, timestamps, limitBytes; errors are plain text with upstream's wording and status;
- ``/exec/{namespace}/{pod}/{container}`` and ``/attach/...`` (also with ``{uid}`` before the container):
  WebSocket, subprotocol ``v5.channel.k8s.io`` or ``v4.channel.k8s.io``; each binary frame starts with its
  channel: 0 stdin, 1 stdout, 2 stderr, 3 error (the final metav1.Status as JSON), 4 resize
  (``{"Width":..,"Height":..}``); v5 adds 255 = close (``[255, 0]`` closes stdin);
- ``/portForward/{namespace}/{pod}``: WebSocket; ``spdy-tunnel.portforward.kplane.dev`` (kubectl's
  ``SPDY/3.1+portforward.k8s.io`` as the API server relays it, see spdy.py), or ``v4.channel.k8s.io`` with ``?port=P``: per port a data channel 2i and an error channel
  2i+1, each opened by a frame carrying the port (uint16, little endian);
- ``GET /healthz``, ``GET /pods`` (the PodList this kubelet runs), ``GET /metrics`` (Prometheus),
  ``GET /configz`` (``{"kubeletconfig": {...}}``), ``GET /stats/summary`` (node and pod stats, what is known).

Served over HTTPS (see tls.py); the API server reaches it for the above and for ``nodes/proxy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import spdy, stats
from .logs import LogOptions, parse_time
from .network import dial
from .runtime import ExecError, ExecProcess

if TYPE_CHECKING:
    from .agent import Kubelet
    from .node import NodeConfig
    from .podworker import PodWorker

Obj = dict[str, Any]

STREAM_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORTFORWARD_PROTOCOLS = (spdy.PROTOCOL_ALIAS, "v4.channel.k8s.io", "portforward.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def status_json(code: int | None, message: str = "", reason: str = "") -> bytes:
    """The exec error channel's Status: success, a non-zero exit code, or an error."""
    if code == 0:
        return orjson.dumps({"metadata": {}, "status": "Success"})
    if code is not None:
        return orjson.dumps({"metadata": {}, "status": "Failure",
                             "message": f"command terminated with non-zero exit code: exit status {code}",
                             "reason": "NonZeroExitCode",
                             "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})
    return orjson.dumps({"metadata": {}, "status": "Failure", "message": message, "reason": reason or "InternalError",
                         "code": 500})


def kubelet_config(cfg: NodeConfig, *, tls_cert_file: str, tls_private_key_file: str) -> Obj:
    """The KubeletConfiguration /configz reports (upstream's field names and defaults where they apply)."""
    from .node import RENEW_INTERVAL, STATUS_INTERVAL, STATUS_REPORT_INTERVAL

    def dur(seconds: float) -> str:
        m, sec = divmod(int(seconds), 60)
        return f"{m}m{sec}s" if m else f"{sec}s"

    return {
        "enableServer": True, "address": cfg.address, "port": cfg.port, "readOnlyPort": 0,
        "tlsCertFile": tls_cert_file, "tlsPrivateKeyFile": tls_private_key_file,
        "authentication": {"x509": {}, "webhook": {"enabled": False, "cacheTTL": "2m0s"},
                           "anonymous": {"enabled": True}},
        "authorization": {"mode": "AlwaysAllow", "webhook": {"cacheAuthorizedTTL": "5m0s",
                                                             "cacheUnauthorizedTTL": "30s"}},
        "podCIDR": cfg.pod_cidr, "maxPods": cfg.pods, "syncFrequency": "1m0s",
        "nodeStatusUpdateFrequency": dur(STATUS_INTERVAL), "nodeStatusReportFrequency": dur(STATUS_REPORT_INTERVAL),
        "nodeLeaseDurationSeconds": 40, "cgroupDriver": "cgroupfs", "failSwapOn": True,
        "containerLogMaxSize": "10Mi", "containerLogMaxFiles": 5, "registerNode": True,
        "leaseRenewInterval": dur(RENEW_INTERVAL),
    }


def create_app(kubelet: Kubelet, settings: Obj | None = None) -> Starlette:
    def worker_or_error(namespace: str, name: str) -> PodWorker | Response:
        worker = kubelet.find(namespace, name)
        if worker is None:
            return PlainTextResponse(f'pod "{name}" in namespace "{namespace}" not found on this node', 404)
        return worker

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def pods(request: Request) -> Response:
        items = [w.pod for a in kubelet.agents for w in a.workers.values()]
        return Response(orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}),
                        media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def configz(request: Request) -> Response:
        return Response(orjson.dumps({"kubeletconfig": settings or {}}), media_type="application/json")

    async def summary(request: Request) -> Response:
        return Response(orjson.dumps(stats.summary(kubelet)), media_type="application/json")

    async def container_logs(request: Request) -> Response:
        p = request.path_params
        found = worker_or_error(p["namespace"], p["pod"])
        if isinstance(found, Response):
            return found
        q = request.query_params
        try:
            info = found.log_attempt(p["container"], _flag(q.get("previous")))
        except LookupError as e:
            return PlainTextResponse(str(e), 404)
        except ValueError as e:
            return PlainTextResponse(str(e), 400)
        since: float | None = None
        if _int(q.get("sinceSeconds")) is not None:
            since = time.time() - (_int(q.get("sinceSeconds")) or 0)
        elif q.get("sinceTime"):
            try:
                since = parse_time(q["sinceTime"])
            except ValueError:
                return PlainTextResponse(f"invalid sinceTime {q['sinceTime']!r}", 400)
        opts = LogOptions(follow=_flag(q.get("follow")), tail_lines=_int(q.get("tailLines")), since=since,
                          timestamps=_flag(q.get("timestamps")), limit_bytes=_int(q.get("limitBytes")))
        stream: AsyncIterator[bytes] = found.read_log(info, opts)
        return StreamingResponse(stream, media_type="text/plain")

    async def deny(ws: WebSocket, code: int, message: str) -> None:
        reason = {400: "BadRequest", 404: "NotFound"}.get(code, "InternalError")
        body = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": message, "reason": reason, "code": code})
        try:
            await ws.send_denial_response(Response(body, code, media_type="application/json"))
        except RuntimeError:
            await ws.close(1008, message[:120])

    async def stream_ws(ws: WebSocket) -> None:
        p = ws.path_params
        attach = ws.url.path.startswith("/attach/")
        worker = kubelet.find(p["namespace"], p["pod"])
        if worker is None:
            await deny(ws, 404, f'pod "{p["pod"]}" not found')
            return
        rec = worker.record(p["container"])
        if rec is None or rec.current is None or not rec.current.running:
            await deny(ws, 400 if rec is not None else 404, f'container not found ("{p["container"]}")')
            return
        offered = ws.scope.get("subprotocols") or []
        proto = next((x for x in offered if x in STREAM_PROTOCOLS), None)
        if proto is None:
            await deny(ws, 400, f"unsupported streaming protocol(s) {offered}; supported: {list(STREAM_PROTOCOLS)}")
            return
        q = ws.query_params
        tty, stdin = _flag(q.get("tty")), _flag(q.get("stdin"))
        stdout, stderr = _flag(q.get("stdout")) or not q.get("stdout"), _flag(q.get("stderr")) and not tty
        await ws.accept(subprotocol=proto)
        try:
            if attach:
                proc = await kubelet.runtime.attach(rec.current, stdin=stdin)
            else:
                proc = await kubelet.runtime.exec(rec.current, q.getlist("command"), tty=tty, stdin=stdin)
        except ExecError as e:
            kind = "attach to" if attach else "executing command in"
            await _send(ws, ERROR, status_json(None, f"Internal error occurred: error {kind} container: {e}"))
            await ws.close()
            return
        code = await pump(ws, proc, stdout=stdout, stderr=stderr, v5=proto.startswith("v5"))
        if code is not None:
            await _send(ws, ERROR, status_json(code))
            with contextlib.suppress(Exception):
                await ws.close()

    async def port_forward(ws: WebSocket) -> None:
        p = ws.path_params
        worker = kubelet.find(p["namespace"], p["pod"])
        if worker is None:
            await deny(ws, 404, f'pod "{p["pod"]}" not found')
            return
        ports = [x for x in (_int(v) for v in ws.query_params.getlist("port")) if x]
        offered = ws.scope.get("subprotocols") or []
        proto = next((x for x in PORTFORWARD_PROTOCOLS if x in offered), None)
        host = worker.pod_ip or worker.agent.cfg.address
        netns = worker.agent.network.pids.get(worker.uid)  # pod network: dial localhost inside the sandbox
        if proto == spdy.PROTOCOL_ALIAS:  # kubectl's SPDY streams tunnelled through the websocket
            await ws.accept(subprotocol=proto)

            async def receive() -> bytes | None:
                try:
                    msg = await ws.receive()
                except (WebSocketDisconnect, RuntimeError):
                    return None
                return None if msg["type"] == "websocket.disconnect" else (msg.get("bytes") or b"")

            await spdy.serve(receive, ws.send_bytes, host, netns)
            with contextlib.suppress(Exception):
                await ws.close()
            return
        if not ports:
            await deny(ws, 400, "query parameter \"port\" is required")
            return
        await ws.accept(subprotocol=proto)
        await forward(ws, host, ports, netns)

    async def upgrade_required(request: Request) -> Response:
        return PlainTextResponse("Upgrade request required", 400)

    stream_paths = ["/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}",
                    "/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"]
    pf_paths = ["/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"]
    routes: list[Any] = [Route("/healthz", healthz), Route("/pods", pods), Route("/pods/", pods),
                         Route("/metrics", metrics), Route("/configz", configz),
                         Route("/stats/summary", summary),
                         Route("/containerLogs/{namespace}/{pod}/{container}", container_logs)]
    routes += [WebSocketRoute(path, stream_ws) for path in stream_paths]
    routes += [WebSocketRoute(path, port_forward) for path in pf_paths]
    routes += [Route(path, upgrade_required, methods=["GET", "POST"]) for path in stream_paths + pf_paths]
    return Starlette(routes=routes)


async def _send(ws: WebSocket, channel: int, data: bytes) -> None:
    with contextlib.suppress(Exception):
        await ws.send_bytes(bytes([channel]) + data)


async def pump(ws: WebSocket, proc: ExecProcess, *, stdout: bool, stderr: bool, v5: bool) -> int | None:
    """Relay a command's streams over the websocket until it exits (its code) or the client leaves (None)."""
    async def out(read: Any, channel: int, send: bool) -> None:
        while chunk := await read():
            if send:
                await _send(ws, channel, chunk)

    async def inbound() -> None:
        while True:
            try:
                msg = await ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if msg["type"] == "websocket.disconnect":
                return
            data: bytes = msg.get("bytes") or (msg.get("text") or "").encode()
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN:
                await proc.write_stdin(payload)
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, TypeError):
                    size = json.loads(payload)
                    proc.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
            elif channel == CLOSE and v5 and payload[:1] == bytes([STDIN]):
                await proc.close_stdin()

    outs = [asyncio.create_task(out(proc.read_stdout, STDOUT, stdout)),
            asyncio.create_task(out(proc.read_stderr, STDERR, stderr))]
    reader = asyncio.create_task(inbound())
    waiter = asyncio.create_task(proc.wait())
    try:
        await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # the client went away
            proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, 5)
            return None
        await asyncio.wait(outs, timeout=2.0)
        return waiter.result()
    finally:
        for t in (*outs, reader, waiter):
            t.cancel()


async def forward(ws: WebSocket, host: str, ports: list[int], netns: int | None = None) -> None:
    """Port-forward: one TCP connection per requested port, bytes relayed both ways."""
    conns: dict[int, asyncio.StreamWriter] = {}
    readers: list[asyncio.Task[None]] = []

    async def from_pod(i: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(32768):
                await _send(ws, 2 * i, chunk)

    for i, port in enumerate(ports):
        await _send(ws, 2 * i, struct.pack("<H", port))
        await _send(ws, 2 * i + 1, struct.pack("<H", port))
        try:
            reader, writer = await asyncio.wait_for(dial(host, port, netns), 5)
        except (OSError, TimeoutError) as e:
            await _send(ws, 2 * i + 1, f"error forwarding port {port} to pod: {e}".encode())
            continue
        conns[i] = writer
        readers.append(asyncio.create_task(from_pod(i, reader)))
    try:
        while True:
            try:
                msg = await ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if msg["type"] == "websocket.disconnect":
                return
            data: bytes = msg.get("bytes") or b""
            if len(data) < 1 or data[0] % 2:
                continue
            writer_ = conns.get(data[0] // 2)
            if writer_ is not None:
                writer_.write(data[1:])
                with contextlib.suppress(ConnectionError):
                    await writer_.drain()
    finally:
        for t in readers:
            t.cancel()
        for w in conns.values():
            w.close()

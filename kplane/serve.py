"""Run the API server under uvicorn on a pre-bound socket and write its kubeconfig once it is ready."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from apiserver.app import APIServer, Config, create_app


def kubeconfig(server_url: str, *, name: str = "kplane") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server_url}}],
        "users": [{"name": f"{name}-admin", "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server_url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(kubeconfig(server_url), sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without it a keep-alive response waits ~40 ms for a delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class WebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, leaving Sec-WebSocket-Protocol to the app: the websockets
    library rejects offers that are not HTTP tokens, such as kubectl port-forward's
    ``SPDY/3.1+portforward.k8s.io``; uvicorn itself hands the offers to the app and answers with the one
    the app accepts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.process_subprotocol = lambda headers: None  # type: ignore[method-assign]


class _Server(uvicorn.Server):
    """Tells the API server it is shutting down before uvicorn waits for open connections,
    so watch streams end at once instead of holding shutdown."""

    api: APIServer

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.api.shutting_down.set()
        await super().shutdown(sockets)


async def serve(config: Config, *, host: str, port: int, kubeconfig_path: Path | None,
                ready: asyncio.Event | None = None, log_level: str = "warning",
                stop: asyncio.Event | None = None) -> None:
    """Serve until a signal (main thread) or until ``stop`` is set; shuts down gracefully."""
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{actual_port}"
    config.external_address = f"{host}:{actual_port}"
    api = APIServer(config)
    app = create_app(server=api)
    server = _Server(uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False,
                                    timeout_graceful_shutdown=5, ws=WebSocketsProtocol))
    server.api = api

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        if kubeconfig_path is not None:
            write_kubeconfig(kubeconfig_path, url)
        if ready is not None:
            ready.set()

    async def stopper() -> None:
        assert stop is not None
        await stop.wait()
        server.should_exit = True

    tasks = [asyncio.create_task(announce())]
    if stop is not None:
        tasks.append(asyncio.create_task(stopper()))
    try:
        await server.serve(sockets=[sock])
    finally:
        for t in tasks:
            t.cancel()
